// The validation metric of training runs: BLEU of greedy translations.
#pragma once
#include <string>
#include <vector>

#include "attend/io/checkpoint.hpp"
#include "attend/text/batching.hpp"

namespace attend {

// Corpus BLEU of the greedy translations of `pairs` against the reference lines.
double greedy_bleu(const ModelBundle& bundle, const std::vector<EncodedPair>& pairs,
                   const std::vector<std::string>& references, bool lowercase = false);

}  // namespace attend
