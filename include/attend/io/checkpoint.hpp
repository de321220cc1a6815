// A trained model on disk: configuration, vocabularies, tokenizer and parameters under their
// PyTorch state_dict names in one safetensors file (docs/checkpoint.md).
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attend/text/corpus.hpp"
#include "attend/nn/seq2seq.hpp"
#include "attend/text/subword.hpp"
#include "attend/train/trainer.hpp"
#include "attend/text/vocab.hpp"

namespace attend {

struct ModelBundle {
  std::unique_ptr<Seq2Seq<float>> model;
  Vocab src_vocab, tgt_vocab;
  Tokenizer tokenizer = Tokenizer::Char;
  std::map<std::string, std::string> info;  // free-form facts: task, steps trained, metrics
  // Tokenizer::Spm only: the SentencePiece models of each side (the same object when the
  // vocabulary is shared). Saved inside the checkpoint.
  std::shared_ptr<const SubwordModel> src_subword, tgt_subword;
  // Where training stood when this file was saved (attend train --resume); absent in files
  // written outside a training run.
  std::optional<TrainState> train_state;

  // Text <-> tokens with this bundle's tokenizer (SentencePiece for Spm).
  std::vector<std::string> tokenize_source(const std::string& line) const;
  std::vector<std::string> tokenize_target(const std::string& line) const;
  std::string detokenize_source(const std::vector<std::string>& tokens) const;
  std::string detokenize_target(const std::vector<std::string>& tokens) const;
};


// Atomic: a failed save leaves an existing file untouched.
void save_model(const std::string& path, const ModelBundle& bundle);
// Throws attend::Error naming the path and the problem for a missing, empty, foreign, damaged
// or inconsistent file (wrong shapes, missing or unexpected tensors, vocabulary mismatch).
ModelBundle load_model(const std::string& path);
// The same from a checkpoint already read (`what` names it in errors): what load_model checks
// after the file format, for checkpoints that come from memory (fuzzing, other containers).
struct CheckpointFile;
ModelBundle bundle_from_checkpoint(const CheckpointFile& checkpoint, const std::string& what);

}  // namespace attend
