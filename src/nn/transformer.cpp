#include "attend/nn/transformer.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "attend/core/error.hpp"
#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "nn/transformer_parts.hpp"

namespace attend {

namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;

}  // namespace

// ---- self-attention and feed-forward blocks ----------------------------------------------------

template <typename T>
SelfAttention<T>::SelfAttention(ParameterRegistry<T>& params, const std::string& prefix, std::size_t width,
                                std::size_t heads)
    : params_(params), width_(width), heads_(heads) {
  const std::size_t H = width;
  if (H == 0 || heads == 0 || H % heads != 0)
    throw Error("a self-attention layer needs a width divisible by its heads");
  // PyTorch's initialisers: xavier_uniform on in_proj_weight (fan 4H), Linear's ±1/√fan_in on
  // out_proj, zero projection biases (the registry's scale 0).
  in_w_ = params.add(prefix + "in_proj_weight", 3 * H, H, std::sqrt(6.0 / (4.0 * H)));
  in_b_ = params.add(prefix + "in_proj_bias", 3 * H, 1, 0.0, TorchLayout::Vector);
  out_w_ = params.add(prefix + "out_proj.weight", H, H, 1.0 / std::sqrt(double(H)));
  out_b_ = params.add(prefix + "out_proj.bias", H, 1, 0.0, TorchLayout::Vector);
}

// Keys at or past an example's length (len given) get weight 0 and are left out of the
// products: a is len[b] × n. Causally, query t0 + i sees the keys 0 … t0 + i of t0 + n.
template <typename T>
void SelfAttention<T>::forward(const Mat<T>& in, std::size_t t0, std::size_t B, const Lengths* len,
                               double dropout, SelfAttentionCache<T>& c, Mat<T>& out,
                               std::mt19937_64* rng, const Columns* cols) const {
  const std::size_t H = width_, nh = heads_, dk = H / nh, N = in.n_cols, n = N / B, ld = 3 * H * B;
  const bool drop = rng && dropout > 0;
  if (c.qkv.n_cols < (t0 + n) * B) c.qkv.set_size(3 * H, (t0 + n) * B);
  if (cols && t0 == 0) c.cols = *cols;
  else c.cols.clear();
  // q, k, v of every new position (or of c.cols, 0 at the others): one GEMM onto the bias, in
  // place in c.qkv. The heads still run over every query: a skipped one reads zeros, and is
  // either padding or a key only padded queries see.
  affine_columns(3 * H, params_.value(in_w_).memptr(), 3 * H, in, params_.value(in_b_).memptr(), c.cols,
                 c.qkv.memptr() + 3 * H * t0 * B, 3 * H, c.g_in, c.g_out);
  c.attn.resize(B * nh);
  c.attn_mask.resize(B * nh);
  c.ctx.set_size(H, N);
  const T scale = T(1) / std::sqrt(T(dk));
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < nh; ++h) {
      const T* k = c.qkv.memptr() + 3 * H * b + H + h * dk;
      HeadBlock<T> hb{c.qkv.memptr() + 3 * H * (t0 * B + b) + h * dk, k, k + H, ld, ld, ld, n,
                      len ? (*len)[b] : t0 + n, dk, scale};
      hb.causal = !len;
      hb.first = t0;
      Mat<T>& mask = c.attn_mask[b * nh + h];
      if (drop) dropout_mask(mask, hb.nk, n, dropout, *rng);
      else mask.reset();
      head_forward(hb, c.attn[b * nh + h], mask, c.scratch, c.ctx.memptr() + H * b + h * dk, H * B);
    }
  out.set_size(H, N);
  affine_columns(H, params_.value(out_w_).memptr(), H, c.ctx, params_.value(out_b_).memptr(), c.cols,
                 out.memptr(), H, c.g_in, c.g_out);
}

template <typename T>
void SelfAttention<T>::backward(const Mat<T>& dout, const Mat<T>& in, std::size_t B, const Lengths* len,
                                SelfAttentionCache<T>& c, Mat<T>& din) const {
  const std::size_t H = width_, nh = heads_, dk = H / nh, N = in.n_cols, n = N / B, ld = 3 * H * B;
  affine_backward(params_.value(out_w_).memptr(), H, dout, c.ctx, params_.grad(out_w_).memptr(), H,
                  params_.grad(out_b_).memptr(), c.dctx, c.gather, &c.cols);
  // The heads write dq of every position and dk, dv of the keys they see: padded keys (position
  // len[b] and on) get no k or v gradient.
  c.dqkv.set_size(3 * H, N);
  if (len)
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = (*len)[b]; t < n; ++t) std::fill_n(c.dqkv.colptr(t * B + b) + H, 2 * H, T(0));
  const T scale = T(1) / std::sqrt(T(dk));
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < nh; ++h) {
      const std::size_t off = 3 * H * b + h * dk;
      const T* q = c.qkv.memptr() + off;
      HeadBlock<T> hb{q, q + H, q + 2 * H, ld, ld, ld, n, len ? (*len)[b] : n, dk, scale};
      hb.causal = !len;
      T* dq = c.dqkv.memptr() + off;
      head_backward(hb, c.attn[b * nh + h], c.attn_mask[b * nh + h], c.dctx.memptr() + H * b + h * dk, H * B,
                    c.scratch, c.da, dq, dq + H, dq + 2 * H);
    }
  affine_backward(params_.value(in_w_).memptr(), 3 * H, c.dqkv, in, params_.grad(in_w_).memptr(), 3 * H,
                  params_.grad(in_b_).memptr(), din, c.gather, &c.cols);
}

template <typename T>
FeedForward<T>::FeedForward(ParameterRegistry<T>& params, const std::string& prefix, std::size_t width,
                            std::size_t ffn)
    : params_(params) {
  if (width == 0 || ffn == 0) throw Error("a feed-forward block needs a width and a feed-forward width");
  const double kh = 1.0 / std::sqrt(double(width)), kf = 1.0 / std::sqrt(double(ffn));
  l1_w_ = params.add(prefix + "linear1.weight", ffn, width, kh);
  l1_b_ = params.add(prefix + "linear1.bias", ffn, 1, kh, TorchLayout::Vector);
  l2_w_ = params.add(prefix + "linear2.weight", width, ffn, kf);
  l2_b_ = params.add(prefix + "linear2.bias", width, 1, kf, TorchLayout::Vector);
}

template <typename T>
void FeedForward<T>::forward(const Mat<T>& in, bool gelu, double dropout, FeedForwardCache<T>& c, Mat<T>& out,
                             std::mt19937_64* rng, const Columns* cols) const {
  // Two GEMMs over all positions, or over the columns cols, gathered (pre, act and the dropout
  // mask then hold only those). relu runs in place on linear1's output: its backward needs
  // only where the activation is positive, which act (after dropout) still tells wherever the
  // dropout kept the unit (and where it did not, the gradient is 0 either way); gelu keeps pre.
  const Mat<T>* x = &in;
  if (cols && !cols->empty()) {
    c.cols = *cols;
    gather_columns(in, c.cols, c.g_in);
    x = &c.g_in;
  } else {
    c.cols.clear();
  }
  Mat<T>& lin = gelu ? c.pre : c.act;
  affine(params_.value(l1_w_), *x, params_.value(l1_b_), lin);
  if (!gelu) c.pre.reset();
  if (rng && dropout > 0) {
    if (c.cols.empty()) {
      dropout_mask(c.drop, lin.n_rows, lin.n_cols, dropout, *rng);
    } else {  // drawn for every position, as without skipping, so the two draw the same masks
      dropout_mask(c.g_drop, lin.n_rows, in.n_cols, dropout, *rng);
      gather_columns(c.g_drop, c.cols, c.drop);
    }
  } else {
    c.drop.reset();
  }
  c.act.set_size(lin.n_rows, lin.n_cols);
  T* a = c.act.memptr();
  const std::size_t n = c.act.n_elem;
  const T* m = c.drop.is_empty() ? nullptr : c.drop.memptr();
  if (gelu) {
    const T* p = c.pre.memptr();
    for (std::size_t i = 0; i < n; ++i) a[i] = T(0.5) * p[i] * (T(1) + std::erf(p[i] * T(kInvSqrt2)));
    if (m)
      for (std::size_t i = 0; i < n; ++i) a[i] *= m[i];
  } else if (m) {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) a[i] = (a[i] > 0 ? a[i] : T(0)) * m[i];
  } else {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) a[i] = a[i] > 0 ? a[i] : T(0);
  }
  if (c.cols.empty()) {
    affine(params_.value(l2_w_), c.act, params_.value(l2_b_), out);
  } else {
    affine(params_.value(l2_w_), c.act, params_.value(l2_b_), c.g_out);
    scatter_columns(c.g_out, c.cols, in.n_cols, out);
  }
}

// Columns of dout that are all zero (padded positions) give zero gradients throughout the block
// and add nothing to the parameter gradients: when there are enough of them, the block runs over
// the others, gathered, and din is 0 at the skipped columns. After a forward over some columns
// only, the backward runs over those (the block's output elsewhere was the constant 0).
template <typename T>
void FeedForward<T>::backward(const Mat<T>& dout, const Mat<T>& in, bool gelu, FeedForwardCache<T>& c,
                              Mat<T>& din) const {
  const Mat<T>&W1 = params_.value(l1_w_), &W2 = params_.value(l2_w_);
  const std::size_t H = W2.n_rows, F = W2.n_cols, N = dout.n_cols;
  const Mat<T>*d = &dout, *act = &c.act, *x = &in, *pre = &c.pre, *mask = &c.drop;
  const bool packed = !c.cols.empty();
  if (packed) c.live = c.cols;
  else nonzero_columns(dout, c.live);
  const bool gather = packed || worth_gathering(c.live.size(), N);
  if (packed) {
    gather_columns(dout, c.live, c.g_dout);
    d = &c.g_dout;
    x = &c.g_in;
  } else if (gather) {
    gather_columns(dout, c.live, c.g_dout);
    gather_columns(c.act, c.live, c.g_act);
    gather_columns(in, c.live, c.g_in);
    d = &c.g_dout;
    act = &c.g_act;
    x = &c.g_in;
    if (gelu) {
      gather_columns(c.pre, c.live, c.g_pre);
      pre = &c.g_pre;
    }
    if (!c.drop.is_empty()) {
      gather_columns(c.drop, c.live, c.g_drop);
      mask = &c.g_drop;
    }
  }
  const std::size_t n = d->n_cols;
  add_weight_grad(*d, *act, params_.grad(l2_w_).memptr(), H);
  add_row_sums(*d, params_.grad(l2_b_));
  Mat<T>& dpre = c.dpre;
  dpre.set_size(F, n);
  gemm(true, false, F, n, H, T(1), W2.memptr(), H, d->memptr(), H, T(0), dpre.memptr(), F);
  if (gelu) {
    if (!mask->is_empty()) dpre %= *mask;
    activate_backward(*pre, dpre, true);
  } else {
    // d ⊙ mask where the unit is positive, 0 elsewhere
    const T* a = act->memptr();
    T* g = dpre.memptr();
    const std::size_t e = dpre.n_elem;
    if (!mask->is_empty()) {
      const T* m = mask->memptr();
#pragma omp simd
      for (std::size_t i = 0; i < e; ++i) g[i] = a[i] > 0 ? g[i] * m[i] : T(0);
    } else {
#pragma omp simd
      for (std::size_t i = 0; i < e; ++i) g[i] = a[i] > 0 ? g[i] : T(0);
    }
  }
  add_weight_grad(dpre, *x, params_.grad(l1_w_).memptr(), F);
  add_row_sums(dpre, params_.grad(l1_b_));
  Mat<T>& out = gather ? c.g_din : din;
  out.set_size(H, n);
  gemm(true, false, H, n, F, T(1), W1.memptr(), F, dpre.memptr(), F, T(0), out.memptr(), H);
  if (gather) scatter_columns(c.g_din, c.live, N, din);
}

// ---- the encoder layer --------------------------------------------------------------------------

namespace {

// d ⊙ mask in `scratch`, or d itself without a mask (no dropout).
template <typename T>
const Mat<T>& undropped(const Mat<T>& d, const Mat<T>& mask, Mat<T>& scratch) {
  if (mask.is_empty()) return d;
  scratch = d % mask;
  return scratch;
}

}  // namespace

template <typename T>
TransformerLayer<T>::TransformerLayer(ParameterRegistry<T>& params, const std::string& prefix,
                                      const TransformerShape& shape)
    : params_(params),
      shape_(shape),
      sa_(params, prefix + "self_attn.", shape.width, shape.heads),
      ff_(params, prefix, shape.width, shape.ffn) {
  const std::size_t H = shape.width;
  n1_w_ = params.add(prefix + "norm1.weight", H, 1, 0.0, TorchLayout::Vector);
  n1_b_ = params.add(prefix + "norm1.bias", H, 1, 0.0, TorchLayout::Vector);
  n2_w_ = params.add(prefix + "norm2.weight", H, 1, 0.0, TorchLayout::Vector);
  n2_b_ = params.add(prefix + "norm2.bias", H, 1, 0.0, TorchLayout::Vector);
}

template <typename T>
void TransformerLayer<T>::initialize() const {
  params_.value(n1_w_).ones();
  params_.value(n2_w_).ones();
}

// Post-norm: x1 = norm1(x + drop1(sa(x))), y = norm2(x1 + drop2(ff(x1))).
// norm_first: x1 = x + drop1(sa(norm1(x))), y = x1 + drop2(ff(norm2(x1))).
template <typename T>
void TransformerLayer<T>::forward(const Mat<T>& x, const Lengths& len, Mat<T>& y,
                                  TransformerLayerCache<T>& c, std::mt19937_64* rng, bool skip_padded) const {
  const std::size_t H = shape_.width, B = len.size();
  if (x.n_rows != H || B == 0 || x.n_cols % B != 0)
    throw Error("self-attention layer input of the wrong shape");
  const std::size_t N = x.n_cols;
  c.B = B;
  c.S = N / B;
  c.len = len;
  for (auto l : len)
    if (l < 1 || l > c.S) throw Error("every source needs between 1 and S tokens");
  if (skip_padded) real_columns(len, c.S, c.cols);
  else c.cols.clear();
  const bool drop = rng && shape_.dropout > 0;
  const double p = shape_.dropout;
  const Mat<T>&g1 = params_.value(n1_w_), &b1 = params_.value(n1_b_);
  const Mat<T>&g2 = params_.value(n2_w_), &b2 = params_.value(n2_b_);

  if (shape_.norm_first) layer_norm(x, g1, b1, c.hat1, c.rstd1, c.a_in);
  else c.a_in = x;
  Mat<T> r;
  sa_.forward(c.a_in, 0, B, &c.len, p, c.sa, r, rng, &c.cols);
  if (drop) {
    dropout_mask(c.drop1, H, N, p, *rng);
    r %= c.drop1;
  } else {
    c.drop1.reset();
  }
  r += x;
  if (shape_.norm_first) {
    c.x1 = std::move(r);
    layer_norm(c.x1, g2, b2, c.hat2, c.rstd2, c.f_in);
  } else {
    layer_norm(r, g1, b1, c.hat1, c.rstd1, c.x1);
    c.f_in = c.x1;
  }

  ff_.forward(c.f_in, shape_.gelu, p, c.ff, r, rng, &c.cols);
  if (drop) {
    dropout_mask(c.drop2, H, N, p, *rng);
    r %= c.drop2;
  } else {
    c.drop2.reset();
  }
  r += c.x1;
  if (shape_.norm_first) y = std::move(r);
  else layer_norm(r, g2, b2, c.hat2, c.rstd2, y);
}

template <typename T>
void TransformerLayer<T>::backward(const Mat<T>& dy, TransformerLayerCache<T>& c, Mat<T>& dx) const {
  const Mat<T>&g1 = params_.value(n1_w_), &g2 = params_.value(n2_w_);
  Mat<T>&dg1 = params_.grad(n1_w_), &db1 = params_.grad(n1_b_);
  Mat<T>&dg2 = params_.grad(n2_w_), &db2 = params_.grad(n2_b_);

  Mat<T>& scratch = c.scratch;  // a gradient with a dropout mask applied
  const Mat<T>* dr2 = &dy;      // on x1 + drop2(ff)
  if (!shape_.norm_first) {
    layer_norm_backward(dy, c.hat2, c.rstd2, g2, dg2, db2, c.d1);
    dr2 = &c.d1;
  }
  Mat<T>& dx1 = c.d2;  // on f_in
  ff_.backward(undropped(*dr2, c.drop2, scratch), c.f_in, shape_.gelu, c.ff, dx1);
  if (shape_.norm_first) layer_norm_backward(dx1, c.hat2, c.rstd2, g2, dg2, db2, dx1, dr2);
  else dx1 += *dr2;

  const Mat<T>* dr1 = &dx1;  // on x + drop1(sa)
  if (!shape_.norm_first) {
    layer_norm_backward(dx1, c.hat1, c.rstd1, g1, dg1, db1, c.d1);
    dr1 = &c.d1;
  }
  Mat<T>& da = c.d3;
  sa_.backward(undropped(*dr1, c.drop1, scratch), c.a_in, c.B, &c.len, c.sa, da);
  if (shape_.norm_first) {
    layer_norm_backward(da, c.hat1, c.rstd1, g1, dg1, db1, dx, dr1);
  } else {
    dx = da + *dr1;
  }
}

template <typename T>
TransformerStack<T>::TransformerStack(ParameterRegistry<T>& params, const std::string& prefix,
                                      const TransformerShape& shape, std::size_t layers) {
  layers_.reserve(layers);
  for (std::size_t l = 0; l < layers; ++l)
    layers_.emplace_back(params, prefix + "layers." + std::to_string(l) + ".", shape);
}

template <typename T>
void TransformerStack<T>::initialize() const {
  for (const auto& l : layers_) l.initialize();
}

template <typename T>
void TransformerStack<T>::forward(const Mat<T>& x, const Lengths& len, std::vector<Mat<T>>& outs,
                                  std::vector<TransformerLayerCache<T>>& caches, std::mt19937_64* rng,
                                  bool skip_padded) const {
  outs.resize(layers_.size());
  caches.resize(layers_.size());
  for (std::size_t l = 0; l < layers_.size(); ++l)
    layers_[l].forward(l == 0 ? x : outs[l - 1], len, outs[l], caches[l], rng, skip_padded);
}

template <typename T>
void TransformerStack<T>::backward(const Mat<T>& dy, std::vector<TransformerLayerCache<T>>& caches,
                                   Mat<T>& dx) const {
  // Layer l's gradient on its input goes to caches[l].dx (dx for layer 0), read by layer l − 1.
  const std::size_t L = layers_.size();
  for (std::size_t l = L; l-- > 0;)
    layers_[l].backward(l + 1 == L ? dy : caches[l + 1].dx, caches[l], l == 0 ? dx : caches[l].dx);
}

template <typename T>
std::vector<AttentionView<T>> TransformerStack<T>::attention_views(
    const std::vector<TransformerLayerCache<T>>& caches, std::size_t b) const {
  std::vector<AttentionView<T>> views;
  for (std::size_t l = 0; l < layers_.size() && l < caches.size(); ++l) {
    const std::size_t nh = layers_[l].shape().heads;
    for (std::size_t h = 0; h < nh; ++h) {
      const Mat<T>& a = caches[l].sa.attn.at(b * nh + h);  // keys × queries, the real keys only
      const std::size_t n = a.n_rows;
      AttentionView<T> v;
      v.name = "encoder layer " + std::to_string(l) + " head " + std::to_string(h);
      v.weights = a.cols(0, n - 1).t();
      views.push_back(std::move(v));
    }
  }
  return views;
}

template <typename T>
Mat<T> sinusoidal_positions(std::size_t H, std::size_t S) {
  Mat<T> pe(H, S);
  for (std::size_t i = 0; i < H; i += 2) {
    const double freq = std::exp(-std::log(10000.0) * double(i) / double(H));
    for (std::size_t t = 0; t < S; ++t) {
      pe(i, t) = static_cast<T>(std::sin(double(t) * freq));
      if (i + 1 < H) pe(i + 1, t) = static_cast<T>(std::cos(double(t) * freq));
    }
  }
  return pe;
}

template class SelfAttention<float>;
template class SelfAttention<double>;
template class FeedForward<float>;
template class FeedForward<double>;
template class TransformerLayer<float>;
template class TransformerLayer<double>;
template class TransformerStack<float>;
template class TransformerStack<double>;
template Mat<float> sinusoidal_positions<float>(std::size_t, std::size_t);
template Mat<double> sinusoidal_positions<double>(std::size_t, std::size_t);

}  // namespace attend
