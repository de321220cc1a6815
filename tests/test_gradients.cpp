// Finite-difference gradient checks in double precision: every cell × attention strategy ×
// decoder style, on a batch with mixed lengths (padding in sources and targets).
#include <catch2/catch.hpp>
#include <cstdio>

#include "attend/nn/attention.hpp"
#include "attend/nn/encoder.hpp"
#include "attend/nn/seq2seq.hpp"
#include "attend/text/batching.hpp"
#include "gradcheck.hpp"

using namespace attend;
using attend::test::mixed_batch;
using attend::test::model_gradient_error;
using attend::test::small_config;

namespace {

void check_model(const ModelConfig& config) {
  Seq2Seq<double> model(config, 7);
  // Larger weights than the initialiser's make attention peaked and every gradient well above
  // the finite differences' rounding level.
  model.params().values() *= 3.0;
  std::string worst;
  const double err = model_gradient_error(model, mixed_batch(), &worst);
  std::printf("gradcheck %-5s %-14s %-9s %-6s layers=%zu bi=%d bridge=%-5s max rel err %.2e (%s)\n",
              config.cell.c_str(), config.attention.c_str(), config.decoder_style().c_str(),
              to_string(config.luong_output).c_str(), config.layers, int(config.bidirectional), to_string(config.bridge).c_str(), err, worst.c_str());
  INFO(config.cell << " " << config.attention << " " << config.decoder_style() << ": " << worst);
  CHECK(err < 1e-6);
}

}  // namespace

TEST_CASE("every cell, attention strategy and decoder style has exact gradients", "[gradcheck]") {
  for (const std::string cell : {"rnn", "lstm", "gru"})
    for (const auto& attention : attention_names()) {
      if (attention == "none") {
        check_model(small_config(cell, attention, "auto"));
        continue;
      }
      for (const std::string decoder : {"bahdanau", "luong"})
        check_model(small_config(cell, attention, decoder));
    }
}

TEST_CASE("the luong style's linear output has exact gradients for every cell and score",
          "[gradcheck]") {
  for (const std::string cell : {"rnn", "lstm", "gru"})
    for (const std::string attention : {"luong-dot", "luong-general", "luong-concat", "bahdanau"}) {
      ModelConfig c = small_config(cell, attention, "luong");
      c.luong_output = LuongOutput::Linear;
      check_model(c);
    }
  ModelConfig deep = small_config("lstm", "luong-general", "luong");
  deep.luong_output = LuongOutput::Linear;
  deep.layers = 2;
  check_model(deep);
}

TEST_CASE("two-layer bidirectional models have exact gradients for every bridge", "[gradcheck]") {
  for (const std::string cell : {"rnn", "lstm", "gru"})
    for (const std::string bridge : {"none", "copy", "dense"})
      for (const std::string attention : {"none", "bahdanau", "luong-general"}) {
        ModelConfig c = small_config(cell, attention, "auto");
        c.layers = 2;
        c.bidirectional = true;
        c.bridge = parse_bridge(bridge);
        check_model(c);
      }
}

TEST_CASE("local attention over every base score has exact gradients", "[gradcheck]") {
  for (const std::string attention : {"local-m", "local-p"})
    for (const std::string score : {"dot", "general", "concat"}) {
      ModelConfig c = small_config("gru", attention, "auto");
      c.score = score;
      c.window = 2;
      check_model(c);
    }
}

TEST_CASE("reversed sources have exact gradients", "[gradcheck]") {
  ModelConfig c = small_config("lstm", "none", "auto");
  c.reverse_source = true;
  check_model(c);
}

TEST_CASE("every attention strategy has exact gradients with respect to its query and memory",
          "[gradcheck]") {
  ModelConfig c = small_config("gru", "none", "auto");
  c.hidden = 4;
  c.window = 1;
  const Lengths len = {5, 3, 1};
  const std::size_t S = 5, B = 3, H = c.hidden, t = 2;
  for (const auto& name : attention_names()) {
    if (name == "none") continue;
    ParameterRegistry<double> P;
    auto attention = make_attention<double>(name, P, c, "a.");
    P.allocate(5);
    P.values() *= 3.0;
    arma::arma_rng::set_seed(17);
    arma::mat q(H, B, arma::fill::randn), M(H, B * S, arma::fill::randn), R(H, B, arma::fill::randn);
    // f = Σ R ⊙ context(q, M)
    auto f = [&](const arma::mat& qq, const arma::mat& MM) {
      Memory<double> mem{&MM, &len, S, B};
      auto batch = attention->make_batch_state(), step = attention->make_step_state();
      attention->prepare(mem, *batch);
      arma::mat ctx(H, B), w(S, B);
      attention->forward(qq, t, mem, *batch, *step, ctx, w);
      return arma::accu(R % ctx);
    };
    Memory<double> mem{&M, &len, S, B};
    auto batch = attention->make_batch_state(), step = attention->make_step_state();
    attention->prepare(mem, *batch);
    arma::mat ctx(H, B), w(S, B), dq(H, B), dM(H, B * S, arma::fill::zeros);
    attention->forward(q, t, mem, *batch, *step, ctx, w);
    attention->backward(R, q, t, mem, *batch, *step, w, dq, dM);
    attention->prepare_backward(mem, *batch, dM);
    const double h = 1e-4;
    auto numeric = [&](arma::mat& x, bool is_q) {
      arma::mat g(arma::size(x));
      for (std::size_t i = 0; i < x.n_elem; ++i) {
        const double saved = x[i];
        auto at = [&](double d) {
          x[i] = saved + d;
          const double v = is_q ? f(x, M) : f(q, x);
          x[i] = saved;
          return v;
        };
        g[i] = ((at(-2 * h) - at(2 * h)) + 8 * (at(h) - at(-h))) / (12 * h);
      }
      return g;
    };
    const arma::mat nq = numeric(q, true), nM = numeric(M, false);
    const double eq = arma::norm(dq - nq) / (arma::norm(dq) + arma::norm(nq));
    const double eM = arma::norm(dM - nM) / (arma::norm(dM) + arma::norm(nM));
    std::printf("gradcheck attention %-14s dq rel err %.2e  dmemory rel err %.2e\n", name.c_str(), eq, eM);
    INFO(name);
    CHECK(eq < 1e-6);
    CHECK(eM < 1e-6);
    // Padded memory columns receive no gradient.
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t j = len[b]; j < S; ++j) CHECK(arma::norm(dM.col(b * S + j)) == 0.0);
  }
}

TEST_CASE("every cell step has exact gradients with respect to its input and previous state",
          "[gradcheck]") {
  const std::size_t I = 3, H = 4, B = 2;
  for (const auto& name : cell_names()) {
    auto cell = make_cell<double>(name);
    ParameterRegistry<double> P;
    RecurrentLayer<double> layer(P, *cell, "c.", "", I, H);
    P.allocate(3);
    P.values() *= 2.0;
    arma::arma_rng::set_seed(5);
    arma::mat x(I, B, arma::fill::randn), h0(H, B, arma::fill::randn), c0(H, B, arma::fill::randn);
    arma::mat Rh(H, B, arma::fill::randn), Rc(H, B, arma::fill::randn);
    const bool mem = cell->has_memory();
    auto f = [&](const arma::mat& xx, const arma::mat& hh, const arma::mat& cc) {
      arma::mat xw, h(H, B), c(H, B, arma::fill::zeros), cache(cell->cache_rows(H), B), hw;
      layer.project_inputs(xx, xw);
      layer.step(xw, hh, cc, h, c, cache, hw);
      return arma::accu(Rh % h) + (mem ? arma::accu(Rc % c) : 0.0);
    };
    arma::mat xw, h(H, B), c(H, B, arma::fill::zeros), cache(cell->cache_rows(H), B), hw;
    layer.project_inputs(x, xw);
    layer.step(xw, h0, c0, h, c, cache, hw);
    arma::mat dxw(layer.gate_rows(), B), dhw(layer.gate_rows(), B), dh0(H, B), dc0(H, B, arma::fill::zeros);
    arma::mat dc = mem ? Rc : arma::mat(H, B, arma::fill::zeros);
    layer.step_backward(Rh, dc, h0, c0, h, c, cache, dxw, dhw, dh0, dc0);
    arma::mat dx(I, B, arma::fill::zeros);
    layer.project_inputs_backward(x, dxw, &dx);
    const double e = 1e-4;
    auto numeric = [&](arma::mat& v, int which) {
      arma::mat g(arma::size(v));
      for (std::size_t i = 0; i < v.n_elem; ++i) {
        const double saved = v[i];
        auto at = [&](double d) {
          v[i] = saved + d;
          const double r = which == 0 ? f(v, h0, c0) : which == 1 ? f(x, v, c0) : f(x, h0, v);
          v[i] = saved;
          return r;
        };
        g[i] = ((at(-2 * e) - at(2 * e)) + 8 * (at(e) - at(-e))) / (12 * e);
      }
      return g;
    };
    auto rel = [](const arma::mat& a, const arma::mat& n) {
      const double d = arma::norm(a) + arma::norm(n);
      return d < 1e-12 ? 0.0 : arma::norm(a - n) / d;
    };
    const double ex = rel(dx, numeric(x, 0)), eh = rel(dh0, numeric(h0, 1));
    const double ec = mem ? rel(dc0, numeric(c0, 2)) : 0.0;
    std::printf("gradcheck cell %-5s dx %.2e  dh_prev %.2e  dc_prev %.2e\n", name.c_str(), ex, eh, ec);
    INFO(name);
    CHECK(ex < 1e-6);
    CHECK(eh < 1e-6);
    CHECK(ec < 1e-6);
  }
}
