// Corpus chrF (Popović 2015) and chrF++ (Popović 2017) computed as sacreBLEU 2.x does by default:
// character n-grams of orders 1-6 on the sentence with its whitespace removed, word n-grams of
// orders 1-word_order (2 for chrF++) after splitting punctuation off word edges, beta 2, the
// statistics of the best reference per sentence (by that sentence's F-score) summed over the
// corpus, and the F-score of the averaged precision and recall over the orders that have both
// hypothesis and reference n-grams ("effective order"; eps_smoothing switches to chrF++.py's
// average of per-order F-scores).
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace attend {

struct ChrfOptions {
  int char_order = 6;
  int word_order = 0;  // 2: chrF++
  int beta = 2;
  bool lowercase = false;      // sacreBLEU --chrf-lowercase
  bool whitespace = false;     // keep whitespace in character n-grams
  bool eps_smoothing = false;  // average per-order F-scores, 1e-16 for an empty order
};

struct ChrfScore {
  double score = 0;  // 0 … 100
  ChrfOptions options;
  // One {hypothesis n-grams, reference n-grams, matches} per order: the character orders 1 …
  // char_order, then the word orders 1 … word_order; summed over the corpus.
  std::vector<std::array<std::size_t, 3>> statistics;
  // "chrF2", "chrF2++"
  std::string name() const;
  // "chrF2 = 59.73"
  std::string format() const;
};

// The score of already summed statistics (sacreBLEU's _compute_f_score).
double chrf_from_statistics(const std::vector<std::array<std::size_t, 3>>& statistics,
                            const ChrfOptions& options);

// refs[k][i] is the k-th reference of hypothesis i. Throws Error when there are no references or
// a reference stream's size differs from the hypotheses'.
ChrfScore corpus_chrf(const std::vector<std::string>& hyps,
                      const std::vector<std::vector<std::string>>& refs,
                      const ChrfOptions& options = {});

}  // namespace attend
