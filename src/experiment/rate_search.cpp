#include "attend/experiment/rate_search.hpp"

#include <algorithm>
#include <cmath>

namespace attend {

double validation_score(const RunResult& r) {
  double best = -INFINITY;
  if (r.status != RunStatus::Ok) return best;
  if (r.corpus) {
    for (const auto& p : r.valid_bleu)
      if (std::isfinite(p.value)) best = std::max(best, p.value);
    return best;
  }
  for (const auto& p : r.valid_loss)
    if (std::isfinite(p.value)) best = std::max(best, -p.value);
  return best;
}

std::map<std::string, double> choose_rates(const std::vector<RunResult>& first_stage) {
  std::map<std::string, std::pair<double, double>> best;  // variant -> (score, rate)
  for (const auto& r : first_stage) {
    if (!(r.spec.lr > 0)) continue;  // a variant without candidates trains every seed at its one rate
    const double score = validation_score(r);
    if (!std::isfinite(score)) continue;
    const std::string v = r.spec.variant.name();
    auto it = best.find(v);
    if (it == best.end() || score > it->second.first ||
        (score == it->second.first && r.spec.lr < it->second.second))
      best[v] = {score, r.spec.lr};
  }
  std::map<std::string, double> rates;
  for (const auto& [v, x] : best) rates[v] = x.second;
  return rates;
}

std::vector<RunSpec> second_stage_runs(const CompareOptions& o, const std::map<std::string, double>& rates) {
  std::vector<RunSpec> runs;
  for (const Variant& v : grid_variants(o)) {
    auto it = rates.find(v.name());
    if (it == rates.end()) continue;
    for (std::size_t i = 1; i < o.seeds; ++i) runs.push_back({v, o.first_seed + i, it->second});
  }
  return runs;
}

}  // namespace attend
