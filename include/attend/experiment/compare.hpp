// Controlled comparison of model variants: every cell × attention × decoder style × seed trained
// on the same data, batch order and initial values of shared parameters, with only the mechanism
// changed. Runs are resumable (one directory per run under the output directory) and can run in
// parallel threads. The report writers are in report.hpp.
#pragma once
#include <string>
#include <vector>

#include "attend/eval/evaluate.hpp"
#include "attend/experiment/data_source.hpp"
#include "attend/experiment/estimate.hpp"
#include "attend/experiment/grid.hpp"
#include "attend/experiment/grid_axis.hpp"
#include "attend/experiment/rate_search.hpp"
#include "attend/experiment/run_result.hpp"
#include "attend/experiment/runner.hpp"

namespace attend {

// The gold source position of each output position for a task with a known alignment
// (DataSource::alignment; task_gold_alignment), −1 where none is defined. `out` is the reference
// output.
std::vector<int> gold_alignment(const std::string& alignment, const std::vector<std::string>& src,
                                const std::vector<std::string>& out);

}  // namespace attend
