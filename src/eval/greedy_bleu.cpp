#include "attend/eval/greedy_bleu.hpp"

#include "attend/decode/translate_encoded.hpp"
#include "attend/eval/bleu.hpp"

namespace attend {

double greedy_bleu(const ModelBundle& b, const std::vector<EncodedPair>& pairs,
                   const std::vector<std::string>& references, bool lowercase) {
  return corpus_bleu(translate_encoded(b, pairs, SearchOptions{}), {references}, lowercase).score;
}

}  // namespace attend
