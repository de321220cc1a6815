#include "attend/nn/config.hpp"

#include <cmath>
#include <istream>
#include <ostream>
#include <type_traits>

#include "attend/core/error.hpp"
#include "attend/nn/attention.hpp"
#include "attend/nn/attention_fn.hpp"
#include "attend/nn/cell.hpp"
#include "attend/nn/decoder.hpp"
#include "attend/nn/encoder.hpp"

namespace attend {

// ---- enums ------------------------------------------------------------------------------------

namespace {
template <typename E>
struct Names {
  E value;
  const char* name;
};
constexpr Names<Bridge> kBridges[] = {{Bridge::None, "none"}, {Bridge::Copy, "copy"}, {Bridge::Dense, "dense"}};
// The styles a configuration may hold; None is only a resolved style.
constexpr Names<DecoderStyle> kStyles[] = {{DecoderStyle::Auto, "auto"},
                                           {DecoderStyle::Bahdanau, "bahdanau"},
                                           {DecoderStyle::Luong, "luong"},
                                           {DecoderStyle::Transformer, "transformer"}};
constexpr Names<LuongOutput> kLuongOutputs[] = {{LuongOutput::Tanh, "tanh"}, {LuongOutput::Linear, "linear"}};

template <typename E, std::size_t N>
std::string help_of(const Names<E> (&names)[N], const char* sep) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : sep) + std::string(n.name);
  return s;
}
template <typename E, std::size_t N>
bool lookup(const Names<E> (&names)[N], const std::string& name, E& out) {
  for (const auto& n : names)
    if (name == n.name) {
      out = n.value;
      return true;
    }
  return false;
}
}  // namespace

std::string to_string(Bridge b) {
  for (const auto& n : kBridges)
    if (n.value == b) return n.name;
  return "?";
}

std::string to_string(DecoderStyle s) {
  if (s == DecoderStyle::None) return "none";
  for (const auto& n : kStyles)
    if (n.value == s) return n.name;
  return "?";
}

std::string to_string(LuongOutput o) {
  for (const auto& n : kLuongOutputs)
    if (n.value == o) return n.name;
  return "?";
}

Bridge parse_bridge(const std::string& name) {
  Bridge b;
  if (!lookup(kBridges, name, b))
    throw Error("unknown bridge '" + name + "' (valid: " + help_of(kBridges, ", ") + ")");
  return b;
}

DecoderStyle parse_decoder_style(const std::string& name) {
  DecoderStyle s;
  if (!lookup(kStyles, name, s))
    throw Error("unknown decoder style '" + name + "' (valid: " + help_of(kStyles, ", ") + ")");
  return s;
}

LuongOutput parse_luong_output(const std::string& name) {
  LuongOutput o;
  if (!lookup(kLuongOutputs, name, o))
    throw Error("unknown luong output '" + name + "' (valid: " + help_of(kLuongOutputs, ", ") + ")");
  return o;
}

std::string bridge_help() { return help_of(kBridges, " | "); }
std::string decoder_style_help() { return help_of(kStyles, " | "); }
std::string luong_output_help() { return help_of(kLuongOutputs, " | "); }

std::ostream& operator<<(std::ostream& out, Bridge b) { return out << to_string(b); }
std::ostream& operator<<(std::ostream& out, DecoderStyle s) { return out << to_string(s); }
std::ostream& operator<<(std::ostream& out, LuongOutput o) { return out << to_string(o); }

std::istream& operator>>(std::istream& in, LuongOutput& o) {
  std::string word;
  if (in >> word && !lookup(kLuongOutputs, word, o)) in.setstate(std::ios::failbit);
  return in;
}

std::istream& operator>>(std::istream& in, Bridge& b) {
  std::string word;
  if (in >> word && !lookup(kBridges, word, b)) in.setstate(std::ios::failbit);
  return in;
}

std::istream& operator>>(std::istream& in, DecoderStyle& s) {
  std::string word;
  if (in >> word && !lookup(kStyles, word, s)) in.setstate(std::ios::failbit);
  return in;
}

// ---- the field table --------------------------------------------------------------------------

namespace {

// Checkpoint text of each field type, as written since format version 1: whole numbers and
// dropout through std::to_string, bools as "1" / "0".
std::string format(const std::string& v) { return v; }
std::string format(std::size_t v) { return std::to_string(v); }
std::string format(double v) { return std::to_string(v); }
std::string format(bool v) { return v ? "1" : "0"; }
std::string format(Bridge v) { return to_string(v); }
std::string format(LuongOutput v) { return to_string(v); }

[[noreturn]] void bad_value(const std::string& key, const std::string& value, const std::string& what) {
  throw Error("configuration value " + key + " = '" + value + "' is not " + what);
}

void parse(const std::string&, const std::string& text, std::string& out) { out = text; }
void parse(const std::string& key, const std::string& text, std::size_t& out) {
  const bool digits = !text.empty() && text.size() <= 19 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) bad_value(key, text, "a whole number");
  out = static_cast<std::size_t>(std::stoull(text));
}
void parse(const std::string& key, const std::string& text, double& out) {
  std::size_t pos = 0;
  try {
    out = std::stod(text, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos == 0 || pos != text.size() || !std::isfinite(out)) bad_value(key, text, "a finite number");
}
void parse(const std::string& key, const std::string& text, bool& out) {
  if (text == "1" || text == "true") out = true;
  else if (text == "0" || text == "false") out = false;
  else bad_value(key, text, "0 or 1");
}
void parse(const std::string& key, const std::string& text, Bridge& out) {
  if (!lookup(kBridges, text, out)) bad_value(key, text, "one of " + help_of(kBridges, ", "));
}
void parse(const std::string& key, const std::string& text, LuongOutput& out) {
  if (!lookup(kLuongOutputs, text, out)) bad_value(key, text, "one of " + help_of(kLuongOutputs, ", "));
}

using C = ModelConfig;

}  // namespace

// Every model option, once: checkpoint key, command-line option, help, member (and valid names).
const std::vector<ModelField>& model_fields() {
  static const std::vector<ModelField> fields = {
      {"cell", "cell", "recurrent cell", &C::cell, cell_help},
      {"attention", "attention", "attention strategy", &C::attention, attention_help},
      // A checkpoint written before this field has no key and reads as softmax, the default.
      {"attention_fn", "attention-fn",
       "normalizer of the attention weights (sparsemax and entmax15 give exact zeros; hard attends to one "
       "position, sampled while training; docs/attention-fn.md)",
       &C::attention_fn, attention_fn_help},
      {"decoder", "decoder",
       "decoder (auto: the recurrent decoder, bahdanau style for the bahdanau strategy, luong otherwise)",
       &C::decoder, decoder_help},
      // A checkpoint written before this field has no key and reads as tanh, the default.
      {"luong_output", "luong-output",
       "output of the luong decoder style: h~ = tanh(W_c [c; h]) or, linear, W_c [c; h]",
       &C::luong_output, luong_output_help},
      {"score", "score", "base score of local-m / local-p attention", &C::score, local_score_help},
      {"bridge", "bridge", "decoder initial state", &C::bridge, bridge_help},
      {"layers", "layers", "recurrent layers in encoder and decoder", &C::layers},
      {"bidirectional", "bidirectional", "bidirectional encoder (--hidden split in two)", &C::bidirectional},
      {"emb", "emb", "embedding size", &C::emb},
      {"hidden", "hidden", "model width", &C::hidden},
      {"dropout", "dropout", "dropout on embeddings and between layers", &C::dropout},
      {"window", "window", "half-width D of local-m / local-p attention", &C::window},
      {"heads", "heads", "heads of multihead attention", &C::heads},
      {"max_src_len", "max-src-len",
       "longest source of location attention (default: the longest source in the data)", &C::max_src_len},
      {"reverse_source", "reverse-source", "feed the source reversed", &C::reverse_source},
      {"src_vocab", "", "source vocabulary size (from the data)", &C::src_vocab},
      {"tgt_vocab", "", "target vocabulary size (from the data)", &C::tgt_vocab},
      {"encoder", "encoder", "source encoder", &C::encoder, encoder_help},
      {"self_layers", "self-layers", "self-attention layers (transformer: all of them; rnn+self: on top)", &C::self_layers},
      {"self_heads", "self-heads", "heads of the encoder's self-attention", &C::self_heads},
      {"ffn", "ffn", "feed-forward width of the self-attention layers", &C::ffn},
      {"norm_first", "norm-first", "layer norm before self-attention and feed-forward (pre-norm)", &C::norm_first},
      {"activation", "activation", "feed-forward activation of the self-attention layers", &C::activation,
       self_activation_help},
      // Checkpoints written before the Transformer decoder have neither key and read as 0.
      {"decoder_layers", "decoder-layers",
       "layers of the Transformer decoder (0: as many as --self-layers)", &C::decoder_layers},
      {"tie_embeddings", "tie-embeddings",
       "the Transformer decoder's output projection is its target embedding (one matrix)",
       &C::tie_embeddings},
      {"share_embeddings", "share-embeddings",
       "the decoder's embedding is the encoder's (one matrix; needs --shared-vocab and one width; "
       "--tie-embeddings with --shared-vocab sets it)",
       &C::share_embeddings},
  };
  return fields;
}

std::string ModelField::describe() const {
  return choices ? std::string(help) + ": " + choices() : std::string(help);
}

std::string ModelField::get(const ModelConfig& c) const {
  return std::visit([&](auto ptr) { return format(c.*ptr); }, member);
}

void ModelField::set(ModelConfig& c, const std::string& value) const {
  std::visit([&](auto ptr) { parse(key, value, c.*ptr); }, member);
}

std::map<std::string, std::string> ModelConfig::to_map() const {
  std::map<std::string, std::string> m;
  for (const auto& f : model_fields()) m[f.key] = f.get(*this);
  return m;
}

ModelConfig ModelConfig::from_map(const std::map<std::string, std::string>& m) {
  ModelConfig c;
  for (const auto& f : model_fields()) {
    auto it = m.find(f.key);
    if (it != m.end()) f.set(c, it->second);
  }
  return c;
}

// ---- what depends on the strategy -------------------------------------------------------------

DecoderStyle ModelConfig::style() const {
  const auto d = decoder_known(decoder) ? decoder_traits(decoder) : DecoderTraits{};
  if (d.style == DecoderStyle::Transformer) return d.style;
  const auto t = attention_known(attention) ? attention_traits(attention) : AttentionTraits{};
  if (t.decoder == DecoderStyle::None) return DecoderStyle::None;
  if (d.style == DecoderStyle::Auto) return t.decoder == DecoderStyle::Auto ? DecoderStyle::Luong : t.decoder;
  return d.style;
}

std::size_t ModelConfig::transformer_decoder_layers() const {
  return decoder_layers ? decoder_layers : self_layers;
}

std::string ModelConfig::decoder_style() const { return to_string(style()); }

void ModelConfig::fit_to_data(std::size_t longest_source, bool user_set_sizes) {
  const auto t = attention_traits(attention);
  if (t.fit_to_data) t.fit_to_data(*this, longest_source, user_set_sizes);
}

void ModelConfig::fit_to_vocabularies(std::size_t src, std::size_t tgt, bool shared) {
  src_vocab = src;
  tgt_vocab = tgt;
  if (shared && tie_embeddings) share_embeddings = true;
  if (share_embeddings && !shared)
    throw Error("--share-embeddings makes the source and target embeddings one matrix, so both sides "
                "need one vocabulary: add --shared-vocab (training on files)");
}

std::size_t ModelConfig::source_limit() const {
  const auto t = attention_traits(attention);
  return t.source_limit ? t.source_limit(*this) : 0;
}

void ModelConfig::validate() const {
  if (!cell_known(cell)) throw Error("unknown cell '" + cell + "' (valid: " + join_names(cell_list(), ", ") + ")");
  if (!attention_known(attention))
    throw Error("unknown attention '" + attention + "' (valid: " + join_names(attention_list(), ", ") + ")");
  if (!decoder_known(decoder))
    throw Error("unknown decoder '" + decoder + "' (valid: " + join_names(decoder_list(), ", ") + ")");
  if (luong_output != LuongOutput::Tanh && style() != DecoderStyle::Luong)
    throw Error("--luong-output " + to_string(luong_output) +
                " applies to the luong decoder style only, but this model's decoder style is " +
                decoder_style() + " (--attention " + attention +
                "); use --decoder luong or leave --luong-output at tanh");
  if (layers < 1) throw Error("--layers must be at least 1");
  if (hidden < 1) throw Error("--hidden must be at least 1");
  if (emb < 1) throw Error("--emb must be at least 1");
  if (bidirectional && hidden % 2 != 0)
    throw Error("--bidirectional splits --hidden " + std::to_string(hidden) +
                " between two directions, so it must be even; use --hidden " +
                std::to_string(hidden + 1));
  if (dropout < 0 || dropout >= 1) throw Error("--dropout must be in [0, 1)");
  const DecoderTraits d = decoder_traits(decoder);
  if (!d.initial_state && bridge == Bridge::Dense)
    throw Error("--bridge dense gives a recurrent decoder its initial state; --decoder " + decoder +
                " takes none: leave --bridge at copy");
  if (d.style != DecoderStyle::Transformer) {
    if (decoder_layers != 0)
      throw Error("--decoder-layers counts the layers of --decoder transformer; the recurrent decoder (--decoder " +
                  decoder + ") has --layers");
    if (tie_embeddings)
      throw Error("--tie-embeddings applies to --decoder transformer, whose embedding and output "
                  "projection share one width; the recurrent decoder's do not");
  }
  const auto t = attention_traits(attention);
  if (!attention_fn_known(attention_fn))
    throw Error("unknown attention function '" + attention_fn + "' (valid: softmax, sparsemax, entmax15, hard)");
  if (attention_fn == "hard" && d.style == DecoderStyle::Transformer)
    throw Error("--attention-fn hard is not built for the Transformer decoder's cross-attention (it samples "
                "one position per step for a recurrent decoder); use --decoder auto, bahdanau or luong, or "
                "another --attention-fn");
  if (attention_fn != "softmax") {
    if (t.decoder == DecoderStyle::None)
      throw Error("--attention-fn " + attention_fn + " normalises attention weights, but --attention " + attention +
                  " has none: choose an attention strategy (e.g. --attention bahdanau) or leave --attention-fn "
                  "at softmax");
    if (d.style == DecoderStyle::Transformer && attention == "multihead")
      throw Error("--attention-fn " + attention_fn + " is not built yet for the Transformer decoder's fused "
                  "multi-head cross-attention (--attention multihead); use --attention scaled-dot (per-head "
                  "scaled dot-product scores, normalised by --attention-fn in each head) or leave "
                  "--attention-fn at softmax");
    if (!t.attention_fn)
      throw Error("attention strategy '" + attention + "' normalises with softmax only; leave --attention-fn at "
                  "softmax or choose a built-in strategy");
  }
  if (t.validate) t.validate(*this);
  if (const auto check = encoder_traits(encoder).validate) check(*this);
  if (d.validate) d.validate(*this);
}

}  // namespace attend
