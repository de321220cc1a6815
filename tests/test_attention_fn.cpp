// The normalizers of attention weights (--attention-fn; attention_fn.hpp, docs/attention-fn.md):
// sparsemax and 1.5-entmax on hand-computed vectors, their exact zeros, their backward against
// finite differences and against a PyTorch implementation (tests/fixtures/attention_fn.json, from
// tests/fixtures/make_attention_fn_fixtures.py), whole models with every normalizing strategy and
// both recurrent decoder styles and the Transformer decoder's per-head cross-attention in double
// precision, the checkpoint key and the options refused.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "attend/core/error.hpp"
#include "attend/experiment/compare.hpp"
#include "attend/experiment/grid_axis.hpp"
#include "attend/io/checkpoint.hpp"
#include "attend/nn/attention.hpp"
#include "attend/nn/attention_fn.hpp"
#include "attend/nn/seq2seq.hpp"
#include "gradcheck.hpp"
#include "support.hpp"

using namespace attend;
using attend::test::mixed_batch;
using attend::test::model_gradient_error;
using attend::test::small_config;
using json = nlohmann::json;

namespace {

std::vector<double> weights_of(AttentionFn fn, std::vector<double> z) {
  std::vector<double> p(z.size());
  normalize(fn, z.data(), z.size(), p.data());
  return p;
}

void check_values(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
  REQUIRE(got.size() == want.size());
  for (std::size_t j = 0; j < got.size(); ++j) {
    INFO("position " << j << ": " << got[j] << " against " << want[j]);
    CHECK(std::abs(got[j] - want[j]) <= tol);
  }
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

TEST_CASE("sparsemax gives the closed form's values with exact zeros", "[attention-fn]") {
  const AttentionFn f = AttentionFn::Sparsemax;
  // sorted 1, 0.5, -1: k* = 2, τ = (1.5 − 1)/2 = 0.25
  check_values(weights_of(f, {1, 0.5, -1}), {0.75, 0.25, 0});
  check_values(weights_of(f, {-1, 1, 0.5}), {0, 0.75, 0.25});
  // ties: τ = (4 − 1)/2 = 1.5
  check_values(weights_of(f, {2, 0, 2}), {0.5, 0, 0.5});
  // all equal: uniform
  check_values(weights_of(f, {3, 3, 3, 3}), {0.25, 0.25, 0.25, 0.25});
  // one dominant: all of the mass, the rest exactly 0
  const auto one = weights_of(f, {5, 0, 0.2, -3});
  check_values(one, {1, 0, 0, 0});
  CHECK(one[1] == 0.0);
  CHECK(one[3] == 0.0);
  // near-uniform: every position stays in the support, p = z − mean + 1/n
  check_values(weights_of(f, {0.1, 0, -0.1}), {0.1 + 1.0 / 3, 1.0 / 3, 1.0 / 3 - 0.1});
  // shift invariance
  check_values(weights_of(f, {101, 100.5, 99}), {0.75, 0.25, 0});
}

TEST_CASE("1.5-entmax gives the sorting algorithm's values with exact zeros", "[attention-fn]") {
  const AttentionFn f = AttentionFn::Entmax15;
  // z = (1, 0): x = (0, −1/2), τ = −1/4 − √7/4, p = ((4 + √7)/8, (4 − √7)/8)
  const double r7 = std::sqrt(7.0);
  check_values(weights_of(f, {1, 0}), {(4 + r7) / 8, (4 - r7) / 8});
  check_values(weights_of(f, {0, 1}), {(4 - r7) / 8, (4 + r7) / 8});
  // ties: z = (1, 1, 0): x = (0, 0, −1/2), τ = −1/6 − √(5/18)
  const double tau = -1.0 / 6 - std::sqrt(5.0 / 18);
  check_values(weights_of(f, {1, 1, 0}), {tau * tau, tau * tau, (-0.5 - tau) * (-0.5 - tau)});
  // all equal: uniform
  check_values(weights_of(f, {-2, -2, -2, -2, -2}), {0.2, 0.2, 0.2, 0.2, 0.2});
  // one dominant (z_1 − z_2 ≥ 2): all of the mass
  const auto one = weights_of(f, {3, 1, -5});
  check_values(one, {1, 0, 0});
  CHECK(one[1] == 0.0);
  CHECK(one[2] == 0.0);
  // sparse in the middle: z = (2, 1.5, −3): x = (0, −1/4, −5/2), support 2
  const double t2 = -1.0 / 8 - std::sqrt(0.5 - 1.0 / 64);
  check_values(weights_of(f, {2, 1.5, -3}), {t2 * t2, (-0.25 - t2) * (-0.25 - t2), 0});
}

TEST_CASE("the normalizers sum to one and leave the masked tail at exactly zero", "[attention-fn]") {
  arma::arma_rng::set_seed(3);
  for (AttentionFn fn : {AttentionFn::Softmax, AttentionFn::Sparsemax, AttentionFn::Entmax15}) {
    for (int trial = 0; trial < 20; ++trial) {
      const std::size_t S = 7, B = 3;
      arma::mat e(S, B, arma::fill::randn);
      e *= 1.0 + trial;
      e.row(S - 1).fill(1e6);  // a huge score in the masked tail must not leak in
      const Lengths lo = {0, 2, 0}, hi = {5, 4, 0};
      arma::mat a;
      window_normalize(fn, e, lo, hi, a);
      for (std::size_t b = 0; b < B; ++b) {
        double s = 0;
        for (std::size_t j = 0; j < S; ++j) {
          CHECK(a(j, b) >= 0.0);
          if (j < lo[b] || j > hi[b]) CHECK(a(j, b) == 0.0);
          s += a(j, b);
        }
        CHECK(s == Approx(1.0).margin(1e-12));
      }
      CHECK(a(0, 2) == 1.0);  // a window of one position
    }
  }
  // float: the same support (computed in double) and a sum of one to float precision
  arma::fmat e = {{1.0f, 0.5f, -1.0f, 2.0f}};
  e = e.t();
  arma::fmat a;
  window_normalize(AttentionFn::Sparsemax, e, Lengths{0}, Lengths{2}, a);
  CHECK(a(0, 0) == 0.75f);
  CHECK(a(1, 0) == 0.25f);
  CHECK(a(2, 0) == 0.0f);
  CHECK(a(3, 0) == 0.0f);
  CHECK(parse_attention_fn("entmax15") == AttentionFn::Entmax15);
  CHECK_THROWS_WITH(parse_attention_fn("entmax"), Catch::Contains("valid: softmax, sparsemax, entmax15"));
}

TEST_CASE("softmax through window_normalize is window_softmax bit for bit", "[attention-fn]") {
  arma::arma_rng::set_seed(5);
  arma::mat e(6, 4, arma::fill::randn), da(6, 4, arma::fill::randn);
  const Lengths lo = {0, 1, 0, 3}, hi = {5, 3, 2, 3};
  arma::mat a1, a2, d1, d2;
  window_softmax(e, lo, hi, a1);
  window_normalize(AttentionFn::Softmax, e, lo, hi, a2);
  CHECK(arma::approx_equal(a1, a2, "absdiff", 0.0));
  softmax_backward(a1, da, d1);
  window_normalize_backward(AttentionFn::Softmax, a1, da, d2);
  CHECK(arma::approx_equal(d1, d2, "absdiff", 0.0));
}

TEST_CASE("the normalizers' backward is their exact Jacobian (finite differences)", "[attention-fn][gradcheck]") {
  arma::arma_rng::set_seed(11);
  for (AttentionFn fn : {AttentionFn::Softmax, AttentionFn::Sparsemax, AttentionFn::Entmax15})
    for (const std::size_t n : {1, 2, 5, 9})
      for (int trial = 0; trial < 10; ++trial) {
        arma::vec z(n, arma::fill::randn), g(n, arma::fill::randn);
        z *= 2.0;
        arma::vec p(n), dz(n);
        normalize(fn, z.memptr(), n, p.memptr());
        normalize_backward(fn, p.memptr(), g.memptr(), n, dz.memptr());
        // f(z) = g · p(z), piecewise smooth: a difference must not cross a support boundary
        const double h = 1e-6;
        arma::vec num(n);
        for (std::size_t i = 0; i < n; ++i) {
          auto at = [&](double d) {
            arma::vec zz = z, pp(n);
            zz[i] += d;
            normalize(fn, zz.memptr(), n, pp.memptr());
            return arma::dot(g, pp);
          };
          num[i] = (at(h) - at(-h)) / (2 * h);
        }
        INFO(to_string(fn) << " n " << n << " trial " << trial);
        CHECK(arma::norm(dz - num) <= 1e-7 * (1 + arma::norm(num)));
        // off the support nothing flows; and the gradient of a constant shift is zero
        for (std::size_t j = 0; j < n; ++j)
          if (p[j] == 0.0) CHECK(dz[j] == 0.0);
        CHECK(std::abs(arma::accu(dz)) < 1e-12);
      }
}

TEST_CASE("attend's normalizers reproduce the PyTorch fixture's weights and gradients", "[attention-fn][pytorch]") {
  std::ifstream in(std::string(ATTEND_FIXTURE_DIR) + "/attention_fn.json");
  REQUIRE(in);
  const json j = json::parse(in);
  std::size_t checked = 0;
  for (const json& c : j.at("cases")) {
    const std::vector<double> z = c.at("z"), dp = c.at("dp");
    const std::size_t n = c.at("length");  // the real positions; the rest is a masked tail
    for (const std::string name : {"softmax", "sparsemax", "entmax15"}) {
      const AttentionFn fn = parse_attention_fn(name);
      const std::vector<double> want_p = c.at(name).at("p"), want_dz = c.at(name).at("dz");
      arma::mat e(z), da(dp), a, de;
      window_normalize(fn, e, Lengths{0}, Lengths{n - 1}, a);
      window_normalize_backward(fn, a, da, de);
      INFO(c.at("name").get<std::string>() << " " << name);
      for (std::size_t i = 0; i < z.size(); ++i) {
        CHECK(std::abs(a[i] - want_p[i]) <= 1e-6);
        CHECK(std::abs(de[i] - want_dz[i]) <= 1e-6);
        if (want_p[i] == 0.0 && name != "softmax") CHECK(a[i] == 0.0);
        if (i >= n) CHECK(a[i] == 0.0);
      }
      ++checked;
    }
  }
  CHECK(checked >= 24);
}

namespace {

void check_model(ModelConfig config, const std::string& fn, double scale) {
  config.attention_fn = fn;
  config.validate();
  Seq2Seq<double> model(config, 7);
  model.params().values() *= scale;
  std::string worst;
  const double err = model_gradient_error(model, mixed_batch(), &worst);
  // The share of exact zeros in the weights shown, so that the check is seen to cover sparse steps.
  Workspace<double> ws;
  ForwardStatistics stats;
  TrainStepOptions opt;
  opt.statistics = &stats;
  model.loss_and_grad(mixed_batch(), ws, opt);
  const double zeros = stats.attention_positions ? double(stats.zero_weights) / double(stats.attention_positions) : 0;
  std::printf("gradcheck %-9s %-14s %-11s score %-7s heads %zu: max rel err %.2e (%s), exact zeros %.0f%%\n",
              fn.c_str(), config.attention.c_str(), config.decoder_style().c_str(), config.score.c_str(), config.heads,
              err, worst.c_str(), 100 * zeros);
  INFO(fn << " " << config.attention << " " << config.decoder_style() << ": " << worst);
  CHECK(err < 1e-6);
}

}  // namespace

TEST_CASE("every normalizing strategy has exact gradients with sparsemax and entmax15 under both decoder styles",
          "[attention-fn][gradcheck]") {
  for (const std::string fn : {"sparsemax", "entmax15"})
    for (const auto& attention : attention_names()) {
      if (!attention_traits(attention).attention_fn) continue;
      for (const std::string decoder : {"bahdanau", "luong"}) {
        ModelConfig c = small_config("gru", attention, decoder);
        if (attention == "local-p") c.score = decoder == "luong" ? "concat" : "dot";
        // Larger weights for entmax15, smoother than sparsemax: peaked enough for exact zeros
        // (multihead's averaged heads stay at 3: at 5 a step sits near a support boundary).
        check_model(c, fn, fn == "entmax15" && attention != "multihead" ? 5.0 : 3.0);
      }
    }
}

TEST_CASE("the Transformer decoder's per-head cross-attention has exact gradients with sparsemax and entmax15",
          "[attention-fn][gradcheck][transformer-decoder]") {
  for (const std::string fn : {"sparsemax", "entmax15"})
    for (const std::string attention : {"scaled-dot", "local-p", "bahdanau"}) {
      ModelConfig c = small_config("gru", attention, "transformer", "transformer");
      c.decoder_layers = 1;
      c.heads = 2;
      c.score = "general";
      check_model(c, fn, 2.0);
    }
}

TEST_CASE("sparse normalizers give exact zeros in a whole model's attention", "[attention-fn]") {
  // Peaked scores (large weights) leave most positions at exactly zero under sparsemax.
  ModelConfig c = small_config("gru", "luong-dot", "luong");
  c.attention_fn = "sparsemax";
  Seq2Seq<double> model(c, 7);
  model.params().values() *= 6.0;
  Workspace<double> ws;
  ForwardStatistics stats;
  TrainStepOptions opt;
  opt.statistics = &stats;
  model.loss_and_grad(mixed_batch(), ws, opt);
  CHECK(stats.attention_steps > 0);
  CHECK(stats.zero_weights > 0);
  CHECK(stats.attention_positions - stats.zero_weights >= stats.attention_steps);  // a support of one at least
}

TEST_CASE("the normalizer is a checkpoint key, a model without it reads as softmax", "[attention-fn][config]") {
  ModelConfig c;
  CHECK(c.to_map().at("attention_fn") == "softmax");
  c.attention_fn = "entmax15";
  CHECK(ModelConfig::from_map(c.to_map()).attention_fn == "entmax15");
  auto m = c.to_map();
  m.erase("attention_fn");
  CHECK(ModelConfig::from_map(m).attention_fn == "softmax");
}

TEST_CASE("normalizer options that cannot apply are refused saying what to change", "[attention-fn][config]") {
  ModelConfig c = small_config("gru", "none", "auto");
  c.attention_fn = "sparsemax";
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--attention none has none") &&
                                      Catch::Contains("leave --attention-fn at softmax"));
  c = small_config("gru", "bahdanau", "auto");
  c.attention_fn = "sparsemx";
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("unknown attention function 'sparsemx'"));
  c = small_config("gru", "multihead", "transformer", "transformer");
  c.attention_fn = "entmax15";
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("not built yet") && Catch::Contains("--attention scaled-dot"));
  c.attention = "scaled-dot";
  CHECK_NOTHROW(c.validate());
  c = small_config("gru", "multihead", "luong");
  c.attention_fn = "entmax15";
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("the normalizer option on the command line: refused where it cannot apply, trained where it can",
          "[attention-fn][cli]") {
  attend::test::TempDir dir;
  const std::string train = "train -q --task reverse --train-size 60 --valid-size 10 --steps 3 --hidden 8 --emb 4 ";
  auto r = attend::test::run_cli(dir, train + "--attention none --attention-fn sparsemax --model m.safetensors");
  INFO(r.err);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--attention none has none") && Catch::Contains("leave --attention-fn at softmax"));
  r = attend::test::run_cli(dir, train + "--decoder transformer --heads 2 --self-heads 2 --ffn 8 --attention-fn entmax15 "
                                         "--model m.safetensors");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("not built yet") && Catch::Contains("--attention scaled-dot"));
  r = attend::test::run_cli(dir, train + "--attention-fn softmaxx --model m.safetensors");
  CHECK(r.status == 2);
  r = attend::test::run_cli(dir, train + "--attention local-p --attention-fn entmax15 --model m.safetensors");
  CHECK(r.status == 0);
  const auto b = load_model(dir.file("m.safetensors"));
  CHECK(b.model->config().attention_fn == "entmax15");
}

TEST_CASE("the normalizer is a compare axis: softmax unnamed, none and the fused multihead once",
          "[attention-fn][compare]") {
  const GridAxis* axis = nullptr;
  for (const GridAxis& a : grid_axes())
    if (std::string(a.field) == "attention_fn") axis = &a;
  REQUIRE(axis);
  auto names_of = [](const CompareOptions& o) {
    std::vector<std::string> names;
    for (const Variant& v : grid_variants(o)) names.push_back(v.name());
    return names;
  };
  CompareOptions o;
  o.cells = {"gru"};
  o.attentions = {"none", "bahdanau", "multihead"};
  o.out_dir = "unused";
  set_axis_values(o, *axis, {"softmax", "sparsemax"});
  CHECK(names_of(o) == std::vector<std::string>{"gru+none", "gru+bahdanau", "gru+bahdanau~sparsemax", "gru+multihead",
                                                "gru+multihead~sparsemax"});
  CHECK_NOTHROW(validate_grid(o));
  // Under the Transformer decoder the fused multihead keeps softmax; bahdanau is per head there
  // and takes both.
  o.attentions = {"bahdanau", "multihead"};
  o.decoders = {"auto", "transformer"};
  CHECK(names_of(o) == std::vector<std::string>{"gru+bahdanau", "gru+bahdanau~sparsemax", "gru+bahdanau/transformer",
                                                "gru+bahdanau/transformer~sparsemax", "gru+multihead",
                                                "gru+multihead~sparsemax", "gru+multihead/transformer"});
  CHECK_NOTHROW(validate_grid(o));
  TaskOptions task;
  task.name = "reverse";
  const DataSource source = task_source(task);
  CHECK(grid_signature(o, source).at("grid.attention_fn") == "softmax,sparsemax");
  CHECK(grid_signature(o, source).count("model.attention_fn") == 0);
  CompareOptions plain;
  plain.out_dir = "unused";
  CHECK(grid_signature(plain, source).count("grid.attention_fn") == 0);
  CHECK(grid_signature(plain, source).at("model.attention_fn") == "softmax");
}
