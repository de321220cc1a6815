// The decoder registry: name → factories (float, double) and traits. A built-in decoder is one
// line of the table below; the recurrent decoder's three styles are three names of one class.
#include "attend/core/error.hpp"
#include "attend/core/registry.hpp"
#include "nn/decoders_builtin.hpp"

namespace attend {

namespace {

using DecoderRegistry = FactoryRegistry<DecoderFactory, DecoderTraits>;

template <template <typename> class D>
DecoderRegistry::Entry builtin(const std::string& name, DecoderTraits traits) {
  return DecoderRegistry::entry(
      name,
      [](ParameterRegistry<float>& p, const ModelConfig& c, const Cell<float>& cell) {
        return std::unique_ptr<Decoder<float>>(new D<float>(p, c, cell));
      },
      [](ParameterRegistry<double>& p, const ModelConfig& c, const Cell<double>& cell) {
        return std::unique_ptr<Decoder<double>>(new D<double>(p, c, cell));
      },
      std::move(traits));
}

DecoderTraits recurrent(const std::string& help, DecoderStyle style) {
  DecoderTraits t;
  t.help = help;
  t.style = style;
  return t;
}

DecoderRegistry& registry() {
  static DecoderRegistry r(
      "decoder", "a decoder",
      {
          builtin<RecurrentDecoder>(
              "auto", recurrent("recurrent; the bahdanau style for the bahdanau strategy, luong otherwise",
                                DecoderStyle::Auto)),
          builtin<RecurrentDecoder>(
              "bahdanau", recurrent("recurrent: attend with s_{t-1}, feed the context", DecoderStyle::Bahdanau)),
          builtin<RecurrentDecoder>(
              "luong", recurrent("recurrent: attend with h_t, h~ = tanh(W_c [c; h]), input feeding",
                                 DecoderStyle::Luong)),
          builtin<TransformerDecoder>("transformer", transformer_decoder_traits()),
      });
  return r;
}

}  // namespace

std::vector<RegistryItem> decoder_list() { return registry().list(); }
std::string decoder_help() { return registry().help(); }
bool decoder_known(const std::string& name) { return registry().known(name); }
DecoderTraits decoder_traits(const std::string& name) { return registry().traits(name); }

template <typename T>
std::unique_ptr<Decoder<T>> make_decoder(ParameterRegistry<T>& params, const ModelConfig& config,
                                         const Cell<T>& cell) {
  return registry().factory<T>(config.decoder)(params, config, cell);
}

template <typename T>
std::size_t target_embedding(ParameterRegistry<T>& params, const ModelConfig& config, std::size_t width,
                             double init_scale) {
  if (!config.share_embeddings)
    return params.add("decoder.embedding.weight", width, config.tgt_vocab, init_scale,
                      TorchLayout::TransposedMatrix);
  const long id = params.find("encoder.embedding.weight");
  if (id < 0) throw Error("--share-embeddings: this encoder has no encoder.embedding.weight to share");
  const ParameterEntry& e = params.entries()[static_cast<std::size_t>(id)];
  if (e.rows != width || e.cols != config.tgt_vocab)
    throw Error("--share-embeddings needs one embedding width and one vocabulary: the encoder's embedding is " +
                std::to_string(e.rows) + " wide over " + std::to_string(e.cols) + " tokens, the decoder's " +
                std::to_string(width) + " over " + std::to_string(config.tgt_vocab) +
                " (the Transformer's embeddings are --hidden wide, the recurrent ones --emb)");
  return static_cast<std::size_t>(id);
}

void register_decoder(const std::string& name, DecoderFactory<float> f32, DecoderFactory<double> f64,
                      DecoderTraits traits) {
  registry().add(name, std::move(f32), std::move(f64), std::move(traits));
}

template std::size_t target_embedding(ParameterRegistry<float>&, const ModelConfig&, std::size_t, double);
template std::size_t target_embedding(ParameterRegistry<double>&, const ModelConfig&, std::size_t, double);
template std::unique_ptr<Decoder<float>> make_decoder(ParameterRegistry<float>&, const ModelConfig&,
                                                      const Cell<float>&);
template std::unique_ptr<Decoder<double>> make_decoder(ParameterRegistry<double>&, const ModelConfig&,
                                                       const Cell<double>&);

}  // namespace attend
