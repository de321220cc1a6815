// Model configuration: everything needed to rebuild a model's structure (stored in checkpoints).
#pragma once
#include <map>
#include <string>

namespace attend {

struct ModelConfig {
  std::string cell = "gru";            // rnn | lstm | gru | a registered cell
  std::string attention = "bahdanau";  // none | bahdanau | luong-* | ... | a registered strategy
  std::string decoder = "auto";        // auto | bahdanau | luong
  std::string score = "general";       // base score of local-m / local-p: dot | general | concat
  std::string bridge = "copy";         // none | copy | dense
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

  // The decoder style `auto` resolves to: bahdanau for the bahdanau strategy, luong otherwise.
  std::string decoder_style() const;
  // Sizes that depend on the data (location attention's rows: one per source position, the
  // longest source unless the user set --max-src-len). Throws attend::Error when a size the user
  // set is too small for the data.
  void fit_to_data(std::size_t longest_source, bool user_set_sizes);
  // The longest source this model accepts; 0 = any length.
  std::size_t source_limit() const;
  // Throws attend::Error saying what to change when the combination is impossible.
  void validate() const;
  std::map<std::string, std::string> to_map() const;
  static ModelConfig from_map(const std::map<std::string, std::string>& m);
};

}  // namespace attend
