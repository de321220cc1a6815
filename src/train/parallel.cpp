#include "attend/train/parallel.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "attend/core/error.hpp"

namespace attend {

namespace {
// Waiting threads spin this long before sleeping on a condition variable. A worker that slept
// between every two batches would look half idle to the kernel, which then keeps it on its
// creator's core (measured: training at single-thread speed in about one run in three); spinning
// across the caller's clipping and optimizer step keeps both threads runnable on their own cores.
constexpr auto kSpin = std::chrono::milliseconds(2);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until done() or kSpin has passed; returns done().
template <typename Done>
bool spin_until(Done done) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= until) return done();
  }
}
}  // namespace

struct ShardPool::State {
  std::mutex mutex;
  std::condition_variable wake, done;
  std::atomic<std::size_t> generation{0}, pending{0};
  std::size_t jobs = 0;
  bool stop = false;
  const std::function<void(std::size_t)>* job = nullptr;
};

ShardPool::ShardPool(std::size_t workers) : state_(std::make_unique<State>()) {
  for (std::size_t i = 1; i <= workers; ++i) threads_.emplace_back([this, i] { work(i); });
}

ShardPool::~ShardPool() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stop = true;
    state_->generation.fetch_add(1);
  }
  state_->wake.notify_all();
  for (auto& t : threads_) t.join();
}

void ShardPool::run(std::size_t n, const std::function<void(std::size_t)>& job) {
  if (n > threads_.size() + 1) throw Error("more shards than pool workers");
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.job = &job;
    s.jobs = n;
    s.pending.store(threads_.size());
    s.generation.fetch_add(1);
  }
  s.wake.notify_all();
  job(0);
  if (spin_until([&] { return s.pending.load() == 0; })) return;
  std::unique_lock<std::mutex> lock(s.mutex);
  s.done.wait(lock, [&] { return s.pending.load() == 0; });
}

void ShardPool::work(std::size_t id) {
  State& s = *state_;
  std::size_t seen = 0;
  for (;;) {
    spin_until([&] { return s.generation.load() != seen; });
    std::size_t jobs;
    const std::function<void(std::size_t)>* job;
    {
      std::unique_lock<std::mutex> lock(s.mutex);
      s.wake.wait(lock, [&] { return s.generation.load() != seen; });
      if (s.stop) return;
      seen = s.generation.load();
      jobs = s.jobs;
      job = s.job;
    }
    if (id < jobs) (*job)(id);
    if (s.pending.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(s.mutex);
      s.done.notify_all();
    }
  }
}

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
ParallelLoss<T>::ParallelLoss(Seq2Seq<T>& model, std::size_t shards, std::uint64_t seed, Communicator* ranks)
    : model_(model), shards_(std::max<std::size_t>(1, shards)), workspaces_(shards_), seed_(seed),
      rngs_(shards_), ranks_(ranks ? *ranks : alone_) {
  for (std::size_t s = 1; s < shards_; ++s) {
    replicas_.push_back(std::make_unique<Seq2Seq<T>>(model.config(), 0));
    replicas_.back()->params().share_values(model.params());
  }
  if (shards_ > 1) pool_ = std::make_unique<ShardPool>(shards_ - 1);
}

namespace {

// The ranks' losses summed: every rank then holds the whole batch's.
void sum_over_ranks(Communicator& ranks, LossStats& s) {
  double v[4] = {s.nll_sum, double(s.tokens), double(s.correct), s.non_finite ? 1.0 : 0.0};
  ranks.sum(v, 4);
  s.nll_sum = v[0];
  s.tokens = std::size_t(v[1]);
  s.correct = std::size_t(v[2]);
  s.non_finite = v[3] > 0;
}

// Every rank's statistics must have the same groups (same model, at least one shard each).
void sum_over_ranks(Communicator& ranks, ForwardStatistics& f) {
  std::vector<double> v;
  for (const auto& [name, share] : f.saturation) {
    v.push_back(double(share.saturated));
    v.push_back(double(share.units));
  }
  v.insert(v.end(), {f.entropy_sum, f.uniform_entropy_sum, double(f.attention_steps), double(f.attention_positions),
                     double(f.zero_weights)});
  ranks.sum(v.data(), v.size());
  std::size_t i = 0;
  for (auto& [name, share] : f.saturation) {
    share.saturated = std::size_t(v[i++]);
    share.units = std::size_t(v[i++]);
  }
  f.entropy_sum = v[i++];
  f.uniform_entropy_sum = v[i++];
  f.attention_steps = std::size_t(v[i++]);
  f.attention_positions = std::size_t(v[i++]);
  f.zero_weights = std::size_t(v[i]);
}

}  // namespace

template <typename T>
LossStats ParallelLoss<T>::loss(const Batch& batch, bool backward, const TrainStepOptions& opt) {
  const std::size_t n = batch.size();
  const std::size_t R = ranks_.size(), rank = ranks_.rank();
  const std::size_t shards = std::min(shards_ * R, n);
  auto reduce = [&](LossStats& total, ForwardStatistics* statistics) {
    if (R == 1) return;
    sum_over_ranks(ranks_, total);
    if (backward) ranks_.sum(model_.params().grads().memptr(), model_.params().grads().n_elem);
    if (statistics) sum_over_ranks(ranks_, *statistics);
  };
  if (shards <= 1) {
    // One shard uses the caller's stream directly; every rank runs it so that the stream stays
    // the same on all of them, and the ranks other than 0 then contribute nothing.
    ForwardStatistics own;
    TrainStepOptions o = opt;
    if (opt.statistics) o.statistics = &own;
    LossStats total = backward ? model_.loss_and_grad(batch, workspaces_[0], o) : model_.loss(batch, workspaces_[0], o);
    if (rank != 0) {
      total = LossStats{};
      if (backward) model_.params().zero_grad();
      if (opt.statistics) {
        const ForwardStatistics zeros = own;
        own = ForwardStatistics{};
        for (const auto& [name, share] : zeros.saturation) own.saturation[name] = {};
      }
    }
    reduce(total, opt.statistics ? &own : nullptr);
    if (opt.statistics) opt.statistics->add(own);
    return total;
  }
  const std::size_t per = (n + shards - 1) / shards;
  const std::size_t parts_in_all = (n + per - 1) / per;
  // This rank's shards: global numbers [first_part, end_part).
  const std::size_t first_part = std::min(rank * shards_, parts_in_all);
  const std::size_t end_part = std::min(first_part + shards_, parts_in_all);
  std::vector<Batch> parts;
  for (std::size_t g = first_part; g < end_part; ++g)
    parts.push_back(slice_batch(batch, g * per, std::min(per, n - g * per)));
  if (opt.rng) {
    // One draw of the caller's stream per batch seeds every shard: a stream kept from batch to
    // batch inside the shards would be state that a checkpoint does not hold. The shard's
    // global number makes its stream independent of how the shards are spread over ranks.
    const std::uint64_t draw = (*opt.rng)();
    for (std::size_t s = 0; s < parts.size(); ++s) {
      const std::size_t g = first_part + s;
      std::seed_seq seq{std::uint32_t(seed_), std::uint32_t(seed_ >> 32), std::uint32_t(draw),
                        std::uint32_t(draw >> 32), std::uint32_t(g)};
      rngs_[s].seed(seq);
    }
  }
  std::vector<LossStats> stats(parts.size());
  std::vector<ForwardStatistics> forward_stats(opt.statistics ? parts.size() : 0);
  std::vector<std::exception_ptr> errors(parts.size());
  auto run = [&](std::size_t s) {
    try {
      TrainStepOptions o = opt;
      o.rng = opt.rng ? &rngs_[s] : nullptr;
      o.normalizer = batch.real_target_tokens();
      o.statistics = opt.statistics ? &forward_stats[s] : nullptr;
      Seq2Seq<T>& m = s == 0 ? model_ : *replicas_[s - 1];
      if (s > 0 && backward) m.params().zero_grad();
      stats[s] = backward ? m.loss_and_grad(parts[s], workspaces_[s], o) : m.loss(parts[s], workspaces_[s], o);
    } catch (...) {
      errors[s] = std::current_exception();
    }
  };
  if (parts.size() > 1)
    pool_->run(parts.size(), run);
  else if (parts.size() == 1)
    run(0);
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  LossStats total;
  ForwardStatistics here;
  for (std::size_t s = 0; s < parts.size(); ++s) {
    total.nll_sum += stats[s].nll_sum;
    total.tokens += stats[s].tokens;
    total.correct += stats[s].correct;
    total.non_finite = total.non_finite || stats[s].non_finite;
    if (backward && s > 0) model_.params().grads() += replicas_[s - 1]->params().grads();
    if (opt.statistics) here.add(forward_stats[s]);
  }
  // A rank without a shard (fewer examples than shards) has no statistics groups to sum.
  const bool every_rank_has_a_shard = parts_in_all > (R - 1) * shards_;
  reduce(total, opt.statistics && every_rank_has_a_shard ? &here : nullptr);
  if (opt.statistics) opt.statistics->add(here);
  return total;
}

template class ParallelLoss<float>;
template class ParallelLoss<double>;

}  // namespace attend
