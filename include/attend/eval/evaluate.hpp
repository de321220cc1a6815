// Metrics of a model on a data set: teacher-forced loss, perplexity, token accuracy and, when
// decoding, exact match of the decoded output (decode(): greedy, or beam search with search.beam > 1).
#pragma once
#include <vector>

#include "attend/decode/search.hpp"
#include "attend/nn/seq2seq.hpp"
#include "attend/text/batching.hpp"

namespace attend {

struct EvalResult {
  double loss = 0;               // mean cross-entropy per target token (</s> included)
  double perplexity = 0;
  double token_accuracy = 0;     // teacher-forced argmax accuracy over target tokens
  double exact_match = -1;       // decoded output equals the reference; −1 when not decoded
  std::size_t examples = 0, tokens = 0;
  std::vector<Hypothesis> hypotheses;  // the best hypothesis of each example when decoded, in data order
};

// batch: examples per batch, for the loss and for decoding.
EvalResult evaluate(const Seq2Seq<float>& model, const std::vector<EncodedPair>& data,
                    std::size_t batch, bool decode, const SearchOptions& search = {});

}  // namespace attend
