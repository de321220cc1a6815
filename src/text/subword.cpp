#include "attend/text/subword.hpp"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "attend/core/error.hpp"

namespace attend {

namespace {

// Feeds the training sentences to SentencePiece without a temporary file.
class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<const std::string*>& lines) : lines_(lines) {}
  bool done() const override { return i_ >= lines_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return *lines_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<const std::string*>& lines_;
  std::size_t i_ = 0;
};

// SentencePiece's trainer logs at length to stderr; this silences fd 2 for its lifetime.
class QuietStderr {
 public:
  QuietStderr() {
    std::fflush(stderr);
    saved_ = dup(2);
    if (FILE* null = std::fopen("/dev/null", "w")) {
      dup2(fileno(null), 2);
      std::fclose(null);
    }
  }
  ~QuietStderr() {
    std::fflush(stderr);
    if (saved_ >= 0) {
      dup2(saved_, 2);
      close(saved_);
    }
  }

 private:
  int saved_ = -1;
};

}  // namespace

SubwordModel SubwordModel::train(const std::vector<std::string>& sentences,
                                 const SubwordOptions& o) {
  if (o.model_type != "bpe" && o.model_type != "unigram")
    throw Error("unknown subword model type '" + o.model_type + "' (valid: bpe, unigram)");
  if (o.vocab_size < 8) throw Error("--spm-vocab must be at least 8");
  std::vector<const std::string*> lines;
  for (const auto& s : sentences)
    if (!s.empty()) lines.push_back(&s);
  if (lines.empty()) throw Error("cannot train a SentencePiece model on no text");
  if (o.max_sentences && lines.size() > o.max_sentences) {  // a seeded sample, in order
    std::mt19937_64 rng(o.seed);
    for (std::size_t i = lines.size(); i > 1; --i) std::swap(lines[i - 1], lines[rng() % i]);
    lines.resize(o.max_sentences);
  }
  // Ids: <unk> = 0 only; <s>, </s> and <pad> are the model vocabulary's business, not SentencePiece's.
  const std::string args = "--model_type=" + o.model_type +
                           " --vocab_size=" + std::to_string(o.vocab_size) +
                           " --character_coverage=" + std::to_string(o.character_coverage) +
                           " --hard_vocab_limit=false --bos_id=-1 --eos_id=-1 --pad_id=-1 --unk_id=0" +
                           " --num_threads=" + std::to_string(std::max<std::size_t>(1, o.threads)) +
                           " --input_sentence_size=0 --shuffle_input_sentence=false";
  VectorIterator it(lines);
  std::string bytes;
  sentencepiece::util::Status status;
  {
    QuietStderr quiet;
    status = sentencepiece::SentencePieceTrainer::Train(args, &it, &bytes);
  }
  if (!status.ok()) throw Error("SentencePiece training failed: " + status.ToString());
  return from_serialized(bytes);
}

SubwordModel SubwordModel::from_serialized(const std::string& bytes) {
  SubwordModel m;
  m.processor_ = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto status = m.processor_->LoadFromSerializedProto(bytes);
  if (!status.ok()) throw Error("not a SentencePiece model: " + status.ToString());
  m.bytes_ = bytes;
  return m;
}

std::size_t SubwordModel::size() const {
  return processor_ ? static_cast<std::size_t>(processor_->GetPieceSize()) : 0;
}

std::vector<std::string> SubwordModel::encode(const std::string& line) const {
  if (!processor_) throw Error("no SentencePiece model loaded");
  std::vector<std::string> pieces;
  const auto status = processor_->Encode(line, &pieces);
  if (!status.ok()) throw Error("SentencePiece cannot encode a line: " + status.ToString());
  return pieces;
}

std::string SubwordModel::decode(const std::vector<std::string>& pieces) const {
  if (!processor_) throw Error("no SentencePiece model loaded");
  std::string text;
  const auto status = processor_->Decode(pieces, &text);
  if (!status.ok()) throw Error("SentencePiece cannot decode: " + status.ToString());
  return text;
}

namespace {
const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (unsigned(static_cast<unsigned char>(bytes[i])) << 16) |
                       (unsigned(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                       unsigned(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest) {
    unsigned v = unsigned(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) v |= unsigned(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(const std::string& text) {
  if (text.size() % 4) throw Error("base64 text has a length that is not a multiple of 4");
  int value[256];
  for (int& v : value) v = -1;
  for (int k = 0; k < 64; ++k) value[static_cast<unsigned char>(kAlphabet[k])] = k;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad) throw Error("base64 text has data after '='");
      v[k] = value[static_cast<unsigned char>(c)];
      if (v[k] < 0) throw Error("base64 text has an invalid character");
    }
    const unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
    out += static_cast<char>((n >> 16) & 255);
    if (pad < 2) out += static_cast<char>((n >> 8) & 255);
    if (pad < 1) out += static_cast<char>(n & 255);
  }
  return out;
}

SubwordPair train_subword_pair(const std::vector<std::string>& src, const std::vector<std::string>& tgt,
                               const SubwordOptions& options, bool shared) {
  SubwordPair p;
  if (shared) {
    std::vector<std::string> both(src);
    both.insert(both.end(), tgt.begin(), tgt.end());
    p.src = p.tgt = std::make_shared<const SubwordModel>(SubwordModel::train(both, options));
  } else {
    p.src = std::make_shared<const SubwordModel>(SubwordModel::train(src, options));
    p.tgt = std::make_shared<const SubwordModel>(SubwordModel::train(tgt, options));
  }
  return p;
}

}  // namespace attend
