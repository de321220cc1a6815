// Saturation counts of the diagnostics (ForwardStatistics), shared by the encoder's and the
// recurrent decoder's cells (internal).
#pragma once
#include <cmath>

#include "attend/nn/decoder.hpp"

namespace attend {

// A sigmoid outside [0.01, 0.99], a tanh beyond ±0.99.
template <typename T>
bool saturated(T x, bool sigmoid) {
  return sigmoid ? (x < T(0.01) || x > T(0.99)) : std::abs(x) > T(0.99);
}

// Counts the saturated activations of column `col` of a cell cache into gates / candidates.
template <typename T>
void count_cell_column(const Mat<T>& cache, std::size_t col, const std::vector<CellActivations>& rows,
                       ForwardStatistics::Share& gates, ForwardStatistics::Share& candidates) {
  const T* c = cache.colptr(col);
  for (const auto& r : rows) {
    ForwardStatistics::Share& s = r.sigmoid ? gates : candidates;
    for (std::size_t i = r.first; i < r.first + r.count; ++i) s.saturated += saturated(c[i], r.sigmoid);
    s.units += r.count;
  }
}

}  // namespace attend
