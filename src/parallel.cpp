#include "attend/parallel.hpp"

#include <exception>
#include <thread>

#include "attend/error.hpp"

namespace attend {

Batch slice_batch(const Batch& batch, std::size_t first, std::size_t count) {
  if (count == 0 || first + count > batch.size()) throw Error("batch slice out of range");
  arma::uword S = 1, T = 1;
  for (std::size_t b = first; b < first + count; ++b) {
    S = std::max(S, batch.src_len[b]);
    T = std::max(T, batch.tgt_len[b]);
  }
  Batch part;
  const arma::uword last = first + count - 1;
  part.src = batch.src.submat(0, first, S - 1, last);
  part.tgt_in = batch.tgt_in.submat(0, first, T - 1, last);
  part.tgt_out = batch.tgt_out.submat(0, first, T - 1, last);
  part.src_len.assign(batch.src_len.begin() + first, batch.src_len.begin() + first + count);
  part.tgt_len.assign(batch.tgt_len.begin() + first, batch.tgt_len.begin() + first + count);
  return part;
}

template <typename T>
ParallelLoss<T>::ParallelLoss(Seq2Seq<T>& model, std::size_t shards, std::uint64_t seed)
    : model_(model), shards_(std::max<std::size_t>(1, shards)), workspaces_(shards_) {
  for (std::size_t s = 0; s < shards_; ++s) rngs_.emplace_back(seed * 0x9e3779b97f4a7c15ull + s + 1);
  for (std::size_t s = 1; s < shards_; ++s) {
    replicas_.push_back(std::make_unique<Seq2Seq<T>>(model.config(), 0));
    replicas_.back()->params().share_values(model.params());
  }
}

template <typename T>
LossStats ParallelLoss<T>::loss(const Batch& batch, bool backward, const TrainStepOptions& opt) {
  const std::size_t n = batch.size();
  const std::size_t shards = std::min(shards_, n);
  if (shards <= 1) return model_.loss(batch, workspaces_[0], backward, opt);
  const std::size_t per = (n + shards - 1) / shards;
  std::vector<Batch> parts;
  for (std::size_t first = 0; first < n; first += per)
    parts.push_back(slice_batch(batch, first, std::min(per, n - first)));
  std::vector<LossStats> stats(parts.size());
  std::vector<std::exception_ptr> errors(parts.size());
  auto run = [&](std::size_t s) {
    try {
      TrainStepOptions o = opt;
      o.rng = opt.rng ? &rngs_[s] : nullptr;
      o.normalizer = batch.real_target_tokens();
      Seq2Seq<T>& m = s == 0 ? model_ : *replicas_[s - 1];
      if (s > 0 && backward) m.params().zero_grad();
      stats[s] = m.loss(parts[s], workspaces_[s], backward, o);
    } catch (...) {
      errors[s] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t s = 1; s < parts.size(); ++s) threads.emplace_back(run, s);
  run(0);
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  LossStats total;
  for (std::size_t s = 0; s < parts.size(); ++s) {
    total.nll_sum += stats[s].nll_sum;
    total.tokens += stats[s].tokens;
    total.correct += stats[s].correct;
    if (backward && s > 0) model_.params().grads() += replicas_[s - 1]->params().grads();
  }
  return total;
}

template class ParallelLoss<float>;
template class ParallelLoss<double>;

}  // namespace attend
