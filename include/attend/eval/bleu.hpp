// Corpus BLEU-4 computed as sacreBLEU 2.x does by default: the 13a tokenizer (mteval-v13a),
// n-gram counts clipped by the largest count in any one reference, the closest reference length
// per sentence (ties: the shorter), the brevity penalty on corpus totals, and 'exp' smoothing
// (the mteval/NIST method: the k-th n-gram order with no match gets precision 1 / (2^k · total)).
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace attend {

// sacreBLEU's tokenizer '13a': unescapes &quot; &amp; &lt; &gt;, drops <skipped>, splits off
// punctuation and symbols, periods and commas unless beside a digit, and a dash after a digit;
// returns the tokens joined by single spaces.
std::string tokenize_13a(const std::string& line);

struct BleuScore {
  double score = 0;                       // 0 … 100
  std::array<double, 4> precisions{};     // percent, after smoothing
  std::array<std::size_t, 4> counts{};    // clipped matching n-grams
  std::array<std::size_t, 4> totals{};    // hypothesis n-grams
  double bp = 0, ratio = 0;
  std::size_t hyp_len = 0, ref_len = 0;
  // "BLEU = 35.21 67.2/42.0/28.9/20.1 (BP = 0.987 ratio = 0.987 hyp_len = 1234 ref_len = 1250)"
  std::string format() const;
};

// BLEU from sufficient statistics, with exp smoothing (sacreBLEU's compute_bleu).
BleuScore bleu_from_counts(const std::array<std::size_t, 4>& counts,
                           const std::array<std::size_t, 4>& totals, std::size_t hyp_len,
                           std::size_t ref_len);

// refs[k][i] is the k-th reference of hypothesis i (one vector per reference file). Throws Error
// when there are no references or a reference stream's size differs from the hypotheses'.
// `lowercase` lower-cases hypotheses and references first (sacreBLEU -lc).
BleuScore corpus_bleu(const std::vector<std::string>& hyps,
                      const std::vector<std::vector<std::string>>& refs, bool lowercase = false);

}  // namespace attend
