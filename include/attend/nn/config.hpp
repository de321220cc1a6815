// Model configuration: everything needed to rebuild a model's structure (stored in checkpoints).
// Every field is declared once in the table behind model_fields() (src/nn/config.cpp), which
// drives to_map / from_map (the checkpoint's `model.*` keys) and which the command line walks to
// declare its options.
#pragma once
#include <cstddef>
#include <iosfwd>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace attend {

// The decoder's initial state (DESIGN §4): none = zeros, copy = the encoder's final states,
// dense = tanh(W h_enc + b) per layer.
enum class Bridge { None, Copy, Dense };

// Decoder style (DESIGN §6, §6b): what ModelConfig::style() resolves the configured decoder to.
// A recurrent decoder runs Bahdanau or Luong (Auto resolves through the attention strategy's
// registry entry; None for a strategy that provides no context); Transformer is the Transformer
// decoder.
enum class DecoderStyle { Auto, None, Bahdanau, Luong, Transformer };

// The luong style's output layer (DESIGN §6): tanh = h̃_t = tanh(W_c [c_t; h_t]) as in Luong et
// al. (2015); linear = h̃_t = W_c [c_t; h_t], a labelled variant without the saturating tanh.
enum class LuongOutput { Tanh, Linear };

// Names as written in checkpoints and on the command line: "none", "copy", "dense"; "auto",
// "none", "bahdanau", "luong".
std::string to_string(Bridge b);
std::string to_string(DecoderStyle s);
std::string to_string(LuongOutput o);  // "tanh", "linear"
// Throw attend::Error naming the bad value and the valid ones. A decoder style is
// auto | bahdanau | luong | transformer ("none" is only ever a resolved style).
Bridge parse_bridge(const std::string& name);
DecoderStyle parse_decoder_style(const std::string& name);
LuongOutput parse_luong_output(const std::string& name);
// For Boost.Program_options (po::value<Bridge>(&config.bridge)): operator>> reads one word and
// sets failbit on an unknown name; operator<< writes the name.
std::ostream& operator<<(std::ostream& out, Bridge b);
std::istream& operator>>(std::istream& in, Bridge& b);
std::ostream& operator<<(std::ostream& out, DecoderStyle s);
std::istream& operator>>(std::istream& in, DecoderStyle& s);
std::ostream& operator<<(std::ostream& out, LuongOutput o);
std::istream& operator>>(std::istream& in, LuongOutput& o);
// "none | copy | dense" and "auto | bahdanau | luong", for help texts.
std::string bridge_help();
std::string decoder_style_help();
std::string luong_output_help();  // "tanh | linear"

struct ModelConfig {
  std::string cell = "gru";            // a registered cell (cell_help())
  std::string attention = "bahdanau";  // a registered strategy (attention_help())
  // The normalizer of the attention weights: softmax | sparsemax | entmax15 (attention_fn.hpp).
  std::string attention_fn = "softmax";
  std::string decoder = "auto";        // a registered decoder (decoder_help())
  LuongOutput luong_output = LuongOutput::Tanh;  // only the luong style has h̃; see validate()
  std::string score = "general";       // base score of local-m / local-p (local_score_help())
  Bridge bridge = Bridge::Copy;
  std::size_t layers = 1;
  bool bidirectional = false;
  std::size_t emb = 64;
  std::size_t hidden = 128;
  double dropout = 0.0;
  std::size_t window = 5;       // D of local attention
  std::size_t heads = 4;        // multihead
  std::size_t max_src_len = 64; // location attention rows
  bool reverse_source = false;  // Sutskever et al. feed the source reversed
  std::size_t src_vocab = 0, tgt_vocab = 0;
  std::string encoder = "rnn";        // a registered encoder (encoder_help())
  std::size_t self_layers = 1;        // self-attention layers of transformer / rnn+self
  std::size_t self_heads = 4;         // their heads (nhead); divide hidden
  std::size_t ffn = 512;              // their feed-forward width (dim_feedforward)
  bool norm_first = false;            // pre-norm layers (PyTorch's norm_first)
  std::string activation = "relu";    // their feed-forward activation: relu | gelu
  std::size_t decoder_layers = 0;     // Transformer decoder layers; 0 = self_layers
  bool tie_embeddings = false;        // Transformer decoder: output projection = target embedding
  // The decoder's embedding is the encoder's (one matrix, stored as encoder.embedding.weight):
  // needs one vocabulary for both sides and embeddings of one width.
  bool share_embeddings = false;

  // The style the decoder runs: Transformer for the Transformer decoder; for a recurrent one None
  // when the strategy gives no context, the strategy's own default for auto (bahdanau for
  // `bahdanau`, luong otherwise), else its style.
  DecoderStyle style() const;
  // The Transformer decoder's layer count (decoder_layers, or self_layers when it is 0).
  std::size_t transformer_decoder_layers() const;
  // The same as its name ("none", "bahdanau", "luong"), for display.
  std::string decoder_style() const;
  // Sizes that depend on the data, as the attention strategy's entry defines them (location
  // attention: one row per source position, the longest source unless the user set
  // --max-src-len). Throws attend::Error when a size the user set is too small for the data.
  void fit_to_data(std::size_t longest_source, bool user_set_sizes);
  // Sets src_vocab and tgt_vocab. `shared`: both sides use one vocabulary (--shared-vocab); then
  // --tie-embeddings ties the source embedding too (share_embeddings, as fairseq's
  // --share-all-embeddings). Throws attend::Error when share_embeddings is set without `shared`.
  void fit_to_vocabularies(std::size_t src, std::size_t tgt, bool shared);
  // The longest source this model accepts; 0 = any length.
  std::size_t source_limit() const;
  // Throws attend::Error saying what to change when the combination is impossible: unknown
  // names, general ranges, then the attention strategy's own checks.
  void validate() const;
  // The checkpoint's model keys (without the "model." prefix), one per model_fields() entry.
  std::map<std::string, std::string> to_map() const;
  // Missing keys keep their defaults; a malformed value throws attend::Error naming key and value.
  static ModelConfig from_map(const std::map<std::string, std::string>& m);
};

// One field of ModelConfig: its checkpoint key, its command-line option, its help and the member
// it lives in. Walk model_fields() and std::visit `member` to bind an option to the field:
//   for (const auto& f : model_fields())
//     if (*f.option) std::visit([&](auto ptr) { bind(f.option, &(config.*ptr), f.describe()); }, f.member);
using ModelMember =
    std::variant<std::string ModelConfig::*, std::size_t ModelConfig::*, double ModelConfig::*,
                 bool ModelConfig::*, Bridge ModelConfig::*, LuongOutput ModelConfig::*>;

struct ModelField {
  const char* key;     // checkpoint key (stored as "model.<key>")
  const char* option;  // command-line option name without "--"; "" = not an option (set from data)
  const char* help;    // one line
  ModelMember member;
  std::string (*choices)() = nullptr;  // valid values ("a | b | c") when they are names

  // help, plus ": " and the choices when there are any (read at call time, so strategies and
  // cells registered by the user are listed too).
  std::string describe() const;
  // The field's value as stored in a checkpoint, and back (throws attend::Error naming the key).
  std::string get(const ModelConfig& c) const;
  void set(ModelConfig& c, const std::string& value) const;
};

// Every ModelConfig field, in the order help texts show them.
const std::vector<ModelField>& model_fields();

}  // namespace attend
