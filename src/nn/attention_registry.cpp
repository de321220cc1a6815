// The attention registry: name → factories (float, double) and traits. A built-in strategy is one
// line of the table below; its traits are defined beside its code.
#include "attend/core/registry.hpp"
#include "nn/attention_builtin.hpp"

namespace attend {

namespace {

using AttentionRegistry = FactoryRegistry<AttentionFactory, AttentionTraits>;

// The score named `score`, or the model's --score when it is empty.
template <typename T>
AttentionFactory<T> scored(const std::string& score, Locality locality) {
  return [score, locality](ParameterRegistry<T>& p, const ModelConfig& c, const std::string& prefix) {
    const std::string base = score.empty() ? c.score : score;
    return std::unique_ptr<Attention<T>>(new ScoredAttention<T>(p, c, prefix, base, locality));
  };
}

template <typename T>
std::unique_ptr<Attention<T>> multihead(ParameterRegistry<T>& p, const ModelConfig& c,
                                        const std::string& prefix) {
  return std::unique_ptr<Attention<T>>(new MultiheadAttention<T>(p, c, prefix));
}

template <typename T>
std::unique_ptr<Attention<T>> no_attention(ParameterRegistry<T>&, const ModelConfig&,
                                           const std::string&) {
  return nullptr;
}

AttentionRegistry::Entry global(const std::string& name, const std::string& score, const std::string& help,
                                DecoderStyle decoder = DecoderStyle::Luong) {
  AttentionTraits t = scores().traits(score).global;
  t.help = help;
  t.decoder = decoder;
  t.per_head = true;
  t.attention_fn = true;
  return AttentionRegistry::entry(name, scored<float>(score, Locality::Global),
                                  scored<double>(score, Locality::Global), std::move(t));
}

AttentionRegistry::Entry local(const std::string& name, Locality locality) {
  AttentionTraits t = local_traits(locality);
  t.per_head = true;
  t.attention_fn = true;
  return AttentionRegistry::entry(name, scored<float>("", locality), scored<double>("", locality), std::move(t));
}

AttentionTraits none_traits() {
  AttentionTraits t;
  t.help = "no context; the decoder runs on its own state (Sutskever/Cho)";
  t.decoder = DecoderStyle::None;
  return t;
}

// In registration order, so listings show the built-ins first.
AttentionRegistry& registry() {
  static AttentionRegistry r(
      "attention", "an attention strategy",
      {
          AttentionRegistry::entry("none", no_attention<float>, no_attention<double>, none_traits()),
          global("bahdanau", "additive", "additive: v^T tanh(W_q q + W_k h_j + b)", DecoderStyle::Bahdanau),
          global("luong-dot", "dot", "q^T h_j"),
          global("luong-general", "general", "q^T W_a h_j"),
          global("luong-concat", "concat", "v^T tanh(W_a [q; h_j])"),
          global("location", "location", "W_a q, one row per source position (up to --max-src-len)"),
          global("scaled-dot", "scaled-dot", "q^T h_j / sqrt(d)"),
          local("local-m", Locality::Monotonic),
          local("local-p", Locality::Predictive),
          AttentionRegistry::entry("multihead", multihead<float>, multihead<double>, multihead_traits()),
      });
  return r;
}

}  // namespace

template <typename T>
void Attention<T>::forward_weights(const Mat<T>&, std::size_t, const Memory<T>&, AttentionState&,
                                   AttentionState&, Mat<T>&) const {
  throw Error("this attention strategy gives no weights on their own (AttentionTraits::per_head)");
}

template <typename T>
void Attention<T>::backward_weights(const Mat<T>&, const Mat<T>&, std::size_t, const Memory<T>&,
                                    AttentionState&, AttentionState&, Mat<T>&, Mat<T>&) const {
  throw Error("this attention strategy gives no weights on their own (AttentionTraits::per_head)");
}

template class Attention<float>;
template class Attention<double>;

std::vector<std::string> attention_names() { return registry().names(); }
std::vector<RegistryItem> attention_list() { return registry().list(); }
std::string attention_help() { return registry().help(); }
bool attention_known(const std::string& name) { return registry().known(name); }
AttentionTraits attention_traits(const std::string& name) { return registry().traits(name); }

template <typename T>
std::unique_ptr<Attention<T>> make_attention(const std::string& name, ParameterRegistry<T>& params,
                                             const ModelConfig& config, const std::string& prefix) {
  return registry().factory<T>(name)(params, config, prefix);
}

template std::unique_ptr<Attention<float>> make_attention(const std::string&,
                                                          ParameterRegistry<float>&,
                                                          const ModelConfig&, const std::string&);
template std::unique_ptr<Attention<double>> make_attention(const std::string&,
                                                           ParameterRegistry<double>&,
                                                           const ModelConfig&, const std::string&);

void register_attention(const std::string& name, AttentionFactory<float> f32,
                        AttentionFactory<double> f64, AttentionTraits traits) {
  registry().add(name, std::move(f32), std::move(f64), std::move(traits));
}

}  // namespace attend
