// The text pipeline of a model trained on parallel files, the same for `attend train` and
// `attend compare`: read and check the splits (corpus.hpp: "FILE:LINE: problem", or skipped and
// counted), apply the text options, train the SentencePiece models on the training side, tokenise,
// drop over-long training pairs, build the vocabularies.
#pragma once
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "attend/text/corpus.hpp"
#include "attend/text/subword.hpp"
#include "attend/text/tasks.hpp"
#include "attend/text/vocab.hpp"

namespace attend {

struct CorpusFiles {
  std::string train_src, train_tgt, valid_src, valid_tgt;
  std::string test_src, test_tgt;  // optional: both or neither
};

struct TextPipelineOptions {
  CorpusFiles files;
  std::string tokenizer = "space";     // space | char | spm
  SubwordOptions subword;              // spm only: pieces per model, bpe | unigram, seed
  bool shared_vocab = false;           // one vocabulary (and one SentencePiece model) for both sides
  std::size_t min_freq = 1;            // keep tokens seen at least this often in training
  std::size_t max_vocab = 0;           // the 4 specials included; 0 = no limit
  std::size_t max_src_tokens = 0;      // drop training pairs with longer sources (model tokens); 0 = keep all
  std::size_t max_tgt_tokens = 0;
  std::size_t max_line_tokens = 1000;  // a longer line (words; code points for char) is a bad line; 0 = no limit
  TextOptions text;                    // lower-casing, whitespace normalisation
  bool skip_bad_lines = false;         // drop bad pairs with a warning instead of failing
};

// How lines become tokens and back: the tokenizer and, for spm, each side's model (one object
// when shared).
struct TextSide {
  Tokenizer tokenizer = Tokenizer::Char;
  std::shared_ptr<const SubwordModel> src_subword, tgt_subword;
};
// Tokens of one line with a tokenizer; `model` is needed for Spm (`side` names it in the error).
std::vector<std::string> tokenize_with(Tokenizer tokenizer, const SubwordModel* model,
                                       const std::string& line, const char* side);
std::string detokenize_with(Tokenizer tokenizer, const SubwordModel* model,
                            const std::vector<std::string>& tokens, const char* side);

struct PreparedCorpus {
  TextSide side;
  Vocab src_vocab, tgt_vocab;
  // The lines as read (after the text options); train holds only the pairs the length filter
  // kept, in the order of tokens.train.
  ParallelCorpus train, valid, test;
  TaskData tokens;
  std::size_t filtered = 0;  // training pairs dropped by max_src_tokens / max_tgt_tokens
  std::size_t skipped() const { return train.skipped + valid.skipped + test.skipped; }
};

// Called with "skipped N bad training pairs (--skip-bad-lines); first: ..." after each split.
using WarningFn = std::function<void(const std::string&)>;

// Throws Error for an unknown tokenizer or a test source without its targets (or the reverse).
void check_text_pipeline(const TextPipelineOptions& options);
// Reads the files and builds the text side and the vocabularies from the training pairs.
PreparedCorpus prepare_corpus(const TextPipelineOptions& options, const WarningFn& warn = {});
// The same with the text side and vocabularies given (a resumed run keeps its checkpoint's).
PreparedCorpus prepare_corpus(const TextPipelineOptions& options, const TextSide& side,
                              const VocabPair& vocabs, const WarningFn& warn = {});

// Everything that determines the prepared data: each file's absolute path, size and FNV-1a
// checksum and every option above ("train_src", "train_src.bytes", ..., "tokenizer", ...).
std::map<std::string, std::string> corpus_signature(const TextPipelineOptions& options);
// What a checkpoint records about its data: task "files", the text options, the training files.
std::map<std::string, std::string> corpus_info(const TextPipelineOptions& options);

}  // namespace attend
