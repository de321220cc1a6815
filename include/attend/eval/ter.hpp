// Corpus TER (Snover et al. 2006) computed as sacreBLEU 2.x does by default (its tercom
// re-implementation): lower-cased unless case_sensitive, words split at whitespace, no tercom
// normalisation; per sentence the fewest edits over the references (insertions, deletions,
// substitutions and block shifts, each costing 1) and the average reference length; the score is
// the summed edits over the summed lengths. Shifts are searched greedily as tercom does: blocks of
// at most 10 words moved at most 50 positions, an edit distance on a beam of 25 around the
// diagonal, at most 1000 shift candidates per sentence.
#pragma once
#include <string>
#include <vector>

namespace attend {

struct TerOptions {
  bool case_sensitive = false;  // sacreBLEU --ter-case-sensitive
  bool no_punct = false;        // sacreBLEU --ter-no-punct: drop . , ? : ; ! " ( )
};

struct TerScore {
  double score = 0;       // 0 … (can exceed 100)
  double num_edits = 0;   // summed over sentences
  double ref_length = 0;  // summed average reference lengths
  TerOptions options;
  // "TER = 13.60"
  std::string format() const;
};

// Edits (shifts plus the edit distance after them) turning hyp into ref, as sacreBLEU's
// translation_edit_rate; an empty reference costs one deletion per hypothesis word.
std::size_t ter_edits(const std::vector<std::string>& hyp, const std::vector<std::string>& ref);

// refs[k][i] is the k-th reference of hypothesis i. Throws Error when there are no references or
// a reference stream's size differs from the hypotheses'.
TerScore corpus_ter(const std::vector<std::string>& hyps,
                    const std::vector<std::vector<std::string>>& refs,
                    const TerOptions& options = {});

}  // namespace attend
