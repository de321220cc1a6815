// Where a grid's data comes from: a built-in toy task (one data set per seed) or parallel text
// files (one data set for the whole grid).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "attend/text/pipeline.hpp"
#include "attend/text/subword.hpp"
#include "attend/text/tasks.hpp"
#include "attend/text/vocab.hpp"

namespace attend {

// The splits and vocabularies one seed's runs share.
struct CompareData {
  std::vector<Example> train, valid, test;
  Vocab src_vocab, tgt_vocab;
  Tokenizer tokenizer = Tokenizer::Char;
  bool shared_vocab = false;  // src_vocab and tgt_vocab are one vocabulary (--shared-vocab)
  // Corpus data only (empty for a toy task): the SentencePiece models (Tokenizer::Spm), the
  // validation and test lines as read (after --lowercase/--normalize), which the detokenised
  // outputs are scored against with BLEU, and the source lengths in words.
  std::shared_ptr<const SubwordModel> src_subword, tgt_subword;
  std::vector<std::string> valid_ref_text, test_src_text, test_ref_text;
  int train_min_words = 0, train_max_words = 0;
  std::map<std::string, std::string> info;  // recorded in each run's checkpoint (lowercase, …)
};

// Where the data comes from. `load(seed)` is called once per seed (from any thread, never twice
// for the same seed at the same time); `signature` lists everything that determines the data (it
// goes into grid.json, so a different source is detected on resume); `alignment` names the known
// source↔output alignment of the task ("copy", "reverse", "sort", "dates"; "" = none known).
struct DataSource {
  std::string name;
  std::map<std::string, std::string> signature;
  std::string alignment;
  std::function<CompareData(std::uint64_t seed)> load;
  // When set, every seed uses this one data set and `load` is not called (a corpus: the text
  // side is built once for the whole grid).
  std::shared_ptr<const CompareData> shared;
  bool corpus = false;                 // BLEU metrics instead of exact match
  std::string description;             // one line for the reports ("" for a toy task)
  std::vector<std::string> warnings;   // e.g. pairs dropped by --skip-bad-lines
};

// A built-in toy task; the task seed is the run's seed, so each seed has its own data and every
// variant of that seed sees the same data. Vocabularies are built from the training split.
DataSource task_source(const TaskOptions& task);

// Parallel text files through the text pipeline (pipeline.hpp) that `attend train` uses; the
// test pair is required.
// Reads every file, trains the SentencePiece models and builds the vocabularies now, once: the
// returned source shares that data with every run of the grid. Throws Error for bad input. The
// signature records each file's absolute path, size and FNV-1a checksum and every text option,
// so a changed corpus is detected on resume.
DataSource corpus_source(const TextPipelineOptions& options);

}  // namespace attend
