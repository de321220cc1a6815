// Data-parallel loss: a batch split column-wise into shards, each run on its own thread with its
// own workspace and gradient buffer, the parameters shared. With one BLAS thread per shard both
// cores work on everything (GEMMs, gate loops, attention, softmax) and no thread spins waiting.
#pragma once
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "attend/nn/seq2seq.hpp"
#include "attend/train/distributed.hpp"

namespace attend {

// Persistent worker threads for the shards: created once, so a worker stays on its core between
// steps instead of being created anew (and first scheduled beside its creator) at every batch.
class ShardPool {
 public:
  explicit ShardPool(std::size_t workers);
  ~ShardPool();
  ShardPool(const ShardPool&) = delete;
  ShardPool& operator=(const ShardPool&) = delete;
  // Runs job(1) … job(n − 1) on the workers (n − 1 ≤ workers) and job(0) on the calling
  // thread; returns when all have finished. job must not throw.
  void run(std::size_t n, const std::function<void(std::size_t)>& job);

 private:
  struct State;
  void work(std::size_t id);
  std::unique_ptr<State> state_;
  std::vector<std::thread> threads_;
};

// Columns [first, first + count) of a batch, trimmed to their longest source and target.
Batch slice_batch(const Batch& batch, std::size_t first, std::size_t count);

template <typename T>
class ParallelLoss {
 public:
  // shards ≤ 1 runs everything on the calling thread. With more shards, each batch's shard
  // streams (dropout, scheduled sampling) are seeded from `seed`, the shard's number and one
  // draw from the caller's stream (opt.rng): the caller's stream is then the only random state a
  // run has, so saving it (TrainState::sample_rng) is enough to resume exactly at any thread
  // count. With one shard the caller's stream is used directly.
  //
  // Over several processes (a Communicator of size R), the batch is split into R · shards shards
  // exactly as one process with R · shards shards would split it; this rank computes shards
  // rank · shards, …, and the losses, gradients and statistics are then summed over the ranks
  // (Communicator::sum), so every rank ends with the whole batch's. With R = 2 and one shard per
  // rank that sum is one addition per value, as in one process with two shards: bit for bit the
  // same. Otherwise the grouping of the sum differs (float rounding only).
  ParallelLoss(Seq2Seq<T>& model, std::size_t shards, std::uint64_t seed, Communicator* ranks = nullptr);
  std::size_t shards() const { return shards_; }
  // Same result as model.loss on the whole batch (up to summation order): mean over the batch's
  // real target tokens; with backward, the gradient is added to model.params().grads(). With
  // opt.statistics set, every shard's ForwardStatistics are added there. Collective over the ranks.
  LossStats loss(const Batch& batch, bool backward, const TrainStepOptions& opt);

 private:
  Seq2Seq<T>& model_;
  std::size_t shards_;
  std::vector<std::unique_ptr<Seq2Seq<T>>> replicas_;  // shard s ≥ 1 runs replicas_[s − 1]
  std::vector<Workspace<T>> workspaces_;
  std::uint64_t seed_;
  std::vector<std::mt19937_64> rngs_;  // reseeded per batch from the caller's stream
  std::unique_ptr<ShardPool> pool_;
  SingleProcess alone_;
  Communicator& ranks_;
};

}  // namespace attend
