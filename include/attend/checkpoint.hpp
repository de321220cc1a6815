// A trained model on disk: configuration, vocabularies, tokenizer and parameters under their
// PyTorch state_dict names in one HDF5 file (docs/checkpoint.md).
#pragma once
#include <map>
#include <memory>
#include <string>

#include "attend/seq2seq.hpp"
#include "attend/vocab.hpp"

namespace attend {

struct ModelBundle {
  std::unique_ptr<Seq2Seq<float>> model;
  Vocab src_vocab, tgt_vocab;
  Tokenizer tokenizer = Tokenizer::Char;
  std::map<std::string, std::string> info;  // free-form facts: task, steps trained, metrics
};

// Atomic: a failed save leaves an existing file untouched.
void save_model(const std::string& path, const ModelBundle& bundle);
// Throws attend::Error naming the path and the problem for a missing, empty, foreign, damaged
// or inconsistent file (wrong shapes, missing or unexpected tensors, vocabulary mismatch).
ModelBundle load_model(const std::string& path);

}  // namespace attend
