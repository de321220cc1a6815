#include "attend/eval/evaluate.hpp"

#include <cmath>

namespace attend {

EvalResult evaluate(const Seq2Seq<float>& model, const std::vector<EncodedPair>& data,
                    std::size_t batch, bool decode, const SearchOptions& search) {
  EvalResult r;
  Workspace<float> ws;
  double nll = 0;
  std::size_t correct = 0, exact = 0;
  if (decode) r.hypotheses.resize(data.size());
  for (const auto& idx : sequential_batches(data.size(), batch)) {
    const Batch b = make_batch(data, idx);
    const LossStats s = model.loss(b, ws);
    nll += s.nll_sum;
    correct += s.correct;
    r.tokens += s.tokens;
    if (!decode) continue;
    auto hyps = greedy_search(model, b.src, b.src_len, search, ws);
    for (std::size_t i = 0; i < idx.size(); ++i) {
      const auto& ref = data[idx[i]].tgt;
      exact += hyps[i].finished && hyps[i].tokens == ref;
      r.hypotheses[idx[i]] = std::move(hyps[i]);
    }
  }
  r.examples = data.size();
  r.loss = r.tokens ? nll / r.tokens : 0;
  r.perplexity = std::exp(r.loss);
  r.token_accuracy = r.tokens ? double(correct) / r.tokens : 0;
  if (decode) r.exact_match = data.empty() ? 0 : double(exact) / data.size();
  return r;
}

}  // namespace attend
