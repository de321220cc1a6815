// `attend serve` comparing models: several models in one server, a request for one or all of
// them, the encoder's self-attention in the answer, and the per-view summaries (entropy and
// diagonality) that tell attention heads apart.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>

#include "attend/serve/attention_summary.hpp"
#include "attend/serve/request.hpp"
#include "attend/serve/service.hpp"
#include "test_serve_support.hpp"

using namespace attend;
using attend::test::contains;
using attend::test::quote;
using attend::test::serve_models;
using attend::test::serve_transformer_model;
using nlohmann::json;

namespace {

ServedModel served(const std::string& name, const std::string& path) { return {name, path, Translator::load(path)}; }

// transformer (Transformer encoder and decoder), bahdanau (GRU + additive attention), in this order.
std::vector<ServedModel> transformer_and_rnn() {
  std::vector<ServedModel> m;
  m.push_back(served("transformer", serve_transformer_model()));
  m.push_back(served("bahdanau", serve_models().bahdanau));
  return m;
}

std::pair<int, std::string> refusal(const std::string& body) {
  try {
    parse_translate_request(body, {"bahdanau", "luong"}, ServeLimits{});
  } catch (const RequestError& e) {
    return {e.status(), e.what()};
  }
  return {0, ""};
}

void check_rows_sum_to_one(const json& rows, std::size_t columns) {
  for (const auto& row : rows) {
    REQUIRE(row.size() == columns);
    double sum = 0;
    for (const auto& w : row) sum += w.get<double>();
    CHECK(sum == Approx(1).margin(1e-4));
  }
}

}  // namespace

TEST_CASE("the head summary of a hand-built attention map: entropy and diagonality", "[serve][attention-summary]") {
  SECTION("a one-hot diagonal map: no entropy, all on the diagonal") {
    const AttentionSummary s = summarize_attention({{1, 0, 0}, {0, 1, 0}, {0, 0, 1}});
    CHECK(s.rows == 3);
    CHECK(s.columns == 3);
    CHECK(s.entropy == Approx(0).margin(1e-12));
    CHECK(s.uniform_entropy == Approx(std::log(3.0)));
    CHECK(s.diagonal_mass == Approx(1));
    CHECK(s.diagonal_argmax == Approx(1));
  }
  SECTION("uniform rows: the uniform entropy; the diagonal band of i*S/T") {
    // T = 2, S = 4: d_0 = 0 (keys 0, 1 within 1: mass 0.5), d_1 = 2 (keys 1, 2, 3: 0.75). The
    // argmax of a uniform row is its first key: 0, within 1 of d_0 but not of d_1.
    const AttentionSummary s = summarize_attention({{0.25f, 0.25f, 0.25f, 0.25f}, {0.25f, 0.25f, 0.25f, 0.25f}});
    CHECK(s.entropy == Approx(std::log(4.0)));
    CHECK(s.uniform_entropy == Approx(std::log(4.0)));
    CHECK(s.diagonal_mass == Approx((0.5 + 0.75) / 2));
    CHECK(s.diagonal_argmax == Approx(0.5));
  }
  SECTION("an anti-diagonal map of two-key rows") {
    // Rows of two keys at 0.5 each (entropy ln 2). d_i = i. Weight within 1 of d_i: row 0 (keys
    // 2, 3): 0; row 1 (keys 1, 2): 1; row 2 (keys 0, 1): 0.5; row 3 (keys 0, 3): 0.5.
    const std::vector<std::vector<float>> rows = {{0, 0, 0.5f, 0.5f}, {0, 0.5f, 0.5f, 0}, {0.5f, 0.5f, 0, 0},
                                                  {0.5f, 0, 0, 0.5f}};
    const AttentionSummary s = summarize_attention(rows);
    CHECK(s.entropy == Approx(std::log(2.0)));
    CHECK(s.diagonal_mass == Approx((0 + 1 + 0.5 + 0.5) / 4));
    // argmax (the first of equal weights): keys 2, 1, 0, 0 against d = 0, 1, 2, 3: row 1 only.
    CHECK(s.diagonal_argmax == Approx(0.25));
  }
  SECTION("no rows") {
    const AttentionSummary s = summarize_attention({});
    CHECK(s.rows == 0);
    CHECK(s.entropy == 0);
    CHECK(s.diagonal_mass == 0);
  }
}

TEST_CASE("the mean over the last layer's heads is taken from the views' names", "[serve][attention-summary]") {
  const std::vector<std::string> names = {"encoder layer 0 head 0", "encoder layer 0 head 1", "encoder layer 1 head 0",
                                          "encoder layer 1 head 1"};
  const std::vector<std::vector<std::vector<float>>> views = {
      {{1, 0}}, {{0, 1}}, {{0.2f, 0.8f}}, {{0.6f, 0.4f}}};
  const auto mean = mean_of_last_layer(names, views);
  REQUIRE(mean.size() == 1);
  CHECK(mean[0][0] == Approx(0.4));
  CHECK(mean[0][1] == Approx(0.6));
  CHECK(mean_of_last_layer({}, {}).empty());
}

TEST_CASE("a request names several models with \"models\" or all of them", "[serve]") {
  const std::vector<std::string> loaded = {"bahdanau", "luong"};
  const TranslateRequest two = parse_translate_request(R"({"text": ["a"], "models": ["luong", "bahdanau"]})", loaded, {});
  CHECK(two.models == std::vector<std::string>{"luong", "bahdanau"});
  const TranslateRequest all = parse_translate_request(R"({"text": ["a"], "models": "all"})", loaded, {});
  CHECK(all.models == loaded);
  CHECK(parse_translate_request(R"({"text": ["a"]})", loaded, {}).models.empty());

  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"text": ["a"], "models": ["luong", "x"]})", "unknown model \"x\" (loaded: bahdanau, luong)"},
      {R"({"text": ["a"], "models": []})", "\"models\" is empty"},
      {R"({"text": ["a"], "models": "luong"})", "a list of model names or \"all\""},
      {R"({"text": ["a"], "models": [1]})", "\"models\"[0] must be a string"},
      {R"({"text": ["a"], "models": ["luong", "luong"]})", "names \"luong\" twice"},
      {R"({"text": ["a"], "model": "luong", "models": "all"})", "not both"},
  };
  for (const auto& [body, expected] : cases) {
    const auto [status, message] = refusal(body);
    INFO(body << " -> " << message);
    CHECK(status == 400);
    CHECK(contains(message, expected));
  }
}

TEST_CASE("the answer carries the encoder's self-attention for a Transformer encoder and none for an RNN", "[serve][attention-views]") {
  TranslationService service(transformer_and_rnn(), ServiceOptions{});
  for (const int beam : {1, 3}) {
    const json answer = json::parse(service.handle_translate(
        "{\"text\": [\"abcde\", \"xy\"], \"attention\": true, \"beam\": " + std::to_string(beam) + "}"));
    for (const json& t : answer.at("translations")) {
      INFO(t.dump());
      const std::size_t S = t.at("source_tokens").size();
      const json& names = t.at("encoder_attention_view_names");
      REQUIRE(names == json({"encoder layer 0 head 0", "encoder layer 0 head 1"}));  // 1 layer x 2 heads
      const json& views = t.at("encoder_attention_views");
      for (const auto& name : names) {
        REQUIRE(views.at(name.get<std::string>()).size() == S);  // one row per source token (query)
        check_rows_sum_to_one(views.at(name.get<std::string>()), S);
      }
      // encoder_attention: the mean over the (only, so last) layer's heads.
      const json& mean = t.at("encoder_attention");
      REQUIRE(mean.size() == S);
      for (std::size_t i = 0; i < S; ++i)
        for (std::size_t j = 0; j < S; ++j)
          CHECK(mean[i][j].get<double>() ==
                Approx((views["encoder layer 0 head 0"][i][j].get<double>() +
                        views["encoder layer 0 head 1"][i][j].get<double>()) / 2).margin(1e-6));
      // One summary per view, the mean first, as summarize_attention gives for the rows answered.
      const json& summary = t.at("encoder_attention_summary");
      REQUIRE(summary.size() == 3);
      CHECK(summary[0].at("view") == "mean");
      CHECK(summary[1].at("view") == "encoder layer 0 head 0");
      for (const json& s : summary) {
        CHECK(s.at("uniform_entropy").get<double>() == Approx(std::log(double(S))));
        CHECK(s.at("entropy").get<double>() <= s.at("uniform_entropy").get<double>() + 1e-6);
        CHECK(s.at("entropy").get<double>() >= 0);
      }
      const json& cross = t.at("attention_summary");
      REQUIRE(cross.size() == 1 + t.at("attention_view_names").size());
      std::vector<std::vector<float>> rows = t.at("attention_views").at("layer 1 head 1");
      const AttentionSummary expected = summarize_attention(rows);
      CHECK(cross[4].at("view") == "layer 1 head 1");
      CHECK(cross[4].at("entropy").get<double>() == Approx(expected.entropy).margin(1e-6));
      CHECK(cross[4].at("diagonal_mass").get<double>() == Approx(expected.diagonal_mass).margin(1e-6));
      CHECK(cross[4].at("diagonal_argmax").get<double>() == Approx(expected.diagonal_argmax));
    }
  }
  const json rnn = json::parse(service.handle_translate(R"({"text": ["abcde"], "model": "bahdanau", "attention": true})"));
  const json& t = rnn.at("translations").at(0);
  CHECK_FALSE(t.contains("encoder_attention_views"));
  CHECK_FALSE(t.contains("encoder_attention"));
  CHECK_FALSE(t.contains("encoder_attention_summary"));
  REQUIRE(t.at("attention_summary").size() == 1);  // its one attention
  CHECK(t["attention_summary"][0].at("view") == "mean");
  const std::vector<std::vector<float>> rows = t.at("attention");
  CHECK(t["attention_summary"][0].at("entropy").get<double>() == Approx(summarize_attention(rows).entropy).margin(1e-6));
  // Without "attention", nothing of it.
  const json plain = json::parse(service.handle_translate(R"({"text": ["abcde"]})"));
  CHECK_FALSE(plain["translations"][0].contains("encoder_attention_views"));
  CHECK_FALSE(plain["translations"][0].contains("attention_summary"));
}

TEST_CASE("one service lists its models and answers a request naming the second one with its translation", "[serve]") {
  TranslationService service(transformer_and_rnn(), ServiceOptions{});
  const json models = json::parse(service.models_json()).at("models");
  REQUIRE(models.size() == 2);
  CHECK(models[0].at("name") == "transformer");
  CHECK(models[0].at("file") == "transformer.safetensors");
  CHECK(contains(models[0].at("summary").get<std::string>(), "transformer encoder (1 layer, 2 heads)"));
  CHECK(contains(models[0].at("summary").get<std::string>(), "transformer decoder (2 layers)"));
  CHECK(contains(models[0].at("summary").get<std::string>(), "multihead attention (2 heads)"));
  CHECK(models[1].at("name") == "bahdanau");
  CHECK(contains(models[1].at("summary").get<std::string>(), "gru encoder (1 layer, hidden 24)"));
  CHECK(contains(models[1].at("summary").get<std::string>(), "bahdanau attention"));

  const std::vector<std::string> lines = {"abcdef", "hello"};
  SearchOptions s;
  s.beam = 3;
  s.keep_attention = true;
  const auto rnn_expected = Translator::load(serve_models().bahdanau).translate(lines, s);
  const auto tf_expected = Translator::load(serve_transformer_model()).translate(lines, s);
  const json second = json::parse(service.handle_translate(
      R"({"text": ["abcdef", "hello"], "model": "bahdanau", "beam": 3, "attention": true})"));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CHECK(second["translations"][i].at("text") == rnn_expected[i].text);
    CHECK(second["translations"][i].at("score").get<double>() == Approx(rnn_expected[i].score).margin(1e-5));
  }

  // "models": "all": one result per model, in the command line's order, each that model's.
  const json all = json::parse(service.handle_translate(
      R"({"text": ["abcdef", "hello"], "models": "all", "beam": 3, "attention": true})"));
  REQUIRE(all.at("results").size() == 2);
  CHECK(all["results"][0].at("model") == "transformer");
  CHECK(all["results"][1].at("model") == "bahdanau");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CHECK(all["results"][0]["translations"][i].at("text") == tf_expected[i].text);
    CHECK(all["results"][1]["translations"][i].at("text") == rnn_expected[i].text);
  }
  CHECK(all["results"][0]["translations"][0].contains("encoder_attention_views"));
  CHECK_FALSE(all["results"][1]["translations"][0].contains("encoder_attention_views"));
  // The named order is kept.
  const json reversed = json::parse(service.handle_translate(R"({"text": ["abc"], "models": ["bahdanau", "transformer"]})"));
  CHECK(reversed["results"][0].at("model") == "bahdanau");
  CHECK(reversed["results"][1].at("model") == "transformer");

  try {
    service.handle_translate(R"({"text": ["abc"], "model": "luong"})");
    FAIL("an unknown model was answered");
  } catch (const RequestError& e) {
    CHECK(e.status() == 400);
    CHECK(contains(e.what(), "unknown model \"luong\" (loaded: transformer, bahdanau)"));
  }
}

TEST_CASE("attend serve with two --model lists both and answers each by name, an unknown one with 400", "[serve][http]") {
  attend::test::ServerProcess server("--model " + quote(serve_transformer_model()) + " --model " +
                                     quote(serve_models().bahdanau));
  httplib::Client c("127.0.0.1", server.port());
  const auto listed = c.Get("/v1/models");
  REQUIRE(listed);
  const json models = json::parse(listed->body).at("models");
  REQUIRE(models.size() == 2);
  CHECK(models[0].at("name") == "transformer");  // named after the file
  CHECK(models[1].at("name") == "bahdanau");
  CHECK(models[1].at("file") == "bahdanau.safetensors");

  const std::vector<std::string> lines = {"reverse", "abc"};
  const auto rnn_expected = Translator::load(serve_models().bahdanau).translate(lines, SearchOptions{});
  const auto tf_expected = Translator::load(serve_transformer_model()).translate(lines, SearchOptions{});
  const auto second = c.Post("/v1/translate", json({{"text", lines}, {"model", "bahdanau"}}).dump(), "application/json");
  REQUIRE(second);
  CHECK(second->status == 200);
  const json a = json::parse(second->body);
  CHECK(a["translations"][0].at("text") == rnn_expected[0].text);
  CHECK(a["translations"][1].at("text") == rnn_expected[1].text);
  // No model named: the first (existing clients see no change).
  const auto first = c.Post("/v1/translate", json({{"text", lines}}).dump(), "application/json");
  REQUIRE(first);
  CHECK(json::parse(first->body)["translations"][0].at("text") == tf_expected[0].text);

  const auto unknown = c.Post("/v1/translate", R"({"text": ["abc"], "model": "luong"})", "application/json");
  REQUIRE(unknown);
  CHECK(unknown->status == 400);
  CHECK(contains(json::parse(unknown->body).at("error").get<std::string>(), "unknown model \"luong\""));
  const auto unknown_in_list = c.Post("/v1/translate", R"({"text": ["abc"], "models": ["bahdanau", "x"]})", "application/json");
  REQUIRE(unknown_in_list);
  CHECK(unknown_in_list->status == 400);
  CHECK(server.terminate() == 0);

  attend::test::TempDir dir;
  const attend::test::CliRun bad = attend::test::run_cli(
      dir, "serve --model " + quote(serve_models().bahdanau) + " --model missing/second.safetensors --port 0");
  CHECK(bad.status == 2);
  CHECK(contains(bad.err, "missing/second.safetensors"));
}

TEST_CASE("models of different tasks in one service keep their own vocabularies and tokenizing", "[serve]") {
  attend::test::TempDir dir;
  const attend::test::CliRun r = attend::test::run_cli(
      dir, "train --task dates --train-size 200 --valid-size 10 --test-size 10 --steps 30 --batch 32 --emb 8 "
           "--hidden 16 --attention luong-dot --quiet --model dates.safetensors");
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::vector<ServedModel> m;
  m.push_back(served("reverse", serve_models().bahdanau));
  m.push_back(served("dates", dir.file("dates.safetensors")));
  const Translator reverse = Translator::load(serve_models().bahdanau), dates = Translator::load(dir.file("dates.safetensors"));
  REQUIRE(reverse.bundle().src_vocab.size() != dates.bundle().src_vocab.size());
  TranslationService service(std::move(m), ServiceOptions{});
  const json models = json::parse(service.models_json()).at("models");
  CHECK(models[0].at("src_vocab") == reverse.bundle().src_vocab.size());
  CHECK(models[1].at("src_vocab") == dates.bundle().src_vocab.size());
  CHECK(models[1].at("config").at("attention") == "luong-dot");

  const std::vector<std::string> lines = {"june 17, 2034", "3/4/1999"};
  SearchOptions s;
  s.keep_attention = true;
  const auto rev = reverse.translate(lines, s), dat = dates.translate(lines, s);
  const json all = json::parse(service.handle_translate(R"({"text": ["june 17, 2034", "3/4/1999"], "models": "all", "attention": true})"));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const json& a = all["results"][0]["translations"][i];
    const json& b = all["results"][1]["translations"][i];
    CHECK(a.at("text") == rev[i].text);
    CHECK(b.at("text") == dat[i].text);
    CHECK(a.at("source_tokens") == json(rev[i].source_tokens));
    CHECK(b.at("source_tokens") == json(dat[i].source_tokens));
    CHECK(b.at("attention").size() == dat[i].attention.size());
  }
}
