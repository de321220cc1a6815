#include "attend/experiment/run_result.hpp"

#include "attend/eval/bleu.hpp"

namespace attend {

// ---- BLEU statistics ----------------------------------------------------------------------------

BleuStats& BleuStats::operator+=(const BleuStats& o) {
  for (std::size_t n = 0; n < 4; ++n) counts[n] += o.counts[n], totals[n] += o.totals[n];
  hyp_len += o.hyp_len;
  ref_len += o.ref_len;
  return *this;
}

BleuStats bleu_stats(const std::string& hyp, const std::string& ref, bool lowercase) {
  // corpus_bleu sums exactly these per-sentence quantities over the corpus.
  const BleuScore b = corpus_bleu({hyp}, {{ref}}, lowercase);
  BleuStats s;
  s.counts = b.counts;
  s.totals = b.totals;
  s.hyp_len = b.hyp_len;
  s.ref_len = b.ref_len;
  return s;
}

double bleu_score(const BleuStats& t) {
  return bleu_from_counts(t.counts, t.totals, t.hyp_len, t.ref_len).score;
}

// ---- end of BLEU statistics ---------------------------------------------------------------------

}  // namespace attend
