#include "attend/serve/attention_summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace attend {

AttentionSummary summarize_attention(const std::vector<std::vector<float>>& rows) {
  AttentionSummary s;
  s.rows = rows.size();
  for (const auto& r : rows) s.columns = std::max(s.columns, r.size());
  if (s.columns > 0) s.uniform_entropy = std::log(double(s.columns));
  if (rows.empty()) return s;
  const double T = double(rows.size()), S = double(s.columns);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    const double d = double(i) * S / T;
    double h = 0, near = 0, best = -1;
    std::size_t arg = 0;
    for (std::size_t j = 0; j < r.size(); ++j) {
      const double w = r[j];
      if (w > 0) h -= w * std::log(w);
      if (std::abs(double(j) - d) <= 1) near += w;
      if (w > best) best = w, arg = j;
    }
    s.entropy += h;
    s.diagonal_mass += near;
    if (!r.empty() && std::abs(double(arg) - d) <= 1) s.diagonal_argmax += 1;
  }
  s.entropy /= T;
  s.diagonal_mass /= T;
  s.diagonal_argmax /= T;
  return s;
}

namespace {

std::string layer_part(const std::string& name) {
  const auto at = name.rfind(" head ");
  return at == std::string::npos ? name : name.substr(0, at);
}

}  // namespace

std::vector<std::vector<float>> mean_of_last_layer(const std::vector<std::string>& names,
                                                   const std::vector<std::vector<std::vector<float>>>& views) {
  const std::size_t n = std::min(names.size(), views.size());
  if (n == 0) return {};
  const std::string last = layer_part(names[n - 1]);
  std::vector<std::vector<float>> mean;
  std::size_t count = 0;
  for (std::size_t v = 0; v < n; ++v) {
    if (layer_part(names[v]) != last) continue;
    const auto& rows = views[v];
    if (count == 0) {
      mean.assign(rows.size(), {});
      for (std::size_t i = 0; i < rows.size(); ++i) mean[i].assign(rows[i].size(), 0.0f);
    }
    for (std::size_t i = 0; i < rows.size() && i < mean.size(); ++i)
      for (std::size_t j = 0; j < rows[i].size() && j < mean[i].size(); ++j) mean[i][j] += rows[i][j];
    ++count;
  }
  for (auto& row : mean)
    for (auto& w : row) w /= float(count);
  return mean;
}

}  // namespace attend
