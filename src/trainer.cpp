#include "attend/trainer.hpp"

#include <dlfcn.h>

#include <chrono>
#include <cmath>

#include "attend/error.hpp"

namespace attend {

void set_blas_threads(std::size_t threads) {
  if (threads == 0) return;
  // Looked up at run time: the BLAS behind Armadillo is chosen by Debian's alternatives.
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    f(static_cast<int>(threads));
}

EvalResult evaluate(const Seq2Seq<float>& model, const std::vector<EncodedPair>& data,
                    std::size_t batch, bool decode, const SearchOptions& search) {
  EvalResult r;
  Workspace<float> ws;
  double nll = 0;
  std::size_t correct = 0, exact = 0;
  if (decode) r.hypotheses.resize(data.size());
  for (const auto& idx : sequential_batches(data.size(), batch)) {
    const Batch b = make_batch(data, idx);
    const LossStats s = model.loss(b, ws, false);
    nll += s.nll_sum;
    correct += s.correct;
    r.tokens += s.tokens;
    if (!decode) continue;
    auto hyps = greedy_search(model, b.src, b.src_len, search, ws);
    for (std::size_t i = 0; i < idx.size(); ++i) {
      const auto& ref = data[idx[i]].tgt;
      exact += hyps[i].finished && hyps[i].tokens == ref;
      r.hypotheses[idx[i]] = std::move(hyps[i]);
    }
  }
  r.examples = data.size();
  r.loss = r.tokens ? nll / r.tokens : 0;
  r.perplexity = std::exp(r.loss);
  r.token_accuracy = r.tokens ? double(correct) / r.tokens : 0;
  if (decode) r.exact_match = data.empty() ? 0 : double(exact) / data.size();
  return r;
}

TrainResult train(Seq2Seq<float>& model, const std::vector<EncodedPair>& train_data,
                  const std::vector<EncodedPair>& valid_data, const TrainOptions& opt,
                  const ProgressFn& progress) {
  if (train_data.empty()) throw Error("no training examples");
  if (opt.batch == 0) throw Error("--batch must be at least 1");
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };

  auto& P = model.params();
  auto optimizer = make_optimizer<float>(opt.optimizer, P.size());
  std::mt19937_64 rng(opt.seed);
  std::mt19937_64 order_rng(opt.seed ^ 0x5bd1e995ull);
  const std::size_t per_epoch = (train_data.size() + opt.batch - 1) / opt.batch;
  const std::size_t total = opt.steps ? opt.steps : std::max<std::size_t>(1, opt.epochs) * per_epoch;
  const std::size_t eval_every = opt.eval_every ? opt.eval_every : per_epoch;

  TrainResult result;
  Workspace<float> ws;
  TrainStepOptions step_opt;
  step_opt.teacher_forcing = opt.teacher_forcing;
  step_opt.label_smoothing = opt.label_smoothing;
  step_opt.rng = &rng;
  double best = std::numeric_limits<double>::infinity();
  Col<float> best_values;
  std::size_t bad_evals = 0;
  double window_loss = 0;
  std::size_t window_steps = 0, window_tokens = 0;
  double window_start = 0;
  std::vector<std::vector<std::size_t>> batches;
  std::size_t next_batch = 0, epoch = 0;

  for (std::size_t step = 1; step <= total; ++step) {
    if (next_batch == batches.size()) {
      batches = bucketed_batches(train_data, opt.batch, order_rng);
      next_batch = 0;
      ++epoch;
    }
    const Batch b = make_batch(train_data, batches[next_batch++]);
    P.zero_grad();
    const LossStats s = model.loss(b, ws, true, step_opt);
    const double loss = s.mean();
    if (!std::isfinite(loss)) {
      result.diverged = true;
      result.train_loss.push_back({step, loss});
      break;
    }
    clip_global_norm(P.grads(), opt.clip);
    optimizer->step(P.values(), P.grads());
    result.tokens += s.tokens;
    result.steps = step;
    window_loss += loss;
    window_tokens += s.tokens;
    ++window_steps;

    const bool report = step % 10 == 0 || step == total;
    if (report) {
      const double now = seconds();
      result.train_loss.push_back({step, window_loss / window_steps});
      if (progress) {
        TrainProgress p;
        p.step = step;
        p.total_steps = total;
        p.epoch = epoch;
        p.loss = window_loss / window_steps;
        p.elapsed_s = now;
        p.tokens_per_s = now > window_start ? window_tokens / (now - window_start) : 0;
        p.eta_s = now / step * (total - step);
        p.lr = optimizer->lr;
        progress(p);
      }
      window_loss = 0;
      window_steps = window_tokens = 0;
      window_start = now;
    }
    if (!valid_data.empty() && (step % eval_every == 0 || step == total)) {
      const double v = evaluate(model, valid_data, 256, false).loss;
      result.valid_loss.push_back({step, v});
      if (v < best) {
        best = v;
        bad_evals = 0;
        result.best_step = step;
        if (opt.keep_best) best_values = P.values();
      } else {
        ++bad_evals;
        optimizer->lr *= opt.lr_decay;
        if (opt.patience && bad_evals >= opt.patience) {
          result.stopped_early = true;
          break;
        }
      }
    }
  }
  if (opt.keep_best && !best_values.is_empty() && !result.diverged) P.assign(best_values);
  result.seconds = seconds();
  return result;
}

}  // namespace attend
