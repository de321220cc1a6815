#include "attend/text/vocab.hpp"

#include <algorithm>

#include "attend/core/error.hpp"
#include "attend/text/utf8.hpp"

namespace attend {

namespace {

const std::vector<std::string> kSpecials = {"<pad>", "<s>", "</s>", "<unk>"};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

Tokenizer tokenizer_from_name(const std::string& name) {
  if (name == "char") return Tokenizer::Char;
  if (name == "space") return Tokenizer::Space;
  if (name == "spm") return Tokenizer::Spm;
  throw Error("unknown tokenizer '" + name + "' (valid: char, space, spm)");
}

std::string tokenizer_name(Tokenizer tokenizer) {
  switch (tokenizer) {
    case Tokenizer::Char: return "char";
    case Tokenizer::Space: return "space";
    case Tokenizer::Spm: return "spm";
  }
  return "char";
}

std::vector<std::string> tokenize(const std::string& line, Tokenizer tokenizer) {
  if (tokenizer == Tokenizer::Spm)
    throw Error("the spm tokenizer needs its SentencePiece model: tokenize through the model bundle");
  std::vector<std::string> tokens;
  if (tokenizer == Tokenizer::Char) {
    for (std::size_t i = 0; i < line.size();) {
      const std::size_t n = utf8_sequence_length(line, i);
      if (n == 0)
        throw Error("invalid UTF-8 at byte " + std::to_string(i) + " of line '" + line + "'");
      tokens.push_back(line.substr(i, n));
      i += n;
    }
    return tokens;
  }
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
  return tokens;
}

std::string detokenize(const std::vector<std::string>& tokens, Tokenizer tokenizer) {
  if (tokenizer == Tokenizer::Spm)
    throw Error("the spm tokenizer needs its SentencePiece model: detokenize through the model bundle");
  std::string out;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokenizer == Tokenizer::Space && i > 0) out += ' ';
    out += tokens[i];
  }
  return out;
}

Vocab::Vocab() : Vocab(kSpecials) {}

Vocab::Vocab(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  if (tokens_.size() < kSpecials.size() ||
      !std::equal(kSpecials.begin(), kSpecials.end(), tokens_.begin()))
    throw Error("vocabulary must start with the tokens <pad> <s> </s> <unk>");
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].empty()) throw Error("vocabulary has an empty token at id " + std::to_string(i));
    if (!ids_.emplace(tokens_[i], static_cast<int>(i)).second)
      throw Error("vocabulary has the token '" + tokens_[i] + "' twice");
  }
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& sentences, std::size_t min_freq,
                   std::size_t max_size) {
  if (max_size != 0 && max_size < kSpecials.size())
    throw Error("vocabulary max size " + std::to_string(max_size) +
                " is smaller than the 4 special tokens");
  std::unordered_map<std::string, std::size_t> counts;
  for (const auto& sentence : sentences)
    for (const auto& t : sentence) ++counts[t];
  std::vector<std::pair<std::string, std::size_t>> ranked;
  for (const auto& [t, c] : counts)
    if (c >= min_freq && std::find(kSpecials.begin(), kSpecials.end(), t) == kSpecials.end())
      ranked.emplace_back(t, c);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::vector<std::string> tokens = kSpecials;
  for (const auto& entry : ranked) {
    if (max_size != 0 && tokens.size() >= max_size) break;
    tokens.push_back(entry.first);
  }
  return Vocab(std::move(tokens));
}

int Vocab::id(const std::string& token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? kUnk : it->second;
}

const std::string& Vocab::token(int id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size())
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary of size " +
                std::to_string(tokens_.size()));
  return tokens_[static_cast<std::size_t>(id)];
}

std::vector<int> Vocab::encode(const std::vector<std::string>& tokens) const {
  std::vector<int> ids;
  ids.reserve(tokens.size());
  for (const auto& t : tokens) ids.push_back(id(t));
  return ids;
}

std::vector<std::string> Vocab::decode(const std::vector<int>& ids) const {
  std::vector<std::string> tokens;
  for (const int i : ids) {
    if (i == kEos) break;
    if (i == kPad || i == kBos) continue;
    tokens.push_back(token(i));
  }
  return tokens;
}

VocabPair build_vocab_pair(const std::vector<std::vector<std::string>>& src,
                           const std::vector<std::vector<std::string>>& tgt, bool shared,
                           std::size_t min_freq, std::size_t max_size) {
  VocabPair p;
  if (shared) {
    std::vector<std::vector<std::string>> both(src);
    both.insert(both.end(), tgt.begin(), tgt.end());
    p.src = p.tgt = Vocab::build(both, min_freq, max_size);
  } else {
    p.src = Vocab::build(src, min_freq, max_size);
    p.tgt = Vocab::build(tgt, min_freq, max_size);
  }
  return p;
}

}  // namespace attend
