// Subword tokenisation with SentencePiece (BPE or unigram), trained in memory on the training
// side of a corpus. The trained model is kept as its serialized protobuf bytes, which
// checkpoints store (base64) so that translation needs no side files.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace attend {

struct SubwordOptions {
  std::size_t vocab_size = 8000;   // pieces, SentencePiece's own <unk> included; a soft limit
  std::string model_type = "bpe";  // bpe | unigram
  double character_coverage = 1.0;
  std::size_t max_sentences = 0;   // sample at most this many training sentences; 0 = all
  std::uint64_t seed = 1;
  std::size_t threads = 1;
};

class SubwordModel {
 public:
  // Trains on the sentences; throws Error with SentencePiece's message on failure.
  static SubwordModel train(const std::vector<std::string>& sentences, const SubwordOptions& options);
  // From serialized model bytes (e.g. from a checkpoint); throws Error when they do not parse.
  static SubwordModel from_serialized(const std::string& bytes);

  const std::string& serialized() const { return bytes_; }
  std::size_t size() const;  // pieces in the SentencePiece model
  // Pieces of a line ("▁the", "▁cat", "s"); empty for an empty line.
  std::vector<std::string> encode(const std::string& line) const;
  // Text from pieces (SentencePiece's DecodePieces: "▁" becomes a space, leading one dropped).
  std::string decode(const std::vector<std::string>& pieces) const;

 private:
  std::shared_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::string bytes_;
};

// RFC 4648 base64 with '=' padding (how checkpoints store binary blobs in string lists).
// The models of both sides of a training corpus: one trained on both sides together when shared
// (then src and tgt are the same model), else one per side.
struct SubwordPair {
  std::shared_ptr<const SubwordModel> src, tgt;
};
SubwordPair train_subword_pair(const std::vector<std::string>& src, const std::vector<std::string>& tgt,
                               const SubwordOptions& options, bool shared);

std::string base64_encode(const std::string& bytes);
// Throws Error for characters outside the alphabet or a wrong length.
std::string base64_decode(const std::string& text);

}  // namespace attend
