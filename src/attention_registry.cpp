#include <map>

#include "attend/error.hpp"
#include "attention_builtin.hpp"

namespace attend {

namespace {

template <typename T>
AttentionFactory<T> scored(const std::string& score, Locality locality) {
  return [score, locality](ParameterRegistry<T>& p, const ModelConfig& c, const std::string& prefix) {
    const std::string base = score.empty() ? c.score : score;
    return std::unique_ptr<Attention<T>>(new ScoredAttention<T>(p, c, prefix, base, locality));
  };
}

template <typename T>
std::map<std::string, AttentionFactory<T>>& attention_table() {
  static std::map<std::string, AttentionFactory<T>> table = {
      {"none", [](ParameterRegistry<T>&, const ModelConfig&, const std::string&) {
         return std::unique_ptr<Attention<T>>();
       }},
      {"bahdanau", scored<T>("additive", Locality::Global)},
      {"luong-dot", scored<T>("dot", Locality::Global)},
      {"luong-general", scored<T>("general", Locality::Global)},
      {"luong-concat", scored<T>("concat", Locality::Global)},
      {"location", scored<T>("location", Locality::Global)},
      {"scaled-dot", scored<T>("scaled-dot", Locality::Global)},
      {"local-m", scored<T>("", Locality::Monotonic)},
      {"local-p", scored<T>("", Locality::Predictive)},
      {"multihead", [](ParameterRegistry<T>& p, const ModelConfig& c, const std::string& prefix) {
         return std::unique_ptr<Attention<T>>(new MultiheadAttention<T>(p, c, prefix));
       }},
  };
  return table;
}

}  // namespace

std::vector<std::string> attention_names() {
  std::vector<std::string> names;
  for (const auto& kv : attention_table<float>()) names.push_back(kv.first);
  return names;
}

bool attention_known(const std::string& name) { return attention_table<float>().count(name) > 0; }

template <typename T>
std::unique_ptr<Attention<T>> make_attention(const std::string& name, ParameterRegistry<T>& params,
                                             const ModelConfig& config, const std::string& prefix) {
  auto it = attention_table<T>().find(name);
  if (it == attention_table<T>().end()) {
    std::string valid;
    for (const auto& n : attention_names()) valid += (valid.empty() ? "" : ", ") + n;
    throw Error("unknown attention '" + name + "' (valid: " + valid + ")");
  }
  return it->second(params, config, prefix);
}

void register_attention(const std::string& name, AttentionFactory<float> f32,
                        AttentionFactory<double> f64) {
  attention_table<float>()[name] = std::move(f32);
  attention_table<double>()[name] = std::move(f64);
}

template std::unique_ptr<Attention<float>> make_attention(const std::string&,
                                                          ParameterRegistry<float>&,
                                                          const ModelConfig&, const std::string&);
template std::unique_ptr<Attention<double>> make_attention(const std::string&,
                                                           ParameterRegistry<double>&,
                                                           const ModelConfig&, const std::string&);

}  // namespace attend
