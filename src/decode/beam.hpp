// Pieces shared by one model's searches (search.cpp) and an ensemble's (ensemble.cpp), so that an
// ensemble of one model gives exactly that model's output (internal).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "attend/core/params.hpp"
#include "attend/decode/search.hpp"
#include "core/kernels.hpp"

namespace attend {

// log Σ exp(z) of one logits column, so log p(v) = z_v − log Σ exp(z); greedy and beam search use
// it, so beam 1 equals greedy exactly. The exponentials are summed in T (vectorised), the result
// in double.
template <typename T>
double log_sum_exp(const T* z, std::size_t V) {
  T mx = z[0];
#pragma omp simd reduction(max : mx)
  for (std::size_t v = 1; v < V; ++v) mx = z[v] > mx ? z[v] : mx;
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::size_t v = 0; v < V; ++v) sum += exp_fast(z[v] - mx);
  return double(mx) + std::log(double(sum));
}

// Column col of w over the source in its original order (the encoder saw it reversed with
// reverse_source): the attention a hypothesis keeps for one step.
template <typename T>
std::vector<float> attention_column(const Mat<T>& w, std::size_t col, std::size_t len, bool reversed) {
  std::vector<float> a(len);
  for (std::size_t j = 0; j < len; ++j) a[reversed ? len - 1 - j : j] = static_cast<float>(w(j, col));
  return a;
}

// GNMT's lp(Y) = ((5 + |Y|) / 6)^α; 1 when α = 0 (raw log-probability).
inline double length_penalty(std::size_t length, double alpha) {
  return alpha == 0 ? 1.0 : std::pow((5.0 + double(length)) / 6.0, alpha);
}

// A beam's n-best list once its search ends: the finished hypotheses, and the live ones as well
// (scored at their length so far) when fewer than nbest finished; best first (stable), at most
// max(1, nbest). Leaves `alive` moved from.
inline std::vector<Hypothesis> ranked_nbest(std::vector<Hypothesis> finished, std::vector<Hypothesis>& alive,
                                            const SearchOptions& opt) {
  if (finished.size() < opt.nbest || finished.empty())
    for (auto& h : alive) {
      h.score = h.log_prob / length_penalty(h.tokens.size(), opt.length_penalty);
      finished.push_back(std::move(h));
    }
  std::stable_sort(finished.begin(), finished.end(),
                   [](const Hypothesis& a, const Hypothesis& c) { return a.score > c.score; });
  const std::size_t keep = std::max<std::size_t>(1, opt.nbest);
  if (finished.size() > keep) finished.resize(keep);
  return finished;
}

}  // namespace attend
