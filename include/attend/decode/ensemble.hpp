// Ensemble decoding (docs/ensembles.md): several models that share the target vocabulary decode
// together; at every step each model's decoder runs on its own encoder memory and cache, and
// the search sees one combined log-probability per target token:
//   mean    log( (1/M) Σ_m p_m(v) )          the log of the mean probability (fairseq; default)
//   logsum  Σ_m w_m · log p_m(v)             the weighted sum of log-probabilities (Marian)
// Beam search, n-best and the length penalty work as for one model (the same algorithm as
// beam_search: 2k candidates, an end counts among the k best, stop after k ends); greedy search
// is beam 1. An ensemble of one model gives exactly that model's output (beam 1: greedy_search's).
// The models may differ in everything but the target vocabulary, so each takes the source as its
// own vocabulary encodes it; output lengths are limited by the first model's source length.
#pragma once
#include <string>
#include <vector>

#include "attend/decode/search.hpp"
#include "attend/text/batching.hpp"

namespace attend {

enum class EnsembleCombine { Mean, LogSum };
EnsembleCombine parse_ensemble_combine(const std::string& name);  // "mean" | "logsum"; Error otherwise

struct EnsembleOptions {
  EnsembleCombine combine = EnsembleCombine::Mean;
  std::vector<double> weights;  // logsum: one per model (empty = 1 each); mean ignores them
};

// sources[m][i]: source i as model m's token ids (no </s>). Returns each source's n-best list,
// best first; an empty source gets an empty list. Sources are decoded batch_size at a time in the
// given order. With keep_attention the hypotheses' `attention` is the first model's default view
// and, with more than one model, view_names / views hold every model's default view as "model 1",
// "model 2", … (keep_attention_views is not supported for ensembles and is ignored).
// Throws Error when the models' target vocabularies differ in size (callers compare the tokens),
// for invalid options, or a wrong number of weights.
template <typename T>
std::vector<std::vector<Hypothesis>> ensemble_decode(const std::vector<const Seq2Seq<T>*>& models,
                                                     const std::vector<std::vector<std::vector<int>>>& sources,
                                                     const SearchOptions& opt, const EnsembleOptions& ensemble = {},
                                                     std::size_t batch_size = 64);

// ln p(target | source) of each pair under the ensemble, </s> included: the reference fed step by
// step to every model (pairs[m][i]: pair i in model m's source ids; the targets must agree), each
// step's combined log-probability of the reference token summed. Under logsum this is the
// weighted sum of the models' scores.
template <typename T>
std::vector<double> ensemble_score(const std::vector<const Seq2Seq<T>*>& models,
                                   const std::vector<std::vector<EncodedPair>>& pairs,
                                   const EnsembleOptions& ensemble = {});

}  // namespace attend
