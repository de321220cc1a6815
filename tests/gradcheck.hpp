// What the finite-difference gradient checks share: the small models and the mixed-length batch
// they run on, and the comparison of analytic gradients against central differences.
#pragma once
#include <armadillo>
#include <string>
#include <vector>

#include "attend/core/params.hpp"
#include "attend/nn/config.hpp"
#include "attend/nn/seq2seq.hpp"
#include "attend/text/batching.hpp"

namespace attend::test {

// Sources of lengths 5, 3, 2; targets of 3, 1, 2 tokens (+ </s>): padding on both sides.
inline Batch mixed_batch() {
  std::vector<EncodedPair> data = {{{4, 5, 6, 7, 8}, {4, 6, 5}}, {{6, 4, 9}, {7}}, {{9, 5}, {5, 8}}};
  return make_batch(data, {0, 1, 2});
}

// A model small enough to difference every parameter: vocabularies 10 → 9, width 4.
inline ModelConfig small_config(const std::string& cell, const std::string& attention, const std::string& decoder,
                                const std::string& encoder = "rnn") {
  ModelConfig c;
  c.encoder = encoder;
  c.cell = cell;
  c.attention = attention;
  c.decoder = decoder;
  c.emb = 3;
  c.hidden = 4;
  c.heads = 2;
  c.self_heads = 2;
  c.ffn = 6;
  c.window = 1;
  c.max_src_len = 6;
  c.src_vocab = 10;
  c.tgt_vocab = 9;
  return c;
}

// Largest relative error ‖a − n‖ / (‖a‖ + ‖n‖) over the registry's entries, where a is `analytic`
// and n the five-point difference of the scalar f() in each parameter (truncation error O(h⁴)
// lets h be large enough to keep rounding small). `worst` names the entry with the largest error.
template <typename F>
double max_relative_error(ParameterRegistry<double>& P, const arma::vec& analytic, F f, std::string* worst) {
  const double h = 1e-4;
  double worst_err = 0;
  for (const auto& e : P.entries()) {
    arma::vec a(e.rows * e.cols), n(e.rows * e.cols);
    for (std::size_t i = 0; i < e.rows * e.cols; ++i) {
      double& v = P.values()[e.offset + i];
      const double saved = v;
      auto at = [&](double x) {
        v = saved + x;
        return f();
      };
      n[i] = ((at(-2 * h) - at(2 * h)) + 8 * (at(h) - at(-h))) / (12 * h);
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

// The whole model's analytic gradients of the mean loss on `batch` against finite differences.
inline double model_gradient_error(Seq2Seq<double>& model, const Batch& batch, std::string* worst) {
  Workspace<double> ws;
  auto& P = model.params();
  P.zero_grad();
  model.loss_and_grad(batch, ws);
  const arma::vec analytic = P.grads();
  return max_relative_error(P, analytic, [&] { return model.loss(batch, ws).mean(); }, worst);
}

}  // namespace attend::test
