// The Transformer decoder's cross-attention (internal; DESIGN §6b, docs/transformer.md): the
// block of nn.MultiheadAttention(H, heads) over the encoder memory M, with the score of each head
// a plug-in.
//   [q'; k; v] = in_proj_weight [x; m; m] + in_proj_bias   (row blocks of the 3H × H weight)
//   head i (d_k = H / heads wide): a_i = score_i(q'_i, k_i) normalised over the real source
//   positions, o_i = Σ_j a_ij v_ij;   out = out_proj.weight [o_1; …; o_heads] + out_proj.bias
// `multihead` (the default) scores q'_iᵀ k_ij / √d_k, exactly nn.MultiheadAttention. Any strategy
// whose traits say per_head instead gives each head its own instance, built with hidden = d_k
// under <prefix>heads.<i>., whose weights (Attention::forward_weights) replace the softmax.
#pragma once
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "attend/nn/attention.hpp"
#include "attend/nn/transformer.hpp"

namespace attend {

template <typename T>
struct CrossAttentionState {
  CrossAttentionState() = default;
  CrossAttentionState(const CrossAttentionState&) = delete;  // move-only: vectors of it move
  CrossAttentionState(CrossAttentionState&&) = default;
  CrossAttentionState& operator=(CrossAttentionState&&) = default;

  Mat<T> KV, dKV;  // [k; v] of the memory (2H × B·S, batch-major) and its gradient
  bool dkv_live = false;  // dKV holds this batch's gradient (kept allocated from batch to batch)
  Mat<T> Q, dQ;    // q' of the queries of the last call (H × n·B) and its gradient
  Mat<T> ctx;      // [o_1; …; o_heads] (H × n·B)
  std::size_t t0 = 0, n = 0;  // the steps the last call ran: t0 … t0 + n − 1
  // multihead: per example·head (b·heads + i) the weights (S_b × n) and their dropout masks
  std::vector<Mat<T>> attn, attn_mask;
  // per-head strategies: each head's keys (d_k × B·S), their gradient, the strategy's states
  // (batch; one per step) and the weights of the last call (S × n·B) with their dropout masks
  std::vector<Mat<T>> keys, dkeys, weights, weight_mask;
  std::vector<std::unique_ptr<AttentionState>> batch;
  std::vector<std::vector<std::unique_ptr<AttentionState>>> steps;
  Mat<T> scratch, da, dctx, qh, dqh, w, dw;
  ColumnGather<T> gather;
  Columns cols;         // the query positions the last call projected (empty: all)
  Columns memory_cols;  // the real memory positions, whose k and v prepare computed (empty: all)
  Mat<T> g_in, g_out;
};

template <typename T>
class CrossAttention {
 public:
  CrossAttention(ParameterRegistry<T>& params, const ModelConfig& config, const std::string& prefix);
  std::size_t heads() const { return heads_; }

  // Once per batch (and again after the memory changes): k and v of the memory; states for up to
  // T_max steps.
  void prepare(const Memory<T>& m, std::size_t T_max, CrossAttentionState<T>& s) const;
  // Steps t0 … t0+n−1 at once: x (H × n·B, column (t − t0)·B + b) → out (H × n·B). cols: the
  // positions whose q' and output are computed (0 at the others).
  void forward(const Mat<T>& x, std::size_t t0, const Memory<T>& m, CrossAttentionState<T>& s,
               Mat<T>& out, std::mt19937_64* rng, const Columns* cols = nullptr) const;
  // The weights of head i at step t0 + step of the last call, S × B.
  void head_weights(const CrossAttentionState<T>& s, const Memory<T>& m, std::size_t step,
                    std::size_t i, Mat<T>& out) const;
  // After a forward over every step: dout → dx (overwritten); accumulates parameter gradients
  // and s.dKV.
  void backward(const Mat<T>& dout, const Mat<T>& x, const Memory<T>& m, CrossAttentionState<T>& s,
                Mat<T>& dx) const;
  // After backward: the gradient through k and v into dmemory (H × B·S, accumulated).
  void finish_backward(const Memory<T>& m, CrossAttentionState<T>& s, Mat<T>& dmemory) const;

 private:
  ParameterRegistry<T>& params_;
  std::size_t H_, heads_, dk_;
  double dropout_;
  std::size_t in_w_, in_b_, out_w_, out_b_;
  std::vector<std::unique_ptr<Attention<T>>> scores_;  // per head; empty for multihead
};

}  // namespace attend
