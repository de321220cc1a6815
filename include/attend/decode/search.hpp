// Decoding: greedy (batched) and beam search (batched: the beams of many sources side by side).
// Beam width 1 gives exactly the greedy result. Most callers want decode() (decode.hpp), which
// picks between them and batches by length.
#pragma once
#include <vector>

#include "attend/nn/seq2seq.hpp"

namespace attend {

struct SearchOptions {
  std::size_t beam = 1;
  std::size_t nbest = 1;
  double length_penalty = 0.0;  // α of GNMT's lp(Y) = ((5 + |Y|) / 6)^α; 0 = raw log-probability
  double max_len_ratio = 2.0;   // at most ratio · source length + max_len_extra output tokens
  std::size_t max_len_extra = 10;
  bool keep_attention = false;
  bool stop_at_eos = true;      // false: </s> is an ordinary token (fixed-length decoding, benchmarks)

  // What decode() accepts: beam and nbest at least 1, nbest no more than beam, max_len_ratio
  // positive. Throws attend::Error naming the option as the command line spells it ("--beam").
  void validate() const;
};

struct Hypothesis {
  std::vector<int> tokens;      // without </s>
  double log_prob = 0;          // Σ log p over the emitted tokens, </s> included when finished
  double score = 0;             // log_prob / lp(length)
  bool finished = false;        // ended with </s> (else stopped at the length limit)
  std::vector<std::vector<float>> attention;  // per emitted token (</s> included): weights over
                                              // the source positions in their original order
};

std::size_t max_output_length(std::size_t src_len, const SearchOptions& opt);

// One hypothesis per example of src (S × B ids, lengths len).
template <typename T>
std::vector<Hypothesis> greedy_search(const Seq2Seq<T>& model, const arma::umat& src,
                                      const Lengths& len, const SearchOptions& opt,
                                      Workspace<T>& ws);

// For each example of src (S × B ids, lengths len): its nbest best hypotheses, best first
// (beam 0 is refused; a fixed-length search may set max_len_ratio 0).
// All B·k hypotheses run as columns of one decoder batch; a source whose search has ended
// leaves the batch. Each source's result is the one it gets decoded alone: the k best of 2k
// candidates per step, an end (</s>) counts only among the k best, stop after k ends.
template <typename T>
std::vector<std::vector<Hypothesis>> beam_search(const Seq2Seq<T>& model, const arma::umat& src,
                                                 const Lengths& len, const SearchOptions& opt,
                                                 Workspace<T>& ws);

// The nbest best hypotheses for one source (token ids), best first.
template <typename T>
std::vector<Hypothesis> beam_search(const Seq2Seq<T>& model, const std::vector<int>& src,
                                    const SearchOptions& opt, Workspace<T>& ws);

}  // namespace attend
