// The encoder registry: name → factories (float, double) and traits. A built-in encoder is one
// line of the table below.
#include "attend/core/registry.hpp"
#include "attend/nn/encoder.hpp"
#include "nn/encoders_builtin.hpp"

namespace attend {

namespace {

using EncoderRegistry = FactoryRegistry<EncoderFactory, EncoderTraits>;

template <template <typename> class E>
EncoderRegistry::Entry builtin(const std::string& name, const std::string& help,
                               std::function<void(const ModelConfig&)> validate = nullptr,
                               bool has_direction = true) {
  return EncoderRegistry::entry(
      name,
      [](ParameterRegistry<float>& p, const ModelConfig& c, const Cell<float>& cell) {
        return std::unique_ptr<Encoder<float>>(new E<float>(p, c, cell));
      },
      [](ParameterRegistry<double>& p, const ModelConfig& c, const Cell<double>& cell) {
        return std::unique_ptr<Encoder<double>>(new E<double>(p, c, cell));
      },
      EncoderTraits{help, std::move(validate), has_direction});
}

EncoderRegistry& registry() {
  static EncoderRegistry r(
      "encoder", "an encoder",
      {
          builtin<RecurrentEncoder>("rnn", "recurrent encoder (--cell, --layers, --bidirectional)"),
          builtin<TransformerEncoder>("transformer",
                                      "Transformer encoder: √H-scaled embeddings + sinusoidal positions, "
                                      "--self-layers layers",
                                      validate_self_attention, /*has_direction=*/false),
          builtin<RecurrentSelfEncoder>("rnn+self", "recurrent encoder, then --self-layers self-attention layers",
                                        validate_self_attention),
      });
  return r;
}

}  // namespace

std::vector<RegistryItem> encoder_list() { return registry().list(); }
std::string encoder_help() { return registry().help(); }
bool encoder_known(const std::string& name) { return registry().known(name); }
EncoderTraits encoder_traits(const std::string& name) { return registry().traits(name); }
std::string self_activation_help() { return "relu | gelu"; }

template <typename T>
std::unique_ptr<Encoder<T>> make_encoder(ParameterRegistry<T>& params, const ModelConfig& config,
                                         const Cell<T>& cell) {
  return registry().factory<T>(config.encoder)(params, config, cell);
}

void register_encoder(const std::string& name, EncoderFactory<float> f32, EncoderFactory<double> f64,
                      EncoderTraits traits) {
  registry().add(name, std::move(f32), std::move(f64), std::move(traits));
}

template std::unique_ptr<Encoder<float>> make_encoder(ParameterRegistry<float>&, const ModelConfig&,
                                                      const Cell<float>&);
template std::unique_ptr<Encoder<double>> make_encoder(ParameterRegistry<double>&, const ModelConfig&,
                                                       const Cell<double>&);

}  // namespace attend
