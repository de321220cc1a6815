#include "attend/train/diagnostics.hpp"

#include <cmath>

namespace attend {

namespace {
bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
}  // namespace

std::string parameter_group(const std::string& name) {
  if (starts_with(name, "encoder.embedding.") || starts_with(name, "decoder.embedding.")) return "embedding";
  if (starts_with(name, "decoder.attention.")) return "attention";
  if (starts_with(name, "decoder.out.")) return "output";
  if (starts_with(name, "encoder.")) return "encoder";
  return "decoder";
}

template <typename T>
std::map<std::string, double> gradient_group_norms(const ParameterRegistry<T>& params) {
  std::map<std::string, double> squares;
  const Col<T>& g = params.grads();
  for (const auto& e : params.entries()) {
    double sum = 0;
    for (std::size_t i = e.offset; i < e.offset + e.rows * e.cols; ++i) sum += double(g[i]) * double(g[i]);
    squares[parameter_group(e.name)] += sum;
  }
  for (auto& [group, value] : squares) value = std::sqrt(value);
  return squares;
}

DiagnosticsPoint make_diagnostics_point(std::size_t step, const ForwardStatistics& stats,
                                        std::map<std::string, double> grad_norm) {
  DiagnosticsPoint p;
  p.step = step;
  for (const auto& [group, share] : stats.saturation) p.saturation[group] = share.value();
  if (stats.attention_steps) {
    p.attention_entropy = stats.entropy_sum / double(stats.attention_steps);
    p.uniform_entropy = stats.uniform_entropy_sum / double(stats.attention_steps);
  }
  p.grad_norm = std::move(grad_norm);
  return p;
}

template std::map<std::string, double> gradient_group_norms(const ParameterRegistry<float>&);
template std::map<std::string, double> gradient_group_norms(const ParameterRegistry<double>&);

}  // namespace attend
