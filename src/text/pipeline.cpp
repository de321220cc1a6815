#include "attend/text/pipeline.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "attend/core/error.hpp"
#include "attend/text/utf8.hpp"

namespace attend {

namespace fs = std::filesystem;

std::vector<std::string> tokenize_with(Tokenizer tokenizer, const SubwordModel* model,
                                       const std::string& line, const char* side) {
  if (tokenizer != Tokenizer::Spm) return tokenize(line, tokenizer);
  if (!model) throw Error(std::string("the spm tokenizer has no SentencePiece model for the ") + side);
  return model->encode(line);
}

std::string detokenize_with(Tokenizer tokenizer, const SubwordModel* model,
                            const std::vector<std::string>& tokens, const char* side) {
  if (tokenizer != Tokenizer::Spm) return detokenize(tokens, tokenizer);
  if (!model) throw Error(std::string("the spm tokenizer has no SentencePiece model for the ") + side);
  return model->decode(tokens);
}

namespace {

ParallelCorpus read_split(const TextPipelineOptions& o, const std::string& src, const std::string& tgt,
                          const std::string& split, const WarningFn& warn) {
  CorpusOptions c;
  c.max_src_tokens = c.max_tgt_tokens = o.max_line_tokens;
  if (o.tokenizer == "char") c.src_length = c.tgt_length = code_points;
  c.skip_bad_lines = o.skip_bad_lines;
  c.text = o.text;
  ParallelCorpus p = read_parallel(src, tgt, c);
  if (p.skipped && warn) {
    std::string w = "skipped " + std::to_string(p.skipped) + " bad " + split + " pair" +
                    (p.skipped == 1 ? "" : "s") + " (--skip-bad-lines); first:";
    for (const auto& problem : p.problems) w += "\n  " + problem;
    warn(w);
  }
  if (p.size() == 0) throw Error("no usable " + split + " pairs in '" + src + "' / '" + tgt + "'");
  return p;
}

std::vector<Example> tokenize_pairs(const TextSide& side, const ParallelCorpus& c) {
  std::vector<Example> out(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) {
    out[i].src = tokenize_with(side.tokenizer, side.src_subword.get(), c.src[i], "source");
    out[i].tgt = tokenize_with(side.tokenizer, side.tgt_subword.get(), c.tgt[i], "target");
  }
  return out;
}

TextSide train_text_side(const TextPipelineOptions& o, const ParallelCorpus& train) {
  TextSide side;
  side.tokenizer = tokenizer_from_name(o.tokenizer);
  if (side.tokenizer == Tokenizer::Spm) {
    const SubwordPair models = train_subword_pair(train.src, train.tgt, o.subword, o.shared_vocab);
    side.src_subword = models.src;
    side.tgt_subword = models.tgt;
  }
  return side;
}

// Drops the training pairs longer than the filter (in model tokens) from both the tokens and
// the lines, so that they stay parallel.
void length_filter(const TextPipelineOptions& o, PreparedCorpus& d) {
  if (!o.max_src_tokens && !o.max_tgt_tokens) return;
  ParallelCorpus kept_lines;
  kept_lines.skipped = d.train.skipped;
  kept_lines.problems = d.train.problems;
  std::vector<Example> kept;
  for (std::size_t i = 0; i < d.tokens.train.size(); ++i) {
    Example& e = d.tokens.train[i];
    const bool long_src = o.max_src_tokens && e.src.size() > o.max_src_tokens;
    const bool long_tgt = o.max_tgt_tokens && e.tgt.size() > o.max_tgt_tokens;
    if (long_src || long_tgt) {
      ++d.filtered;
      continue;
    }
    kept.push_back(std::move(e));
    kept_lines.src.push_back(std::move(d.train.src[i]));
    kept_lines.tgt.push_back(std::move(d.train.tgt[i]));
    kept_lines.line_numbers.push_back(d.train.line_numbers[i]);
  }
  if (kept.empty())
    throw Error("the length filter (--max-src-tokens / --max-tgt-tokens) dropped every training pair");
  d.tokens.train.swap(kept);
  d.train = std::move(kept_lines);
}

std::vector<std::vector<std::string>> side_of(const std::vector<Example>& examples, bool source) {
  std::vector<std::vector<std::string>> out;
  out.reserve(examples.size());
  for (const auto& e : examples) out.push_back(source ? e.src : e.tgt);
  return out;
}

PreparedCorpus prepare(const TextPipelineOptions& o, const std::optional<TextSide>& side,
                       const std::optional<VocabPair>& vocabs, const WarningFn& warn) {
  check_text_pipeline(o);
  const CorpusFiles& f = o.files;
  PreparedCorpus d;
  d.train = read_split(o, f.train_src, f.train_tgt, "training", warn);
  d.valid = read_split(o, f.valid_src, f.valid_tgt, "validation", warn);
  if (!f.test_src.empty()) d.test = read_split(o, f.test_src, f.test_tgt, "test", warn);
  d.side = side ? *side : train_text_side(o, d.train);
  d.tokens.train = tokenize_pairs(d.side, d.train);
  length_filter(o, d);
  d.tokens.valid = tokenize_pairs(d.side, d.valid);
  d.tokens.test = tokenize_pairs(d.side, d.test);
  VocabPair v = vocabs ? *vocabs
                       : build_vocab_pair(side_of(d.tokens.train, true), side_of(d.tokens.train, false),
                                          o.shared_vocab, o.min_freq, o.max_vocab);
  d.src_vocab = std::move(v.src);
  d.tgt_vocab = std::move(v.tgt);
  return d;
}

// A file's size and FNV-1a 64 checksum (hex): a different corpus is different data.
std::pair<std::uintmax_t, std::string> file_identity(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::uint64_t h = 1469598103934665603ull;
  std::uintmax_t size = 0;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 1099511628211ull;
    }
    size += static_cast<std::uintmax_t>(in.gcount());
  }
  char hex[20];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return {size, hex};
}

std::string yes_no(bool b) { return b ? "1" : "0"; }

}  // namespace

void check_text_pipeline(const TextPipelineOptions& o) {
  if (o.files.test_src.empty() != o.files.test_tgt.empty())
    throw Error("--test-src and --test-tgt go together");
  if (o.tokenizer != "space" && o.tokenizer != "char" && o.tokenizer != "spm")
    throw Error("unknown tokenizer '" + o.tokenizer + "' (valid: space, char, spm)");
}

PreparedCorpus prepare_corpus(const TextPipelineOptions& o, const WarningFn& warn) {
  return prepare(o, std::nullopt, std::nullopt, warn);
}

PreparedCorpus prepare_corpus(const TextPipelineOptions& o, const TextSide& side,
                              const VocabPair& vocabs, const WarningFn& warn) {
  return prepare(o, side, vocabs, warn);
}

std::map<std::string, std::string> corpus_signature(const TextPipelineOptions& o) {
  std::map<std::string, std::string> s;
  s["tokenizer"] = o.tokenizer;
  if (o.tokenizer == "spm") {
    s["spm_vocab"] = std::to_string(o.subword.vocab_size);
    s["spm_type"] = o.subword.model_type;
    s["spm_seed"] = std::to_string(o.subword.seed);
  }
  s["shared_vocab"] = yes_no(o.shared_vocab);
  s["min_freq"] = std::to_string(o.min_freq);
  s["max_vocab"] = std::to_string(o.max_vocab);
  s["max_src_tokens"] = std::to_string(o.max_src_tokens);
  s["max_tgt_tokens"] = std::to_string(o.max_tgt_tokens);
  s["max_line_tokens"] = std::to_string(o.max_line_tokens);
  s["lowercase"] = yes_no(o.text.lowercase);
  s["normalize"] = yes_no(o.text.normalize);
  // Only when there are named steps, so that the signatures of earlier runs stay as they were.
  if (!o.text.steps.empty()) s["normalization"] = o.text.steps.spec();
  s["skip_bad_lines"] = yes_no(o.skip_bad_lines);
  const CorpusFiles& f = o.files;
  const std::pair<const char*, const std::string*> files[] = {
      {"train_src", &f.train_src}, {"train_tgt", &f.train_tgt}, {"valid_src", &f.valid_src},
      {"valid_tgt", &f.valid_tgt}, {"test_src", &f.test_src},   {"test_tgt", &f.test_tgt}};
  for (const auto& [key, path] : files) {
    if (path->empty()) continue;
    const auto [size, checksum] = file_identity(*path);
    s[key] = fs::absolute(*path).lexically_normal().string();
    s[std::string(key) + ".bytes"] = std::to_string(size);
    s[std::string(key) + ".fnv1a64"] = checksum;
  }
  return s;
}

std::map<std::string, std::string> corpus_info(const TextPipelineOptions& o) {
  std::map<std::string, std::string> info = {{"task", "files"},
                                             {"lowercase", yes_no(o.text.lowercase)},
                                             {"normalize", yes_no(o.text.normalize)},
                                             {"train-src", o.files.train_src},
                                             {"train-tgt", o.files.train_tgt}};
  if (!o.text.steps.empty()) info["normalization"] = o.text.steps.spec();
  return info;
}

}  // namespace attend
