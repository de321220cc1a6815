// A self-attention (Transformer encoder) layer with the semantics and state_dict names of
// PyTorch 1.13's nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
// norm_first), batch_first = False, over sequences stored as column blocks (encoder.hpp): a
// (d_model × S·B) matrix whose block t holds time step t of every example. Source positions at
// or past an example's length are keys nobody attends to (src_key_padding_mask); their own
// outputs are computed as PyTorch computes them and are never read by the model.
#pragma once
#include <random>
#include <string>
#include <vector>

#include "attend/core/params.hpp"
#include "attend/nn/attention.hpp"

namespace attend {

using Lengths = std::vector<arma::uword>;
// The positions a pass computes in its position-wise products: columns t·B + b, in order; empty
// means every column. Training leaves out padded positions nothing reads: a block's output there
// is 0, and its backward ignores the gradient there (the output is a constant).
using Columns = std::vector<std::size_t>;

// Inverted dropout (defined with the recurrent encoder): mask entries are 0 or 1/(1−p).
template <typename T>
void dropout_mask(Mat<T>& mask, std::size_t rows, std::size_t cols, double p, std::mt19937_64& rng);

struct TransformerShape {
  std::size_t width = 0;  // d_model
  std::size_t heads = 1;  // nhead; divides width
  std::size_t ffn = 0;    // dim_feedforward
  bool norm_first = false;
  bool gelu = false;      // exact gelu 0.5·x·(1 + erf(x/√2)), else relu
  double dropout = 0.0;
};

// Scratch of a backward pass that skips the all-zero columns of a gradient (padded positions
// carry exact zeros): the other columns' indices and their gathered copies.
template <typename T>
struct ColumnGather {
  std::vector<std::size_t> live;
  Mat<T> d, x, dx;
};

// Multi-head self-attention, nn.MultiheadAttention(H, heads) with query = key = value:
//   [q; k; v] = in_proj_weight x + in_proj_bias (3H × H, packed),
//   head i: a_i = softmax(q_iᵀ k_ij / √d_k) over the keys a position sees, dropout on a_i,
//   o_i = Σ_j a_ij v_ij;  out = out_proj.weight [o_1; …; o_heads] + out_proj.bias.
// Example b's position t is column t·B + b, so one head's queries, keys and values of one example
// are read in place with leading dimension 3H·B (transformer_parts.hpp, HeadBlock).
template <typename T>
struct SelfAttentionCache {
  Mat<T> qkv;                     // [q; k; v], 3H × (positions)·B; a decoder keeps earlier steps here
  std::vector<Mat<T>> attn;       // per example·head (b·heads + h): keys × queries softmax weights
  std::vector<Mat<T>> attn_mask;  // their dropout masks (empty without dropout)
  Mat<T> ctx;                     // heads concatenated, H × n·B
  Mat<T> dqkv, dctx, scratch, da;
  ColumnGather<T> gather;
  Columns cols;                   // the positions the last forward projected (empty: all)
  Mat<T> g_in, g_out;             // their gathered inputs and products
};

template <typename T>
class SelfAttention {
 public:
  // Declares <prefix>in_proj_weight (3H × H), in_proj_bias, out_proj.weight, out_proj.bias.
  SelfAttention(ParameterRegistry<T>& params, const std::string& prefix, std::size_t width, std::size_t heads);
  // Positions t0 … t0+n−1 of B examples (in: H × n·B) → out (H × n·B). len: example b's keys are
  // its len[b] real positions (src_key_padding_mask); nullptr: causal, position t sees keys
  // 0 … t, those before t0 read from c.qkv where earlier calls left them.
  // cols (t0 = 0 only): the positions whose q, k, v and output are computed; the others get 0.
  void forward(const Mat<T>& in, std::size_t t0, std::size_t B, const Lengths* len, double dropout,
               SelfAttentionCache<T>& c, Mat<T>& out, std::mt19937_64* rng,
               const Columns* cols = nullptr) const;
  // After a forward from t0 = 0 over every position: dout → din (overwritten); accumulates the
  // parameter gradients.
  void backward(const Mat<T>& dout, const Mat<T>& in, std::size_t B, const Lengths* len,
                SelfAttentionCache<T>& c, Mat<T>& din) const;

 private:
  ParameterRegistry<T>& params_;
  std::size_t width_, heads_;
  std::size_t in_w_, in_b_, out_w_, out_b_;
};

// The position-wise feed-forward block, linear2(drop(act(linear1(x)))), act relu or the exact
// gelu: <prefix>linear1.weight/bias (F × H, F), linear2.weight/bias (H × F, H).
template <typename T>
struct FeedForwardCache {
  Mat<T> pre, act;  // linear1's output (gelu only; empty with relu); the activation (after dropout)
  Mat<T> drop;      // dropout mask (empty without dropout)
  Mat<T> dpre;      // backward: the gradient on pre
  // backward over the positions whose gradient is not all zero: their columns, gathered
  std::vector<std::size_t> live;
  Mat<T> g_dout, g_act, g_in, g_pre, g_drop, g_din;
  Columns cols;  // the positions the last forward computed (empty: all); pre, act, drop, g_in hold only those
  Mat<T> g_out;
};

template <typename T>
class FeedForward {
 public:
  FeedForward(ParameterRegistry<T>& params, const std::string& prefix, std::size_t width, std::size_t ffn);
  // cols: the positions computed; out is 0 at the others.
  void forward(const Mat<T>& in, bool gelu, double dropout, FeedForwardCache<T>& c, Mat<T>& out,
               std::mt19937_64* rng, const Columns* cols = nullptr) const;
  void backward(const Mat<T>& dout, const Mat<T>& in, bool gelu, FeedForwardCache<T>& c, Mat<T>& din) const;

 private:
  ParameterRegistry<T>& params_;
  std::size_t l1_w_, l1_b_, l2_w_, l2_b_;
};

template <typename T>
struct TransformerLayerCache {
  std::size_t S = 0, B = 0;
  Lengths len;
  Mat<T> a_in;                    // self-attention input: x, or norm1(x) with norm_first
  SelfAttentionCache<T> sa;
  Mat<T> drop1, drop2;            // dropout masks (empty without dropout)
  Mat<T> x1;                      // after the self-attention block (and norm1 unless norm_first)
  Mat<T> f_in;                    // feed-forward input: x1, or norm2(x1) with norm_first
  FeedForwardCache<T> ff;
  Mat<T> hat1, hat2;              // normalised inputs of norm1, norm2
  arma::Row<T> rstd1, rstd2;      // 1/√(var + ε) per column
  Mat<T> d1, d2, d3, scratch;     // backward: gradients, kept allocated from batch to batch
  Mat<T> dx;                      // the stack's backward: this layer's gradient on its input
  Columns cols;                   // the positions its blocks computed (empty: all)
};

template <typename T>
class TransformerLayer {
 public:
  // Declares <prefix>self_attn.in_proj_weight (3H × H), .in_proj_bias, .out_proj.weight/bias,
  // linear1.weight/bias (F × H, F), linear2.weight/bias (H × F, H), norm1/norm2.weight/bias (H).
  TransformerLayer(ParameterRegistry<T>& params, const std::string& prefix, const TransformerShape& shape);
  // After the registry is allocated: layer norms start at weight 1, bias 0, as in PyTorch.
  void initialize() const;
  const TransformerShape& shape() const { return shape_; }

  // x: H × S·B. rng == nullptr: no dropout (evaluation). Writes y (H × S·B). skip_padded: the
  // blocks leave out positions at or past len[b] (their outputs there are 0; y at those positions
  // is then not PyTorch's, and nothing should read it but masked attention).
  void forward(const Mat<T>& x, const Lengths& len, Mat<T>& y, TransformerLayerCache<T>& cache,
               std::mt19937_64* rng, bool skip_padded = false) const;
  // dy: gradient on y. Accumulates parameter gradients and writes dx.
  void backward(const Mat<T>& dy, TransformerLayerCache<T>& cache, Mat<T>& dx) const;

 private:
  ParameterRegistry<T>& params_;
  TransformerShape shape_;
  SelfAttention<T> sa_;
  FeedForward<T> ff_;
  std::size_t n1_w_, n1_b_, n2_w_, n2_b_;
};

// nn.TransformerEncoder(layer, num_layers) without a final norm: layer l declared under
// <prefix>layers.<l>. (PyTorch's state_dict names of the module at <prefix>).
template <typename T>
class TransformerStack {
 public:
  TransformerStack(ParameterRegistry<T>& params, const std::string& prefix, const TransformerShape& shape,
                   std::size_t layers);
  void initialize() const;
  std::size_t layers() const { return layers_.size(); }
  // outs[l]: output of layer l (H × S·B); caches resized to the layer count.
  // skip_padded: as TransformerLayer::forward (encoders set it: their padded positions are
  // masked keys).
  void forward(const Mat<T>& x, const Lengths& len, std::vector<Mat<T>>& outs,
               std::vector<TransformerLayerCache<T>>& caches, std::mt19937_64* rng,
               bool skip_padded = false) const;
  // dy: gradient on the last layer's output; writes dx, the gradient on x.
  void backward(const Mat<T>& dy, std::vector<TransformerLayerCache<T>>& caches, Mat<T>& dx) const;
  // Example b's self-attention weights of the last forward, per layer and head, named
  // "encoder layer L head H": len[b] × len[b], row = query position, column = key position
  // (positions as the layers saw them).
  std::vector<AttentionView<T>> attention_views(const std::vector<TransformerLayerCache<T>>& caches,
                                                std::size_t b) const;

 private:
  std::vector<TransformerLayer<T>> layers_;
};

// Sinusoidal positions (Vaswani et al. 2017): PE(t, 2i) = sin(t / 10000^(2i/H)),
// PE(t, 2i+1) = cos(t / 10000^(2i/H)); column t of the H × S result.
template <typename T>
Mat<T> sinusoidal_positions(std::size_t H, std::size_t S);

}  // namespace attend
