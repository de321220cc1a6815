// Finite-difference gradient checks in double precision: every cell × attention strategy ×
// decoder style, on a batch with mixed lengths (padding in sources and targets).
#include <catch2/catch.hpp>
#include <cstdio>

#include "attend/attention.hpp"
#include "attend/seq2seq.hpp"

using namespace attend;

namespace {

Batch mixed_batch() {
  // Sources of lengths 5, 3, 2; targets of 3, 1, 2 tokens (+ </s>).
  std::vector<EncodedPair> data = {
      {{4, 5, 6, 7, 8}, {4, 6, 5}}, {{6, 4, 9}, {7}}, {{9, 5}, {5, 8}}};
  return make_batch(data, {0, 1, 2});
}

ModelConfig small_config(const std::string& cell, const std::string& attention,
                         const std::string& decoder) {
  ModelConfig c;
  c.cell = cell;
  c.attention = attention;
  c.decoder = decoder;
  c.emb = 3;
  c.hidden = 4;
  c.heads = 2;
  c.window = 1;
  c.max_src_len = 6;
  c.src_vocab = 10;
  c.tgt_vocab = 9;
  return c;
}

// Largest relative error ‖a − n‖ / (‖a‖ + ‖n‖) over the registry's entries.
double max_relative_error(Seq2Seq<double>& model, const Batch& batch, std::string* worst) {
  Workspace<double> ws;
  auto& P = model.params();
  P.zero_grad();
  model.loss(batch, ws, true);
  const arma::vec analytic = P.grads();
  const double h = 1e-4;
  double worst_err = 0;
  for (const auto& e : P.entries()) {
    arma::vec a(e.rows * e.cols), n(e.rows * e.cols);
    for (std::size_t i = 0; i < e.rows * e.cols; ++i) {
      double& v = P.values()[e.offset + i];
      const double saved = v;
      auto f = [&](double x) {
        v = saved + x;
        return model.loss(batch, ws, false).mean();
      };
      // Five-point stencil: truncation error O(h⁴) lets h be large enough to keep rounding small.
      n[i] = ((f(-2 * h) - f(2 * h)) + 8 * (f(h) - f(-h))) / (12 * h);
      v = saved;
      a[i] = analytic[e.offset + i];
    }
    const double denom = arma::norm(a) + arma::norm(n);
    const double err = denom < 1e-12 ? 0.0 : arma::norm(a - n) / denom;
    if (err > worst_err) {
      worst_err = err;
      if (worst) *worst = e.name;
    }
  }
  return worst_err;
}

void check_model(const ModelConfig& config) {
  Seq2Seq<double> model(config, 7);
  // Larger weights than the initialiser's make attention peaked and every gradient well above
  // the finite differences' rounding level.
  model.params().values() *= 3.0;
  std::string worst;
  const double err = max_relative_error(model, mixed_batch(), &worst);
  std::printf("gradcheck %-5s %-14s %-9s layers=%zu bi=%d bridge=%-5s max rel err %.2e (%s)\n",
              config.cell.c_str(), config.attention.c_str(), config.decoder_style().c_str(),
              config.layers, int(config.bidirectional), config.bridge.c_str(), err, worst.c_str());
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

TEST_CASE("two-layer bidirectional models have exact gradients for every bridge", "[gradcheck]") {
  for (const std::string cell : {"rnn", "lstm", "gru"})
    for (const std::string bridge : {"none", "copy", "dense"})
      for (const std::string attention : {"none", "bahdanau", "luong-general"}) {
        ModelConfig c = small_config(cell, attention, "auto");
        c.layers = 2;
        c.bidirectional = true;
        c.bridge = bridge;
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
