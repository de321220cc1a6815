#include "attend/core/blas_threads.hpp"
#include "attend/experiment/estimate.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "attend/experiment/run_result.hpp"
#include "run_record.hpp"

namespace attend {

namespace fs = std::filesystem;

GridEstimate estimate_grid(const CompareOptions& o, const DataSource& source, std::size_t calibration_steps) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  const auto start = Clock::now();
  GridEstimate e;
  e.runs = planned_runs(o);
  e.calibration_steps = calibration_steps;
  e.upper_bound = o.budget == Budget::Converge;
  const CompareData data = source.shared ? *source.shared : source.load(o.first_seed);
  const auto train_data = encode_examples(data.train, data.src_vocab, data.tgt_vocab);
  const auto valid_data = encode_examples(data.valid, data.src_vocab, data.tgt_vocab);
  const std::size_t jobs = std::max<std::size_t>(1, o.jobs);
  const std::size_t threads = o.threads ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  set_blas_threads(std::max<std::size_t>(1, threads / jobs));
  const std::size_t batches_per_epoch = (train_data.size() + o.train.batch - 1) / std::max<std::size_t>(1, o.train.batch);
  const std::size_t steps = o.train.steps ? o.train.steps : o.train.epochs * batches_per_epoch;
  const std::size_t eval_every = o.train.eval_every ? o.train.eval_every : std::max<std::size_t>(1, batches_per_epoch);
  const std::size_t validations = steps / eval_every + 1;
  const fs::path out(o.out_dir);
  double total = 0;
  for (const Variant& v : grid_variants(o)) {
    GridEstimate::PerVariant pv;
    pv.name = v.name();
    if (calibration_steps > 0) {
      auto model = build_model(o, v, o.first_seed, data);
      TrainOptions t = variant_training(o, v).train;
      t.steps = calibration_steps;
      t.patience = 0;
      t.validate = nullptr;
      t.max_seconds = 0;
      t.diagnostics_every = 0;
      t.seed = o.first_seed;
      // Untimed first: the first steps and the first pass allocate the workspaces.
      TrainOptions warm = t;
      warm.steps = std::max<std::size_t>(2, calibration_steps / 4);
      train(*model, train_data, {}, warm);
      if (!valid_data.empty()) teacher_forced_loss(*model, valid_data, 256);
      const auto t0 = Clock::now();
      train(*model, train_data, {}, t);
      pv.step_seconds = since(t0) / calibration_steps;
      const auto t1 = Clock::now();
      if (!valid_data.empty()) teacher_forced_loss(*model, valid_data, 256);
      pv.validation_seconds = since(t1);
    }
    // The runs of this variant still to train (a second-stage run counts as done when a run
    // of that seed exists at any rate of the grid).
    std::size_t todo = 0;
    const VariantTraining vt = variant_training(o, v);
    auto finished = [&](const RunSpec& spec) {
      RunResult ignored;
      return !o.force && read_finished(out / spec.name(), spec, ignored, vt.settings);
    };
    if (vt.lr_grid.empty()) {
      for (std::size_t i = 0; i < o.seeds; ++i) todo += !finished({v, o.first_seed + i});
    } else {
      for (double lr : vt.lr_grid) todo += !finished({v, o.first_seed, lr});
      for (std::size_t i = 1; i < o.seeds; ++i) {
        bool done = false;
        for (double lr : vt.lr_grid) done = done || finished({v, o.first_seed + i, lr});
        todo += !done;
      }
    }
    e.runs_to_train += todo;
    total += todo * (steps * pv.step_seconds + validations * pv.validation_seconds);
    e.variants.push_back(pv);
  }
  const std::size_t at_once = jobs * (o.ranks ? o.ranks->size() : 1);
  e.seconds = total / double(std::min(at_once, std::max<std::size_t>(1, e.runs_to_train)));
  e.calibration_seconds = since(start);
  return e;
}

}  // namespace attend
