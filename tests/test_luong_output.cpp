// --luong-output tanh | linear: a ModelConfig field (checkpoint key luong_output, default tanh as
// in Luong et al. 2015), refused for any other decoder style than luong. Its gradients are checked
// in test_gradients.cpp and its forward pass against PyTorch in test_pytorch_seq2seq.cpp.
#include <attend/core/error.hpp>
#include <attend/io/checkpoint.hpp>
#include <attend/nn/config.hpp>
#include <attend/nn/seq2seq.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace attend;
using attend::test::contains;

TEST_CASE("luong_output defaults to tanh and round-trips through the configuration map", "[luong-output]") {
  ModelConfig c;
  CHECK(c.luong_output == LuongOutput::Tanh);
  CHECK(c.to_map().at("luong_output") == "tanh");
  c.attention = "luong-general";
  c.luong_output = LuongOutput::Linear;
  const auto m = c.to_map();
  CHECK(m.at("luong_output") == "linear");
  CHECK(ModelConfig::from_map(m).luong_output == LuongOutput::Linear);
}

TEST_CASE("a configuration map without luong_output reads as tanh", "[luong-output]") {
  auto m = ModelConfig().to_map();
  m.erase("luong_output");
  CHECK(ModelConfig::from_map(m).luong_output == LuongOutput::Tanh);
}

TEST_CASE("a malformed luong_output value is refused naming key, value and the valid names", "[luong-output]") {
  auto m = ModelConfig().to_map();
  m["luong_output"] = "relu";
  CHECK_THROWS_WITH(ModelConfig::from_map(m), Catch::Contains("luong_output") && Catch::Contains("relu") &&
                                                  Catch::Contains("tanh") && Catch::Contains("linear"));
  CHECK_THROWS_AS(parse_luong_output("relu"), Error);
  CHECK(parse_luong_output("linear") == LuongOutput::Linear);
}

TEST_CASE("the linear output with a non-luong decoder style is refused naming both options", "[luong-output]") {
  ModelConfig c;
  c.luong_output = LuongOutput::Linear;
  for (const auto& [attention, style] : std::vector<std::pair<std::string, DecoderStyle>>{
           {"bahdanau", DecoderStyle::Auto}, {"luong-general", DecoderStyle::Bahdanau}, {"none", DecoderStyle::Auto}}) {
    INFO(attention);
    c.attention = attention;
    c.decoder = to_string(style);
    CHECK_THROWS_WITH(c.validate(), Catch::Contains("--luong-output") && Catch::Contains("--decoder luong"));
  }
  c.attention = "bahdanau";
  c.decoder = "luong";
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("a checkpoint stores the linear output and loads it back", "[luong-output][checkpoint]") {
  const auto d = attend::test::tiny_reverse_task();
  attend::test::TempDir dir;
  ModelBundle b;
  ModelConfig c = d.config;
  c.attention = "luong-dot";
  c.luong_output = LuongOutput::Linear;
  b.model = std::make_unique<Seq2Seq<float>>(c, 3);
  b.src_vocab = d.src_vocab;
  b.tgt_vocab = d.tgt_vocab;
  save_model(dir.file("m.safetensors"), b);
  const ModelBundle l = load_model(dir.file("m.safetensors"));
  CHECK(l.model->config().luong_output == LuongOutput::Linear);
  CHECK(arma::approx_equal(l.model->params().values(), b.model->params().values(), "absdiff", 0.0f));
}

TEST_CASE("the linear and tanh outputs give different losses on the same weights", "[luong-output]") {
  const auto d = attend::test::tiny_reverse_task();
  ModelConfig c = d.config;
  c.attention = "luong-general";
  Seq2Seq<float> tanh_model(c, 3);
  c.luong_output = LuongOutput::Linear;
  Seq2Seq<float> linear_model(c, 3);
  REQUIRE(arma::approx_equal(tanh_model.params().values(), linear_model.params().values(), "absdiff", 0.0f));
  const Batch b = make_batch(d.train, {0, 1, 2, 3});
  Workspace<float> ws;
  CHECK(tanh_model.loss(b, ws).mean() != linear_model.loss(b, ws).mean());
}

TEST_CASE("attend train accepts --luong-output linear and records it in the metrics", "[luong-output][cli]") {
  attend::test::TempDir dir;
  const auto r = attend::test::run_cli(dir, "train --task reverse --steps 2 --train-size 100 --test-size 10 --hidden 8 "
                                            "--emb 4 --quiet --attention luong-general --luong-output linear "
                                            "--model m.safetensors --metrics-json m.json");
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(attend::test::read_file(dir.file("m.json")));
  CHECK(j.at("config").at("luong_output") == "linear");
  CHECK(load_model(dir.file("m.safetensors")).model->config().luong_output == LuongOutput::Linear);
}

TEST_CASE("attend train refuses an unknown --luong-output and the linear output with bahdanau", "[luong-output][cli]") {
  attend::test::TempDir dir;
  auto r = attend::test::run_cli(dir, "train --task reverse --steps 1 --attention luong-general --luong-output relu");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--luong-output"));
  r = attend::test::run_cli(dir, "train --task reverse --steps 1 --attention bahdanau --luong-output linear");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "attend: error:"));
  CHECK(contains(r.err, "--luong-output"));
  CHECK(contains(r.err, "--decoder luong"));
}
