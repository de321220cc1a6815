// Decoding: greedy (batched) and beam search (batched: the beams of many sources side by side).
// Beam width 1 gives exactly the greedy result. Most callers want decode() (decode.hpp), which
// picks between them and batches by length.
#pragma once
#include <string>
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
  // Also keep every view of the attention the decoder has beyond the default one (the
  // Transformer decoder: each layer's and head's cross-attention) in Hypothesis::views. Off by
  // default: decoding then pays nothing for them. Independent of keep_attention.
  bool keep_attention_views = false;
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
  // With SearchOptions::keep_attention_views, for a decoder that has views beyond the default
  // one (the Transformer decoder): their names ("layer L head H", layers and heads from 0, layer
  // by layer), and per view the rows as `attention` has them. `attention` itself stays the
  // default view, kDefaultAttentionView. Empty for a recurrent decoder.
  std::vector<std::string> view_names;
  std::vector<std::vector<std::vector<float>>> views;  // views[v][token][source position]
  // With keep_attention_views, for an encoder with self-attention: its layers' and heads' weights
  // over the source ("encoder layer L head H"), encoder_views[v][query][key], positions in their
  // original order. Empty for a recurrent encoder.
  std::vector<std::string> encoder_view_names;
  std::vector<std::vector<std::vector<float>>> encoder_views;
};

// What Hypothesis::attention is for a Transformer decoder (a recurrent decoder has one attention,
// its strategy's), and the name "mean" by which the exports and `attend translate
// --attention-view` know it.
inline constexpr const char* kDefaultAttentionView = "mean over the last layer's heads";
inline constexpr const char* kDefaultAttentionViewName = "mean";

// The rows of view `name` of h: "mean" (kDefaultAttentionViewName) is h.attention, any other name
// one of h.view_names. Throws attend::Error naming the valid views when h has no such view.
const std::vector<std::vector<float>>& attention_rows(const Hypothesis& h, const std::string& name);
// "mean, layer 0 head 0, …": the names attention_rows accepts given the views' names.
std::string attention_view_list(const std::vector<std::string>& view_names);

// The names of the views keep_attention_views collects for this model (the decoder's
// attention_views; empty for a recurrent decoder), found by running the decoder one step on a
// one-token source.
template <typename T>
std::vector<std::string> attention_view_names(const Seq2Seq<T>& model);

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
