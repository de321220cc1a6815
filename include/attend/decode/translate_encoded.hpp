// Decoding of encoded pairs (training validation, test sets, compare): the best hypothesis per
// source and its detokenised text.
#pragma once
#include <string>
#include <vector>

#include "attend/decode/search.hpp"
#include "attend/io/checkpoint.hpp"
#include "attend/text/batching.hpp"

namespace attend {

// The detokenised text of a hypothesis; safe to call from several threads.
std::string output_text(const ModelBundle& bundle, const Hypothesis& hypothesis);
// The best hypothesis per source: greedy in batches for beam 1, else beam search.
std::vector<Hypothesis> best_hypotheses(const Seq2Seq<float>& model, const std::vector<EncodedPair>& pairs,
                                        const SearchOptions& options);
// Detokenised best translations of encoded sources.
std::vector<std::string> translate_encoded(const ModelBundle& bundle, const std::vector<EncodedPair>& pairs,
                                           const SearchOptions& options);

}  // namespace attend
