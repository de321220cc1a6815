// The encoder registry: name → factories (float, double) and traits. A built-in encoder is one
// line of the table below.
#include "attend/core/error.hpp"
#include "attend/core/registry.hpp"
#include "attend/nn/encoder.hpp"
#include "nn/encoders_builtin.hpp"

namespace attend {

namespace {

struct EncoderEntry {
  std::string name, help;
  EncoderFactory<float> f32;
  EncoderFactory<double> f64;
  EncoderTraits traits;
};

template <template <typename> class E>
EncoderEntry builtin(const std::string& name, const std::string& help,
                     std::function<void(const ModelConfig&)> validate = nullptr, bool has_direction = true) {
  return {name, help,
          [](ParameterRegistry<float>& p, const ModelConfig& c, const Cell<float>& cell) {
            return std::unique_ptr<Encoder<float>>(new E<float>(p, c, cell));
          },
          [](ParameterRegistry<double>& p, const ModelConfig& c, const Cell<double>& cell) {
            return std::unique_ptr<Encoder<double>>(new E<double>(p, c, cell));
          },
          EncoderTraits{help, std::move(validate), has_direction}};
}

NamedRegistry<EncoderEntry>& registry() {
  static NamedRegistry<EncoderEntry> r(
      "encoder",
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

std::vector<RegistryItem> encoder_list() { return registry().items(); }
std::string encoder_help() { return join_names(registry().items()); }
bool encoder_known(const std::string& name) { return registry().find(name).has_value(); }
EncoderTraits encoder_traits(const std::string& name) { return registry().get(name).traits; }
std::string self_activation_help() { return "relu | gelu"; }

template <typename T>
std::unique_ptr<Encoder<T>> make_encoder(ParameterRegistry<T>& params, const ModelConfig& config,
                                         const Cell<T>& cell) {
  const EncoderEntry e = registry().get(config.encoder);
  if constexpr (std::is_same_v<T, float>) return e.f32(params, config, cell);
  else return e.f64(params, config, cell);
}

void register_encoder(const std::string& name, EncoderFactory<float> f32, EncoderFactory<double> f64,
                      EncoderTraits traits) {
  if (name.empty()) throw Error("an encoder needs a name");
  if (!f32 || !f64) throw Error("encoder '" + name + "' needs a float and a double factory");
  const std::string help = traits.help;
  registry().add({name, help, std::move(f32), std::move(f64), std::move(traits)});
}

template std::unique_ptr<Encoder<float>> make_encoder(ParameterRegistry<float>&, const ModelConfig&,
                                                      const Cell<float>&);
template std::unique_ptr<Encoder<double>> make_encoder(ParameterRegistry<double>&, const ModelConfig&,
                                                       const Cell<double>&);

}  // namespace attend
