// `attend bleu`'s inputs: hypothesis and reference lines of any bytes through the 13a tokenizer and
// corpus BLEU. The score is always a number in [0, 100] (or a refusal for mismatched line counts).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attend/core/error.hpp"
#include "attend/eval/bleu.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Lines separated by '\n'; the first NUL separates hypotheses from references.
  std::vector<std::string> hyps, refs;
  std::vector<std::string>* side = &hyps;
  std::string line;
  for (std::size_t i = 0; i <= size; ++i) {
    const char ch = i < size ? static_cast<char>(data[i]) : '\n';
    if (ch == '\n' || (ch == '\0' && side == &hyps)) {
      side->push_back(line);
      line.clear();
      if (ch == '\0') side = &refs;
    } else {
      line.push_back(ch);
    }
  }
  if (refs.empty()) refs = hyps;
  refs.resize(hyps.size());
  try {
    const attend::BleuScore s = attend::corpus_bleu(hyps, {refs});
    if (!(s.score >= 0 && s.score <= 100.0000001)) __builtin_trap();
  } catch (const attend::Error&) {
  }
  return 0;
}
