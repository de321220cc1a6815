// The data-parallel check the model tests share: a batch split over shards (each trimmed to its
// own longest source and target, so the padding differs from the whole batch's) gives one
// pass's loss statistics and gradient.
#pragma once
#include <catch2/catch.hpp>

#include <vector>

#include "attend/nn/seq2seq.hpp"
#include "attend/text/batching.hpp"
#include "attend/train/parallel.hpp"

namespace attend::test {

// The first 13 examples of `data` in one pass and over 3 shards.
inline void check_shards_match_one_pass(Seq2Seq<double>& model, const std::vector<EncodedPair>& data) {
  Workspace<double> ws;
  std::vector<std::size_t> idx(13);
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  const Batch b = make_batch(data, idx);
  model.params().zero_grad();
  const LossStats one = model.loss_and_grad(b, ws);
  const arma::vec g1 = model.params().grads();
  ParallelLoss<double> parallel(model, 3, 1);
  model.params().zero_grad();
  const LossStats three = parallel.loss(b, true, {});
  CHECK(three.tokens == one.tokens);
  CHECK(three.correct == one.correct);
  CHECK(three.nll_sum == Approx(one.nll_sum).epsilon(1e-12));
  CHECK(arma::norm(model.params().grads() - g1) <= 1e-12 * arma::norm(g1));
}

}  // namespace attend::test
