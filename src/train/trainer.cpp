#include "attend/train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "attend/core/error.hpp"
#include "attend/core/float_mode.hpp"
#include "attend/train/diagnostics.hpp"
#include "attend/train/parallel.hpp"

namespace attend {

LossStats teacher_forced_loss(const Seq2Seq<float>& model, const std::vector<EncodedPair>& data,
                              std::size_t batch) {
  LossStats total;
  Workspace<float> ws;
  for (const auto& idx : sequential_batches(data.size(), batch)) {
    const LossStats s = model.loss(make_batch(data, idx), ws);
    total.nll_sum += s.nll_sum;
    total.tokens += s.tokens;
    total.correct += s.correct;
  }
  return total;
}

namespace {

std::string rng_text(const std::mt19937_64& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

void rng_restore(std::mt19937_64& rng, const std::string& text, const char* what) {
  std::istringstream in(text);
  in >> rng;
  if (!in) throw Error(std::string("cannot resume: the saved ") + what + " random state is damaged");
}

std::string batch_text(std::size_t step, const std::vector<std::size_t>& examples) {
  constexpr std::size_t kListed = 10;
  const std::size_t n = examples.size();
  std::string t = "step " + std::to_string(step) + ", batch of " + std::to_string(n) +
                  (n == 1 ? " example (training example " : " examples (training examples ");
  for (std::size_t i = 0; i < n && i < kListed; ++i) t += (i ? ", " : "") + std::to_string(examples[i]);
  return t + (n > kListed ? ", …)" : ")");
}

std::string non_finite_text(double x) { return std::isnan(x) ? "NaN" : "infinite"; }

}  // namespace

TrainingDiverged::TrainingDiverged(std::size_t step, std::vector<std::size_t> examples, const std::string& problem)
    : Error(batch_text(step, examples) + ": " + problem +
            "; training stopped before this step's update (a lower learning rate or gradient clipping may help)"),
      step_(step),
      examples_(std::move(examples)) {}

namespace {

std::string exact_text(double x) {
  std::ostringstream out;
  out.precision(17);
  out << x;
  return out.str();
}

}  // namespace

std::map<std::string, std::string> TrainState::to_map() const {
  std::map<std::string, std::string> m = {
      {"step", std::to_string(step)},           {"epoch", std::to_string(epoch)},
      {"next_batch", std::to_string(next_batch)}, {"epoch_rng", epoch_rng},
      {"sample_rng", sample_rng},               {"lr", exact_text(lr)},
      {"best_score", exact_text(best_score)},   {"best_step", std::to_string(best_step)},
      {"bad_evals", std::to_string(bad_evals)},   {"optimizer_steps", std::to_string(optimizer.steps)}};
  if (reinforce_updates > 0) {
    m["reinforce_baseline"] = exact_text(reinforce_baseline);
    m["reinforce_updates"] = std::to_string(reinforce_updates);
  }
  if (hard) {
    m["hard_estimator"] = to_string(hard->estimator);
    m["reinforce_reward"] = to_string(hard->reward);
    m["gumbel_tau"] = exact_text(hard->gumbel_tau);
    m["baseline_decay"] = exact_text(hard->baseline_decay);
    m["entropy_weight"] = exact_text(hard->entropy_weight);
  }
  return m;
}

TrainState TrainState::from_map(const std::map<std::string, std::string>& m) {
  auto get = [&](const std::string& key) -> const std::string& {
    const auto it = m.find(key);
    if (it == m.end()) throw Error("training state: '" + key + "' is missing");
    return it->second;
  };
  auto count = [&](const std::string& key) -> std::size_t {
    const std::string& v = get(key);
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
      throw Error("training state: '" + key + "' is not a whole number: '" + v + "'");
    return static_cast<std::size_t>(std::stoull(v));
  };
  auto real = [&](const std::string& key) -> double {
    const std::string& v = get(key);
    try {
      std::size_t used = 0;
      const double x = std::stod(v, &used);
      if (used == v.size()) return x;
    } catch (const std::exception&) {
    }
    if (v == "-inf") return -std::numeric_limits<double>::infinity();
    throw Error("training state: '" + key + "' is not a number: '" + v + "'");
  };
  TrainState s;
  s.step = count("step");
  s.epoch = count("epoch");
  s.next_batch = count("next_batch");
  s.epoch_rng = get("epoch_rng");
  s.sample_rng = get("sample_rng");
  s.lr = real("lr");
  s.best_score = real("best_score");
  s.best_step = count("best_step");
  s.bad_evals = count("bad_evals");
  if (m.count("optimizer_steps")) s.optimizer.steps = count("optimizer_steps");
  if (m.count("reinforce_updates")) {
    s.reinforce_updates = count("reinforce_updates");
    s.reinforce_baseline = real("reinforce_baseline");
  }
  if (m.count("hard_estimator")) {
    HardAttentionOptions h;
    try {
      h.estimator = parse_hard_estimator(get("hard_estimator"));
    } catch (const Error&) {
      throw Error("training state: 'hard_estimator' is not reinforce or gumbel: '" + get("hard_estimator") + "'");
    }
    if (m.count("reinforce_reward")) {
      try {
        h.reward = parse_hard_reward(get("reinforce_reward"));
      } catch (const Error&) {
        throw Error("training state: 'reinforce_reward' is not sequence or to-go: '" + get("reinforce_reward") + "'");
      }
    }
    h.gumbel_tau = real("gumbel_tau");
    h.baseline_decay = real("baseline_decay");
    h.entropy_weight = real("entropy_weight");
    s.hard = h;
  }
  return s;
}

void validate(const TrainOptions& o) {
  o.optimizer.validate();
  o.hard.validate();
  if (o.batch == 0) throw Error("--batch must be at least 1");
  if (o.teacher_forcing < 0 || o.teacher_forcing > 1) throw Error("--teacher-forcing must be in [0, 1]");
  if (o.label_smoothing < 0 || o.label_smoothing >= 1) throw Error("--label-smoothing must be in [0, 1)");
  if (!(o.lr_decay > 0 && o.lr_decay <= 1)) {
    char shown[32];
    std::snprintf(shown, sizeof shown, "%g", o.lr_decay);
    throw Error(std::string("--lr-decay must be in (0, 1] (1 = no decay on a plateau), not ") + shown);
  }
}

TrainResult train(Seq2Seq<float>& model, const std::vector<EncodedPair>& train_data,
                  const std::vector<EncodedPair>& valid_data, const TrainOptions& opt,
                  const ProgressFn& progress) {
  if (opt.teacher_forcing < 1 && !decoder_traits(model.config().decoder).scheduled_sampling)
    throw Error("--decoder " + model.config().decoder + " trains with teacher forcing only; leave --teacher-forcing at 1");
  if (train_data.empty()) throw Error("no training examples");
  validate(opt);
  // Before ParallelLoss starts its shard threads, which inherit the mode.
  const FlushDenormalsScope float_mode(opt.flush_denormals);
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
  SingleProcess alone;
  Communicator& ranks = opt.ranks ? *opt.ranks : alone;
  ParallelLoss<float> parallel(model, opt.threads, opt.seed, &ranks);
  TrainStepOptions step_opt;
  step_opt.teacher_forcing = opt.teacher_forcing;
  step_opt.label_smoothing = opt.label_smoothing;
  step_opt.rng = &rng;
  step_opt.hard = &opt.hard;
  // Hard attention: REINFORCE's baseline, updated after every step from the batch's NLL per
  // token (the first batch starts it).
  const bool hard = model.config().attention_fn == "hard";
  const bool reinforce = hard && opt.hard.estimator == HardEstimator::Reinforce;
  double baseline = 0;
  std::size_t baseline_updates = 0;
  double best = -std::numeric_limits<double>::infinity();  // a score to maximise
  Col<float> best_values;
  std::size_t bad_evals = 0;
  double window_loss = 0;
  std::size_t window_steps = 0, window_tokens = 0;
  double window_start = 0;
  std::vector<std::vector<std::size_t>> batches;
  std::size_t next_batch = 0, epoch = 0, first_step = 1;
  std::string epoch_rng_text = rng_text(order_rng);
  // The rate after plateau decays; each step runs at plateau_lr · lr_schedule_factor(step), so a
  // resumed run needs only this and the step.
  double plateau_lr = opt.optimizer.lr;

  if (opt.resume) {
    const TrainState& r = *opt.resume;
    rng_restore(rng, r.sample_rng, "sampling");
    if (r.epoch > 0) {
      rng_restore(order_rng, r.epoch_rng, "batch-order");
      epoch_rng_text = r.epoch_rng;
      batches = bucketed_batches(train_data, opt.batch, order_rng);
      if (r.next_batch > batches.size())
        throw Error("cannot resume: the saved position in the epoch is past its end (different data or --batch?)");
      next_batch = r.next_batch;
    }
    epoch = r.epoch;
    first_step = r.step + 1;
    plateau_lr = r.lr;
    if (hard && r.hard) {
      const HardAttentionOptions& h = *r.hard;
      if (h.estimator != opt.hard.estimator || h.reward != opt.hard.reward || h.gumbel_tau != opt.hard.gumbel_tau ||
          h.baseline_decay != opt.hard.baseline_decay || h.entropy_weight != opt.hard.entropy_weight)
        throw Error("cannot resume: the run was trained with --hard-estimator " + to_string(h.estimator) +
                    " --reinforce-reward " + to_string(h.reward) + " --gumbel-tau " + exact_text(h.gumbel_tau) + " --baseline-decay " +
                    exact_text(h.baseline_decay) + " --entropy-weight " + exact_text(h.entropy_weight) +
                    "; pass the same to continue it exactly");
    }
    baseline = r.reinforce_baseline;
    baseline_updates = r.reinforce_updates;
    if (r.optimizer.steps > 0 || !r.optimizer.buffers.empty()) optimizer->restore(r.optimizer);
    best = r.best_score;
    bad_evals = r.bad_evals;
    result.best_step = r.best_step;
    result.steps = r.step;
    if (opt.keep_best && r.best_step == r.step && r.step > 0) best_values = P.values();
  }
  auto state_now = [&](std::size_t step) {
    TrainState st;
    st.step = step;
    st.epoch = epoch;
    st.next_batch = next_batch;
    st.epoch_rng = epoch_rng_text;
    st.sample_rng = rng_text(rng);
    st.lr = plateau_lr;
    st.best_score = best;
    st.best_step = result.best_step;
    st.bad_evals = bad_evals;
    st.optimizer = optimizer->state();
    st.reinforce_baseline = baseline;
    st.reinforce_updates = baseline_updates;
    if (hard) st.hard = opt.hard;
    return st;
  };

  for (std::size_t step = first_step; step <= total; ++step) {
    if (next_batch == batches.size()) {
      epoch_rng_text = rng_text(order_rng);
      batches = bucketed_batches(train_data, opt.batch, order_rng);
      next_batch = 0;
      ++epoch;
    }
    const std::vector<std::size_t>& examples = batches[next_batch++];
    const Batch b = make_batch(train_data, examples);
    const bool diagnose = opt.diagnostics_every && step % opt.diagnostics_every == 0;
    ForwardStatistics forward_stats;
    step_opt.statistics = diagnose ? &forward_stats : nullptr;
    P.zero_grad();
    step_opt.reinforce_baseline = baseline;
    const LossStats s = parallel.loss(b, true, step_opt);
    const double loss = s.mean();
    if (reinforce && std::isfinite(s.nll_sum) && s.tokens > 0) {
      const double mean_nll = s.nll_sum / double(s.tokens);
      baseline = baseline_updates == 0 ? mean_nll
                                       : opt.hard.baseline_decay * baseline + (1 - opt.hard.baseline_decay) * mean_nll;
      ++baseline_updates;
    }
    if (!std::isfinite(loss)) throw TrainingDiverged(step, examples, "the loss is " + non_finite_text(loss));
    if (s.non_finite) throw TrainingDiverged(step, examples, "a logit is NaN or infinite");
    if (diagnose)
      result.diagnostics.push_back(make_diagnostics_point(step, forward_stats, gradient_group_norms(P)));
    // The norm before clipping (computed with clipping off too): NaN or ∞ when any gradient is.
    const double grad_norm = clip_global_norm(P.grads(), opt.clip);
    if (!std::isfinite(grad_norm))
      throw TrainingDiverged(step, examples, "the gradient norm is " + non_finite_text(grad_norm));
    optimizer->lr = plateau_lr * lr_schedule_factor(opt.lr_schedule, step);
    optimizer->step(P.values(), P.grads());
    result.tokens += s.tokens;
    result.steps = step;
    window_loss += loss;
    window_tokens += s.tokens;
    ++window_steps;

    bool out_of_time = opt.max_seconds > 0 && seconds() >= opt.max_seconds;
    if (opt.max_seconds > 0 && ranks.size() > 1) {
      double decision = out_of_time ? 1 : 0;
      ranks.broadcast(&decision, 1);
      out_of_time = decision > 0;
    }
    const bool last = step == total || out_of_time;
    const bool report = step % 10 == 0 || last;
    if (report) {
      const double now = seconds();
      result.train_loss.push_back({step, window_loss / window_steps});
      if (progress && ranks.root()) {
        TrainProgress p;
        p.step = step;
        p.total_steps = total;
        p.epoch = epoch;
        p.loss = window_loss / window_steps;
        p.elapsed_s = now;
        p.tokens_per_s = now > window_start ? window_tokens / (now - window_start) : 0;
        p.eta_s = now / (step - first_step + 1) * (total - step);
        if (opt.max_seconds > 0) p.eta_s = std::min(p.eta_s, std::max(0.0, opt.max_seconds - now));
        p.lr = optimizer->lr;
        progress(p);
      }
      window_loss = 0;
      window_steps = window_tokens = 0;
      window_start = now;
    }
    if (out_of_time) result.time_limit_reached = true;
    if (!valid_data.empty() && (step % eval_every == 0 || last)) {
      double outcome[2] = {0, 0};  // validation loss, score
      if (ranks.root()) {
        outcome[0] = teacher_forced_loss(model, valid_data, 256).mean();
        outcome[1] = opt.validate ? opt.validate(step, outcome[0]) : -outcome[0];
      }
      ranks.broadcast(outcome, 2);
      const double v = outcome[0], score = outcome[1];
      result.valid_loss.push_back({step, v});
      if (opt.validate) result.valid_score.push_back({step, score});
      const bool improved = score > best;
      if (improved) {
        best = score;
        bad_evals = 0;
        result.best_step = step;
        result.best_seconds = seconds();
        if (opt.keep_best) best_values = P.values();
      } else {
        ++bad_evals;
        plateau_lr *= opt.lr_decay;
      }
      if (opt.after_validation && ranks.root()) opt.after_validation(state_now(step), improved);
      if (!improved && opt.patience && bad_evals >= opt.patience) {
        result.stopped_early = true;
        break;
      }
    }
    if (out_of_time) break;
  }
  result.state = state_now(result.steps);
  if (opt.keep_best && !best_values.is_empty()) P.assign(best_values);
  result.seconds = seconds();
  return result;
}

}  // namespace attend
