// Built-in decoders (internal): the recurrent decoder (DESIGN §6) and the Transformer decoder
// (DESIGN §6b). Both are reached through the decoder registry (decoder_registry.cpp).
#pragma once
#include "attend/nn/decoder.hpp"
#include "attend/nn/encoder.hpp"
#include "nn/cross_attention.hpp"

namespace attend {

// One step at a time over L recurrent layers. Styles (DESIGN §6):
//   bahdanau: c_t = attn(s_{t−1}, H); s_t = cell([E y_{t−1}; c_t], s_{t−1}); o_t = [s_t; c_t; E y_{t−1}]
//   luong:    h_t = cell([E y_{t−1}; h̃_{t−1}], h_{t−1}); c_t = attn(h_t, H); h̃_t = tanh(W_c [c_t; h_t]); o_t = h̃_t
//             (--luong-output linear: h̃_t = W_c [c_t; h_t])
//   none:     h_t = cell(E y_{t−1}, h_{t−1}); o_t = h_t
//   logits_t = W_out o_t + b_out (one GEMM over all steps of a batch when they are known)
template <typename T>
struct RecurrentDecoderState : DecoderState {
  Mat<T> EY, emb_mask;                  // emb × T·B
  std::vector<SequenceCache<T>> layer;  // per layer; state slot t+1 = after step t
  std::vector<Mat<T>> layer_in, layer_mask;  // per layer ≥ 1: its input (after dropout)
  Mat<T> CTX;                           // H × T·B context vectors
  Mat<T> HT;                            // luong: h̃, H × (T+1)·B, slot 0 = 0
  Mat<T> CAT;                           // luong: [c_t; h_t], 2H × T·B
  Mat<T> O;                             // output-layer inputs, in × T·B
  // The attention strategy's states, one per decoder step, reused across batches.
  std::unique_ptr<AttentionState> batch;
  std::vector<std::unique_ptr<AttentionState>> steps;
  Mat<T> dcat, dctx, dq, dtop, dxin;    // backward scratch
};

template <typename T>
class RecurrentDecoder final : public Decoder<T> {
 public:
  RecurrentDecoder(ParameterRegistry<T>& params, const ModelConfig& config, const Cell<T>& cell);

  void begin(const Memory<T>& memory, const std::vector<Mat<T>>& h0, const std::vector<Mat<T>>& c0,
             std::size_t T_max, DecoderCache<T>& cache, std::mt19937_64* rng) const override;
  void teacher_forced(const arma::umat& tokens, DecoderCache<T>& cache) const override;
  void step(std::size_t t, const arma::uword* tokens, DecoderCache<T>& cache) const override;
  void logits(std::size_t t0, std::size_t n, const DecoderCache<T>& cache, Mat<T>& out) const override;
  void backward(const Mat<T>& dlogits, std::size_t steps, const arma::umat& tokens,
                DecoderCache<T>& cache, Mat<T>& dmemory, std::vector<Mat<T>>& dh0,
                std::vector<Mat<T>>& dc0) const override;
  void reorder(std::size_t t, const std::vector<std::size_t>& parents, DecoderCache<T>& cache) const override;
  void keep_columns(std::size_t t, const std::vector<std::size_t>& keep, const Memory<T>& memory,
                    std::size_t T_max, DecoderCache<T>& cache) const override;
  void add_statistics(const Lengths& tgt_len, std::size_t steps, const DecoderCache<T>& cache,
                      ForwardStatistics& out) const override;

 private:
  std::size_t output_input_size() const;

  ParameterRegistry<T>& params_;
  ModelConfig config_;
  DecoderStyle style_;
  std::size_t embedding_, w_c_ = 0, out_w_, out_b_;
  std::vector<RecurrentLayer<T>> layers_;
  std::unique_ptr<Attention<T>> attention_;
};

// The Transformer decoder (DESIGN §6b): x⁰ = E y · √H + PE(t), dropout; L layers of PyTorch 1.13's
// nn.TransformerDecoderLayer(H, self_heads, ffn, dropout, activation, norm_first):
//   post-norm: x₁ = norm1(x + drop(SA(x))), x₂ = norm2(x₁ + drop(CA(x₁, M))), y = norm3(x₂ + drop(FF(x₂)))
//   pre-norm:  x₁ = x + drop(SA(norm1(x))), x₂ = x₁ + drop(CA(norm2(x₁), M)), y = x₂ + drop(FF(norm3(x₂)))
//              and a final LayerNorm after the stack;
// SA: causal multi-head self-attention; CA: CrossAttention; logits_t = W_out y_t + b_out
// (W_out = the embedding's transpose with --tie-embeddings).
template <typename T>
struct TransformerDecoderLayerCache {
  // sa.qkv holds the [q; k; v] of every step so far (3H × T_max·B, column t·B + b): decoding
  // reads the keys and values of the earlier steps there.
  SelfAttentionCache<T> sa;
  CrossAttentionState<T> cross;
  FeedForwardCache<T> ff;
  Mat<T> a_in, x1, c_in, x2, f_in;      // block inputs and outputs (see the equations above)
  Mat<T> drop1, drop2, drop3;           // dropout masks on the blocks' outputs (empty without)
  Mat<T> hat1, hat2, hat3;
  arma::Row<T> rstd1, rstd2, rstd3;
  Mat<T> d, dr, scratch;  // backward: gradients, kept allocated from batch to batch
  Mat<T> dx;              // backward: this layer's gradient on its input, read by the layer below
};

template <typename T>
class TransformerDecoderLayer {
 public:
  TransformerDecoderLayer(ParameterRegistry<T>& params, const ModelConfig& config, const std::string& prefix);
  void initialize() const;
  const CrossAttention<T>& cross() const { return cross_; }

  void begin(const Memory<T>& memory, std::size_t T_max, TransformerDecoderLayerCache<T>& c) const;
  // Steps t0 … t0+n−1 (x: H × n·B) → y; the steps before t0 ran earlier in this batch.
  // cols (t0 = 0): the positions computed (see Columns); the blocks' outputs are 0 at the others.
  void forward(const Mat<T>& x, std::size_t t0, const Memory<T>& memory, TransformerDecoderLayerCache<T>& c,
               Mat<T>& y, std::mt19937_64* rng, const Columns* cols = nullptr) const;
  // After a forward over all steps from 0: dy → dx; accumulates parameter gradients and the
  // cross-attention's key / value gradient.
  void backward(const Mat<T>& dy, const Memory<T>& memory, TransformerDecoderLayerCache<T>& c, Mat<T>& dx) const;

 private:
  ParameterRegistry<T>& params_;
  TransformerShape shape_;
  SelfAttention<T> sa_;
  CrossAttention<T> cross_;
  FeedForward<T> ff_;
  std::size_t n1_w_, n1_b_, n2_w_, n2_b_, n3_w_, n3_b_;
};

template <typename T>
struct TransformerDecoderState : DecoderState {
  Mat<T> X0, emb_mask;                 // embedded inputs of the last call (H × n·B), dropout mask
  std::vector<Mat<T>> outs;            // per layer: its output for the last call
  std::vector<TransformerDecoderLayerCache<T>> layers;
  Mat<T> Y;                            // the stack's output of every step (H × T_max·B)
  Mat<T> hat, top;                     // final norm (norm_first): normalised input; its input
  arma::Row<T> rstd;
  Mat<T> pe;                           // sinusoidal positions, H × T_max
  Mat<T> w;                            // scratch: one head's weights
  Mat<T> dl_live, y_live, d_live;      // backward: the non-zero columns of dlogits, their inputs, gradient
  bool packed = false;                 // the last call was teacher_forced over DecoderCache::real only
  Mat<T> dy, dnorm;                    // backward: the gradient on the stack's output (before the final norm)
};

template <typename T>
class TransformerDecoder final : public Decoder<T> {
 public:
  TransformerDecoder(ParameterRegistry<T>& params, const ModelConfig& config, const Cell<T>& cell);
  void initialize() const override;

  void begin(const Memory<T>& memory, const std::vector<Mat<T>>& h0, const std::vector<Mat<T>>& c0,
             std::size_t T_max, DecoderCache<T>& cache, std::mt19937_64* rng) const override;
  void teacher_forced(const arma::umat& tokens, DecoderCache<T>& cache) const override;
  void step(std::size_t t, const arma::uword* tokens, DecoderCache<T>& cache) const override;
  void logits(std::size_t t0, std::size_t n, const DecoderCache<T>& cache, Mat<T>& out) const override;
  void backward(const Mat<T>& dlogits, std::size_t steps, const arma::umat& tokens,
                DecoderCache<T>& cache, Mat<T>& dmemory, std::vector<Mat<T>>& dh0,
                std::vector<Mat<T>>& dc0) const override;
  void reorder(std::size_t t, const std::vector<std::size_t>& parents, DecoderCache<T>& cache) const override;
  void keep_columns(std::size_t t, const std::vector<std::size_t>& keep, const Memory<T>& memory,
                    std::size_t T_max, DecoderCache<T>& cache) const override;
  std::vector<AttentionView<T>> attention_views(std::size_t t, const DecoderCache<T>& cache) const override;

 private:
  // Embeds tokens (t0 … t0+n−1, n·B of them, column (t − t0)·B + b) and runs the stack.
  void run(const arma::uword* tokens, std::size_t t0, std::size_t n, DecoderCache<T>& cache,
           const Columns* cols = nullptr) const;

  ParameterRegistry<T>& params_;
  ModelConfig config_;
  std::size_t embedding_, out_w_ = 0, out_b_, norm_w_ = 0, norm_b_ = 0;
  std::vector<TransformerDecoderLayer<T>> layers_;
};

// The registry entry's traits (decoder_transformer.cpp): checks, and the GEMMs per target step.
DecoderTraits transformer_decoder_traits();

}  // namespace attend
