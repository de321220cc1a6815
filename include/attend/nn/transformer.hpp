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

namespace attend {

using Lengths = std::vector<arma::uword>;

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

template <typename T>
struct TransformerLayerCache {
  std::size_t S = 0, B = 0;
  Lengths len;
  Mat<T> a_in;                    // self-attention input: x, or norm1(x) with norm_first
  Mat<T> qkv;                     // in_proj output, 3H × S·B
  std::vector<Mat<T>> attn;       // per example·head (b·heads + h): len[b] × S softmax weights,
                                  // row = unpadded key, column = query
  std::vector<Mat<T>> attn_mask;  // their dropout masks (empty without dropout)
  Mat<T> ctx;                     // heads concatenated, time-major H × S·B
  Mat<T> drop1, drop_ff, drop2;   // dropout masks (empty without dropout)
  Mat<T> x1;                      // after the self-attention block (and norm1 unless norm_first)
  Mat<T> f_in;                    // feed-forward input: x1, or norm2(x1) with norm_first
  Mat<T> pre, act;                // linear1 output; activation (after dropout)
  Mat<T> hat1, hat2;              // normalised inputs of norm1, norm2
  arma::Row<T> rstd1, rstd2;      // 1/√(var + ε) per column
  Mat<T> weights, dqkv, dctx, da;  // scratch: dropped-out weights; backward
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

  // x: H × S·B. rng == nullptr: no dropout (evaluation). Writes y (H × S·B).
  void forward(const Mat<T>& x, const Lengths& len, Mat<T>& y, TransformerLayerCache<T>& cache,
               std::mt19937_64* rng) const;
  // dy: gradient on y. Accumulates parameter gradients and writes dx.
  void backward(const Mat<T>& dy, TransformerLayerCache<T>& cache, Mat<T>& dx) const;

 private:
  void self_attention(const Mat<T>& in, Mat<T>& out, TransformerLayerCache<T>& c, std::mt19937_64* rng) const;
  void self_attention_backward(const Mat<T>& dout, TransformerLayerCache<T>& c, Mat<T>& din) const;

  ParameterRegistry<T>& params_;
  TransformerShape shape_;
  std::size_t in_w_, in_b_, out_w_, out_b_, l1_w_, l1_b_, l2_w_, l2_b_, n1_w_, n1_b_, n2_w_, n2_b_;
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
  void forward(const Mat<T>& x, const Lengths& len, std::vector<Mat<T>>& outs,
               std::vector<TransformerLayerCache<T>>& caches, std::mt19937_64* rng) const;
  // dy: gradient on the last layer's output; writes dx, the gradient on x.
  void backward(const Mat<T>& dy, std::vector<TransformerLayerCache<T>>& caches, Mat<T>& dx) const;

 private:
  std::vector<TransformerLayer<T>> layers_;
};

// Sinusoidal positions (Vaswani et al. 2017): PE(t, 2i) = sin(t / 10000^(2i/H)),
// PE(t, 2i+1) = cos(t / 10000^(2i/H)); column t of the H × S result.
template <typename T>
Mat<T> sinusoidal_positions(std::size_t H, std::size_t S);

}  // namespace attend
