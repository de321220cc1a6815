// Tokenisation of text lines and the token <-> id vocabulary.
#pragma once
#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

namespace attend {

// Char: one token per UTF-8 code point (a space is the token " ").
// Space: whitespace-separated words.
// Spm: SentencePiece pieces (subword.hpp); needs a trained model, so the free functions below
// refuse it: use ModelBundle::tokenize_source / detokenize_target (checkpoint.hpp) instead.
enum class Tokenizer { Char, Space, Spm };

Tokenizer tokenizer_from_name(const std::string& name);
std::string tokenizer_name(Tokenizer tokenizer);
std::vector<std::string> tokenize(const std::string& line, Tokenizer tokenizer);
// Char: concatenation; Space: joined with single spaces.
std::string detokenize(const std::vector<std::string>& tokens, Tokenizer tokenizer);

class Vocab {
 public:
  static constexpr int kPad = 0, kBos = 1, kEos = 2, kUnk = 3;

  Vocab();  // the four specials only
  // Tokens in id order, e.g. from a checkpoint: must start with the four specials, no duplicates.
  explicit Vocab(std::vector<std::string> tokens);
  // Specials, then tokens by frequency descending, ties by token ascending.
  // max_size counts the specials; 0 means no limit.
  static Vocab build(const std::vector<std::vector<std::string>>& sentences,
                     std::size_t min_freq = 1, std::size_t max_size = 0);

  int id(const std::string& token) const;  // kUnk if unknown
  const std::string& token(int id) const;
  std::size_t size() const { return tokens_.size(); }
  const std::vector<std::string>& tokens() const { return tokens_; }
  std::vector<int> encode(const std::vector<std::string>& tokens) const;
  // Stops at </s>, skips <pad> and <s>.
  std::vector<std::string> decode(const std::vector<int>& ids) const;

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int> ids_;
};

struct VocabPair {
  Vocab src, tgt;
};
// The vocabularies of tokenised training pairs: one built from both sides when shared (then src
// and tgt are equal), else one per side.
VocabPair build_vocab_pair(const std::vector<std::vector<std::string>>& src,
                           const std::vector<std::vector<std::string>>& tgt, bool shared,
                           std::size_t min_freq = 1, std::size_t max_size = 0);

}  // namespace attend
