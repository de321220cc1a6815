#include "attend/decode/translate_encoded.hpp"

#include <mutex>

#include "attend/decode/decode.hpp"

namespace attend {

std::string output_text(const ModelBundle& b, const Hypothesis& h) {
  // SentencePiece models are shared by compare's threads; one decode at a time keeps that safe
  // whatever the library guarantees.
  static std::mutex spm_mutex;
  const auto tokens = b.tgt_vocab.decode(h.tokens);
  if (b.tokenizer != Tokenizer::Spm) return b.detokenize_target(tokens);
  std::lock_guard<std::mutex> lock(spm_mutex);
  return b.detokenize_target(tokens);
}

std::vector<Hypothesis> best_hypotheses(const Seq2Seq<float>& model, const std::vector<EncodedPair>& pairs,
                                        const SearchOptions& opt) {
  SearchOptions one = opt;
  one.nbest = 1;
  std::vector<std::vector<int>> sources;
  sources.reserve(pairs.size());
  for (const auto& p : pairs) sources.push_back(p.src);
  std::vector<Hypothesis> out(pairs.size());
  auto lists = decode(model, sources, one, 128);
  for (std::size_t i = 0; i < pairs.size(); ++i)
    if (!lists[i].empty()) out[i] = std::move(lists[i][0]);
  return out;
}

std::vector<std::string> translate_encoded(const ModelBundle& b, const std::vector<EncodedPair>& pairs,
                                           const SearchOptions& opt) {
  const std::vector<Hypothesis> hyps = best_hypotheses(*b.model, pairs, opt);
  std::vector<std::string> out(pairs.size());
  for (std::size_t i = 0; i < hyps.size(); ++i) out[i] = output_text(b, hyps[i]);
  return out;
}

}  // namespace attend
