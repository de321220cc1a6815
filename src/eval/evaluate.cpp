#include "attend/eval/evaluate.hpp"

#include <cmath>

#include "attend/decode/decode.hpp"

namespace attend {

EvalResult evaluate(const Seq2Seq<float>& model, const std::vector<EncodedPair>& data,
                    std::size_t batch, bool decode_outputs, const SearchOptions& search) {
  EvalResult r;
  Workspace<float> ws;
  double nll = 0;
  std::size_t correct = 0;
  for (const auto& idx : sequential_batches(data.size(), batch)) {
    const LossStats s = model.loss(make_batch(data, idx), ws);
    nll += s.nll_sum;
    correct += s.correct;
    r.tokens += s.tokens;
  }
  r.examples = data.size();
  r.loss = r.tokens ? nll / r.tokens : 0;
  r.perplexity = std::exp(r.loss);
  r.token_accuracy = r.tokens ? double(correct) / r.tokens : 0;
  if (!decode_outputs) return r;
  std::vector<std::vector<int>> sources(data.size());
  for (std::size_t i = 0; i < data.size(); ++i) sources[i] = data[i].src;
  SearchOptions best_only = search;
  best_only.nbest = 1;
  auto lists = decode(model, sources, best_only, batch, &ws);
  r.hypotheses.resize(data.size());
  std::size_t exact = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (lists[i].empty()) continue;
    r.hypotheses[i] = std::move(lists[i][0]);
    exact += r.hypotheses[i].finished && r.hypotheses[i].tokens == data[i].tgt;
  }
  r.exact_match = data.empty() ? 0 : double(exact) / data.size();
  return r;
}

}  // namespace attend
