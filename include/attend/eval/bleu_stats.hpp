// Per-sentence sufficient statistics of corpus BLEU (bleu.hpp), for corpus BLEU over any subset
// of a test set: the paired bootstrap (significance.hpp) and BLEU by source length.
#pragma once
#include <array>
#include <cstddef>
#include <string>

namespace attend {

// Sufficient statistics of corpus BLEU (bleu.hpp) for one test sentence: clipped n-gram matches,
// hypothesis n-grams and the two lengths. Summed over any set of sentences they give that set's
// corpus BLEU (bleu_from_counts), which is what bootstrap resampling and BLEU by length need.
struct BleuStats {
  std::array<std::size_t, 4> counts{}, totals{};
  std::size_t hyp_len = 0, ref_len = 0;
  BleuStats& operator+=(const BleuStats& o);
};
BleuStats bleu_stats(const std::string& hyp, const std::string& ref, bool lowercase = false);
// Corpus BLEU (0–100) of the summed statistics.
double bleu_score(const BleuStats& total);

}  // namespace attend
