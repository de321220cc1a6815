// The two-stage learning-rate search of a grid with an lr_grid: every variant at each rate on the
// first seed, then its other seeds at the rate of its best validation.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "attend/experiment/grid.hpp"
#include "attend/experiment/run_result.hpp"

namespace attend {

// What chooses a run's checkpoint and its learning rate: the best validation BLEU for a corpus
// run (higher is better), else the lowest validation loss (returned negated, so higher is
// better); −∞ for a run that did not train successfully or never validated.
double validation_score(const RunResult& run);

// The rate each variant (by Variant::name) trains its other seeds at: the rate of its first-seed
// run with the highest validation_score (the lower rate on a tie); variants without a
// successful first-stage run, and variants without rate candidates (runs with lr 0), are absent.
std::map<std::string, double> choose_rates(const std::vector<RunResult>& first_stage);
// The second stage: each variant with a chosen rate, seeds first_seed + 1 … at that rate (a
// variant without rate candidates has none: choose_rates leaves it out).
std::vector<RunSpec> second_stage_runs(const CompareOptions& options,
                                       const std::map<std::string, double>& rates);

}  // namespace attend
