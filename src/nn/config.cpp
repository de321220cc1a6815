#include "attend/nn/config.hpp"

#include "attend/nn/attention.hpp"
#include "attend/nn/cell.hpp"
#include "attend/core/error.hpp"

namespace attend {

namespace {
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}
std::size_t to_size(const std::map<std::string, std::string>& m, const std::string& key,
                    std::size_t fallback) {
  auto it = m.find(key);
  if (it == m.end()) return fallback;
  try {
    std::size_t pos = 0;
    unsigned long long v = std::stoull(it->second, &pos);
    if (pos != it->second.size()) throw std::invalid_argument("trailing");
    return static_cast<std::size_t>(v);
  } catch (const std::exception&) {
    throw Error("configuration value " + key + " = '" + it->second + "' is not a whole number");
  }
}
}  // namespace

std::string ModelConfig::decoder_style() const {
  if (attention == "none") return "none";
  if (decoder == "auto") return attention == "bahdanau" ? "bahdanau" : "luong";
  return decoder;
}

void ModelConfig::fit_to_data(std::size_t longest_source, bool user_set_sizes) {
  if (attention != "location") return;
  if (!user_set_sizes) {
    max_src_len = longest_source;
  } else if (max_src_len < longest_source) {
    throw Error("location attention: the data has sources of " + std::to_string(longest_source) +
                " tokens but --max-src-len is " + std::to_string(max_src_len) +
                "; raise --max-src-len to at least " + std::to_string(longest_source));
  }
}

std::size_t ModelConfig::source_limit() const {
  return attention == "location" ? max_src_len : 0;
}

void ModelConfig::validate() const {
  const auto cells = cell_names();
  if (std::find(cells.begin(), cells.end(), cell) == cells.end())
    throw Error("unknown cell '" + cell + "' (valid: " + join(cells) + ")");
  if (!attention_known(attention))
    throw Error("unknown attention '" + attention + "' (valid: " + join(attention_names()) + ")");
  if (decoder != "auto" && decoder != "bahdanau" && decoder != "luong")
    throw Error("unknown decoder style '" + decoder + "' (valid: auto, bahdanau, luong)");
  if (bridge != "none" && bridge != "copy" && bridge != "dense")
    throw Error("unknown bridge '" + bridge + "' (valid: none, copy, dense)");
  if ((attention == "local-m" || attention == "local-p") && score != "dot" &&
      score != "general" && score != "concat")
    throw Error("unknown score '" + score + "' for local attention (valid: dot, general, concat)");
  if (layers < 1) throw Error("--layers must be at least 1");
  if (hidden < 1) throw Error("--hidden must be at least 1");
  if (emb < 1) throw Error("--emb must be at least 1");
  if (bidirectional && hidden % 2 != 0)
    throw Error("--bidirectional splits --hidden " + std::to_string(hidden) +
                " between two directions, so it must be even; use --hidden " +
                std::to_string(hidden + 1));
  if (attention == "multihead" && (heads == 0 || hidden % heads != 0))
    throw Error("--heads " + std::to_string(heads) + " does not divide --hidden " +
                std::to_string(hidden) + "; choose a number of heads that divides it");
  if ((attention == "local-m" || attention == "local-p") && window < 1)
    throw Error("--window must be at least 1 for local attention");
  if (attention == "location" && max_src_len < 1)
    throw Error("--max-src-len must be at least 1 for location attention");
  if (dropout < 0 || dropout >= 1) throw Error("--dropout must be in [0, 1)");
}

std::map<std::string, std::string> ModelConfig::to_map() const {
  return {{"cell", cell},
          {"attention", attention},
          {"decoder", decoder},
          {"score", score},
          {"bridge", bridge},
          {"layers", std::to_string(layers)},
          {"bidirectional", bidirectional ? "1" : "0"},
          {"emb", std::to_string(emb)},
          {"hidden", std::to_string(hidden)},
          {"dropout", std::to_string(dropout)},
          {"window", std::to_string(window)},
          {"heads", std::to_string(heads)},
          {"max_src_len", std::to_string(max_src_len)},
          {"reverse_source", reverse_source ? "1" : "0"},
          {"src_vocab", std::to_string(src_vocab)},
          {"tgt_vocab", std::to_string(tgt_vocab)}};
}

ModelConfig ModelConfig::from_map(const std::map<std::string, std::string>& m) {
  ModelConfig c;
  auto str = [&](const char* k, std::string& out) {
    auto it = m.find(k);
    if (it != m.end()) out = it->second;
  };
  str("cell", c.cell);
  str("attention", c.attention);
  str("decoder", c.decoder);
  str("score", c.score);
  str("bridge", c.bridge);
  c.layers = to_size(m, "layers", c.layers);
  c.bidirectional = to_size(m, "bidirectional", 0) != 0;
  c.emb = to_size(m, "emb", c.emb);
  c.hidden = to_size(m, "hidden", c.hidden);
  if (m.count("dropout")) c.dropout = std::stod(m.at("dropout"));
  c.window = to_size(m, "window", c.window);
  c.heads = to_size(m, "heads", c.heads);
  c.max_src_len = to_size(m, "max_src_len", c.max_src_len);
  c.reverse_source = to_size(m, "reverse_source", 0) != 0;
  c.src_vocab = to_size(m, "src_vocab", 0);
  c.tgt_vocab = to_size(m, "tgt_vocab", 0);
  return c;
}

}  // namespace attend
