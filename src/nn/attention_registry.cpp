#include <algorithm>

#include "attend/core/error.hpp"
#include "nn/attention_builtin.hpp"

namespace attend {

namespace {

template <typename T>
AttentionFactory<T> scored(const std::string& score, Locality locality) {
  return [score, locality](ParameterRegistry<T>& p, const ModelConfig& c, const std::string& prefix) {
    const std::string base = score.empty() ? c.score : score;
    return std::unique_ptr<Attention<T>>(new ScoredAttention<T>(p, c, prefix, base, locality));
  };
}

// In registration order, so listings show the built-ins first.
template <typename T>
std::vector<std::pair<std::string, AttentionFactory<T>>>& attention_table() {
  static std::vector<std::pair<std::string, AttentionFactory<T>>> table = {
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

template <typename T>
typename std::vector<std::pair<std::string, AttentionFactory<T>>>::iterator find_attention(
    const std::string& name) {
  auto& t = attention_table<T>();
  return std::find_if(t.begin(), t.end(), [&](const auto& kv) { return kv.first == name; });
}

template <typename T>
void set_attention(const std::string& name, AttentionFactory<T> f) {
  auto it = find_attention<T>(name);
  if (it != attention_table<T>().end()) it->second = std::move(f);
  else attention_table<T>().emplace_back(name, std::move(f));
}

}  // namespace

std::vector<std::string> attention_names() {
  std::vector<std::string> names;
  for (const auto& kv : attention_table<float>()) names.push_back(kv.first);
  return names;
}

bool attention_known(const std::string& name) {
  return find_attention<float>(name) != attention_table<float>().end();
}

template <typename T>
std::unique_ptr<Attention<T>> make_attention(const std::string& name, ParameterRegistry<T>& params,
                                             const ModelConfig& config, const std::string& prefix) {
  auto it = find_attention<T>(name);
  if (it == attention_table<T>().end()) {
    std::string valid;
    for (const auto& n : attention_names()) valid += (valid.empty() ? "" : ", ") + n;
    throw Error("unknown attention '" + name + "' (valid: " + valid + ")");
  }
  return it->second(params, config, prefix);
}

void register_attention(const std::string& name, AttentionFactory<float> f32,
                        AttentionFactory<double> f64) {
  set_attention<float>(name, std::move(f32));
  set_attention<double>(name, std::move(f64));
}

template std::unique_ptr<Attention<float>> make_attention(const std::string&,
                                                          ParameterRegistry<float>&,
                                                          const ModelConfig&, const std::string&);
template std::unique_ptr<Attention<double>> make_attention(const std::string&,
                                                           ParameterRegistry<double>&,
                                                           const ModelConfig&, const std::string&);

}  // namespace attend
