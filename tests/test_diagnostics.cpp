// Training diagnostics: ForwardStatistics of a forward pass (unit saturation, attention entropy),
// gradient norms per parameter group and the DiagnosticsPoints train() records with them.
#include <attend/nn/seq2seq.hpp>
#include <attend/train/diagnostics.hpp>
#include <attend/train/parallel.hpp>
#include <attend/train/trainer.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace attend;

namespace {

ModelConfig luong_config(const attend::test::TinyTask& d, const std::string& cell = "gru") {
  ModelConfig c = d.config;
  c.cell = cell;
  c.attention = "luong-general";
  return c;
}

Batch first_batch(const attend::test::TinyTask& d, std::size_t n = 32) {
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = i;
  return make_batch(d.train, idx);
}

ForwardStatistics statistics_of(const Seq2Seq<float>& model, const Batch& batch) {
  Workspace<float> ws;
  ForwardStatistics s;
  TrainStepOptions o;
  o.statistics = &s;
  model.loss(batch, ws, o);
  return s;
}

Mat<float>& param(Seq2Seq<float>& m, const std::string& name) {
  const long id = m.params().find(name);
  REQUIRE(id >= 0);
  return m.params().value(std::size_t(id));
}

}  // namespace

TEST_CASE("h~ with huge W_c weights is saturated everywhere: share 1", "[diagnostics]") {
  const auto d = attend::test::tiny_reverse_task();
  Seq2Seq<float> model(luong_config(d), 3);
  param(model, "decoder.W_c.weight") *= 1e6f;
  const auto s = statistics_of(model, first_batch(d));
  REQUIRE(s.saturation.count("h~"));
  CHECK(s.saturation.at("h~").units > 0);
  CHECK(s.saturation.at("h~").value() == 1.0);
}

TEST_CASE("h~ with zero W_c weights is not saturated anywhere: share 0", "[diagnostics]") {
  const auto d = attend::test::tiny_reverse_task();
  Seq2Seq<float> model(luong_config(d), 3);
  param(model, "decoder.W_c.weight").zeros();
  const auto s = statistics_of(model, first_batch(d));
  CHECK(s.saturation.at("h~").units > 0);
  CHECK(s.saturation.at("h~").value() == 0.0);
}

TEST_CASE("h~ units are counted over real target positions only", "[diagnostics]") {
  const auto d = attend::test::tiny_reverse_task();
  Seq2Seq<float> model(luong_config(d), 3);
  const Batch b = first_batch(d);
  const auto s = statistics_of(model, b);
  CHECK(s.saturation.at("h~").units == b.real_target_tokens() * d.config.hidden);
  CHECK(s.attention_steps == b.real_target_tokens());
}

TEST_CASE("the linear luong output and the bahdanau style report no h~ group", "[diagnostics]") {
  const auto d = attend::test::tiny_reverse_task();
  ModelConfig linear = luong_config(d);
  linear.luong_output = LuongOutput::Linear;
  ModelConfig bahdanau = d.config;
  bahdanau.attention = "bahdanau";
  CHECK(statistics_of(Seq2Seq<float>(linear, 3), first_batch(d)).saturation.count("h~") == 0);
  CHECK(statistics_of(Seq2Seq<float>(bahdanau, 3), first_batch(d)).saturation.count("h~") == 0);
}

TEST_CASE("decoder gates driven by huge biases are all saturated, zero weights none", "[diagnostics]") {
  const auto d = attend::test::tiny_reverse_task();
  for (const std::string cell : {"gru", "lstm"}) {
    INFO(cell);
    Seq2Seq<float> model(luong_config(d, cell), 3);
    param(model, "decoder.rnn.bias_ih_l0").fill(100.0f);
    auto s = statistics_of(model, first_batch(d));
    CHECK(s.saturation.at("decoder gates").value() == 1.0);
    CHECK(s.saturation.at("decoder candidates").value() == 1.0);
    for (const char* n : {"decoder.rnn.bias_ih_l0", "decoder.rnn.bias_hh_l0", "decoder.rnn.weight_ih_l0",
                          "decoder.rnn.weight_hh_l0"})
      param(model, n).zeros();
    s = statistics_of(model, first_batch(d));
    CHECK(s.saturation.at("decoder gates").value() == 0.0);      // σ(0) = 0.5
    CHECK(s.saturation.at("decoder candidates").value() == 0.0); // tanh(0) = 0
    CHECK(s.saturation.count("encoder gates") == 1);
  }
}

TEST_CASE("uniform attention has entropy ln(S), equal to the uniform entropy", "[diagnostics]") {
  const auto d = attend::test::tiny_reverse_task();
  Seq2Seq<float> model(luong_config(d), 3);
  param(model, "decoder.attention.W_a.weight").zeros();  // every score 0: a_j = 1/S
  const Batch b = first_batch(d);
  const auto s = statistics_of(model, b);
  double expected = 0;
  for (std::size_t i = 0; i < b.size(); ++i) expected += b.tgt_len[i] * std::log(double(b.src_len[i]));
  expected /= double(b.real_target_tokens());
  REQUIRE(s.attention_steps > 0);
  CHECK(s.uniform_entropy_sum / s.attention_steps == Approx(expected).epsilon(1e-12));
  CHECK(s.entropy_sum / s.attention_steps == Approx(expected).epsilon(1e-5));
}

TEST_CASE("a model without attention reports no attention entropy", "[diagnostics]") {
  const auto d = attend::test::tiny_reverse_task();
  ModelConfig c = d.config;
  c.attention = "none";
  const auto s = statistics_of(Seq2Seq<float>(c, 3), first_batch(d));
  CHECK(s.attention_steps == 0);
  CHECK(make_diagnostics_point(1, s, {}).attention_entropy == -1);
}

TEST_CASE("parameters group by their names", "[diagnostics]") {
  CHECK(parameter_group("encoder.embedding.weight") == "embedding");
  CHECK(parameter_group("decoder.embedding.weight") == "embedding");
  CHECK(parameter_group("encoder.rnn.weight_ih_l0_reverse") == "encoder");
  CHECK(parameter_group("decoder.attention.W_a.weight") == "attention");
  CHECK(parameter_group("decoder.rnn.weight_hh_l0") == "decoder");
  CHECK(parameter_group("decoder.W_c.weight") == "decoder");
  CHECK(parameter_group("bridge.h.0.weight") == "decoder");
  CHECK(parameter_group("decoder.out.bias") == "output");
}

TEST_CASE("the group gradient norms add up in squares to the global norm", "[diagnostics]") {
  const auto d = attend::test::tiny_reverse_task();
  Seq2Seq<float> model(luong_config(d), 3);
  Workspace<float> ws;
  model.params().zero_grad();
  model.loss_and_grad(first_batch(d), ws);
  const auto norms = gradient_group_norms(model.params());
  CHECK(norms.size() == 5);
  double squares = 0;
  for (const auto& [group, n] : norms) {
    INFO(group);
    CHECK(n > 0);
    squares += n * n;
  }
  const double global = arma::norm(arma::conv_to<arma::vec>::from(model.params().grads()));
  CHECK(std::sqrt(squares) == Approx(global).epsilon(1e-10));
}

TEST_CASE("shards of a batch report the same statistics as the whole batch", "[diagnostics][threads]") {
  const auto d = attend::test::tiny_reverse_task();
  Seq2Seq<float> model(luong_config(d, "lstm"), 3);
  const Batch b = first_batch(d);
  const auto whole = statistics_of(model, b);
  for (std::size_t shards : {2, 3}) {
    INFO(shards << " shards");
    ParallelLoss<float> parallel(model, shards, 1);
    ForwardStatistics s;
    TrainStepOptions o;
    o.statistics = &s;
    parallel.loss(b, true, o);
    REQUIRE(s.saturation.size() == whole.saturation.size());
    for (const auto& [group, share] : whole.saturation) {
      INFO(group);
      CHECK(s.saturation.at(group).units == share.units);
      CHECK(std::abs(double(s.saturation.at(group).saturated) - double(share.saturated)) <= 2);
    }
    CHECK(s.attention_steps == whole.attention_steps);
    CHECK(s.entropy_sum == Approx(whole.entropy_sum).epsilon(1e-5));
    CHECK(s.uniform_entropy_sum == Approx(whole.uniform_entropy_sum).epsilon(1e-12));
  }
}

TEST_CASE("train records a diagnostics point every diagnostics_every steps, the same on 2 threads",
          "[diagnostics][threads]") {
  const auto d = attend::test::tiny_reverse_task();
  auto run = [&](std::size_t threads) {
    Seq2Seq<float> model(luong_config(d), 3);
    TrainOptions o;
    o.optimizer.lr = 0.002;
    o.batch = 32;
    o.steps = 10;
    o.diagnostics_every = 3;
    o.threads = threads;
    return train(model, d.train, {}, o).diagnostics;
  };
  const auto one = run(1), two = run(2);
  REQUIRE(one.size() == 3);
  CHECK(one[0].step == 3);
  CHECK(one[2].step == 9);
  REQUIRE(two.size() == one.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    INFO("point " << i);
    for (const char* g : {"h~", "decoder gates", "decoder candidates", "encoder gates", "encoder candidates"}) {
      INFO(g);
      REQUIRE(one[i].saturation.count(g));
      CHECK(two[i].saturation.at(g) == Approx(one[i].saturation.at(g)).margin(2e-3));
    }
    CHECK(one[i].attention_entropy > 0);
    CHECK(one[i].attention_entropy <= one[i].uniform_entropy + 1e-9);
    CHECK(two[i].attention_entropy == Approx(one[i].attention_entropy).epsilon(1e-4));
    for (const char* g : {"embedding", "encoder", "attention", "decoder", "output"}) {
      INFO(g);
      REQUIRE(one[i].grad_norm.count(g));
      CHECK(two[i].grad_norm.at(g) == Approx(one[i].grad_norm.at(g)).epsilon(1e-3));
    }
  }
}

TEST_CASE("attend train --diagnostics-every writes the points to the metrics JSON", "[diagnostics][cli]") {
  attend::test::TempDir dir;
  const auto r = attend::test::run_cli(
      dir, "train --task reverse --steps 6 --train-size 100 --test-size 10 --hidden 8 --emb 4 --quiet "
           "--attention luong-general --diagnostics-every 2 --model m.safetensors --metrics-json m.json");
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(attend::test::read_file(dir.file("m.json")));
  REQUIRE(j.contains("diagnostics"));
  const auto& g = j.at("diagnostics");
  CHECK(g.at("step") == nlohmann::json({2, 4, 6}));
  CHECK(g.at("saturation").at("h~").size() == 3);
  CHECK(g.at("grad_norm").at("attention").size() == 3);
  CHECK(g.at("attention_entropy").size() == 3);
  CHECK(j.at("train").at("diagnostics_every") == 2);
}
