// The one way to decode a list of sources: everything that translates (attend translate, eval,
// training validation, compare, the Translator) calls decode().
#pragma once
#include <vector>

#include "attend/decode/search.hpp"

namespace attend {

// For each source (token ids, no </s>), its n-best list, best first, in the order of `sources`:
// greedy search when opt.beam == 1 (one hypothesis), batched beam search otherwise (up to
// opt.nbest hypotheses). An empty source gets an empty list. Throws attend::Error when the
// options are not valid (SearchOptions::validate).
// Sources are decoded batch_size at a time, sorted by length (then by their tokens, so a batch
// does not depend on the input order); the results do not depend on batch_size beyond float
// rounding of the matrix products (OpenBLAS rounds a column differently with the number of
// columns). ws: reused buffers (optional).
template <typename T>
std::vector<std::vector<Hypothesis>> decode(const Seq2Seq<T>& model,
                                            const std::vector<std::vector<int>>& sources,
                                            const SearchOptions& opt, std::size_t batch_size = 64,
                                            Workspace<T>* ws = nullptr);

}  // namespace attend
