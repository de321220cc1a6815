// Parts of summarize() (summary.cpp): the comparisons along the grid's axes other than attention.
#pragma once
#include "attend/experiment/runner.hpp"
#include "attend/experiment/summary.hpp"

namespace attend {

// CompareSummary::contrasts and contrast_notes: each variant against the one that differs from it
// only in one axis and has that axis's first value in the grid.
void add_axis_contrasts(CompareSummary& s);
// CompareSummary::width_series: the headline metric against d_k (heads axis) or the hidden width.
void add_width_series(CompareSummary& s, const CompareResult& result);

}  // namespace attend
