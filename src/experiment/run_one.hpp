// Training and evaluating one run of a grid (the runner schedules them).
#pragma once
#include <functional>
#include <ostream>

#include "attend/experiment/data_source.hpp"
#include "attend/experiment/grid.hpp"
#include "attend/experiment/run_result.hpp"
#include "attend/train/trainer.hpp"

namespace attend {

// Trains r.spec on `data`, evaluates it on the test split and saves model.safetensors and
// metrics.json under r.run_dir, logging to `log`; `progress` sees every training step. Fills
// `r`; a diverged run is "diverged", else "ok"; throws for anything else that goes wrong.
void train_run(RunResult& r, const CompareOptions& options, const DataSource& source, const CompareData& data,
               std::ostream& log, const std::function<void(const TrainProgress&)>& progress);

}  // namespace attend
