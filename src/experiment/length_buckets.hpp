// Source-length buckets of a grid's test sentences (internal): the summary's per-bucket figures
// and the HTML page's exact match per length.
#pragma once
#include <cstddef>
#include <vector>

#include "attend/experiment/summary.hpp"

namespace attend {

// Exact match (0–1) of the run's test sentences whose source length is in [lo, hi]; NaN when
// there are none.
double bucket_em(const RunResult& r, int lo, int hi);
// Corpus BLEU of the test sentences whose source length is in [lo, hi]; NaN when there are none.
double bucket_bleu(const RunResult& r, int lo, int hi);
// Buckets holding about equal numbers of sentences: the k-th ends at the k/B quantile.
std::vector<LengthBucket> quantile_buckets(std::vector<int> lengths, std::size_t max_buckets);

}  // namespace attend
