// The Transformer decoder (DESIGN §6b; decoders_builtin.hpp has the equations). Training runs
// every target position of a batch at once, one GEMM per projection over all T·B positions;
// decoding runs one step at a time over the self-attention keys and values of the earlier steps,
// kept in each layer's qkv, and the memory's keys and values, projected once per batch.
#include <algorithm>
#include <cmath>
#include <vector>

#include "attend/core/error.hpp"
#include "attend/nn/transformer.hpp"
#include "core/gemm.hpp"
#include "nn/decoders_builtin.hpp"
#include "nn/encoders_builtin.hpp"
#include "nn/transformer_parts.hpp"

namespace attend {

// ---- one layer ----------------------------------------------------------------------------------

template <typename T>
TransformerDecoderLayer<T>::TransformerDecoderLayer(ParameterRegistry<T>& params, const ModelConfig& config,
                                                    const std::string& prefix)
    : params_(params),
      shape_(self_attention_shape(config)),
      sa_(params, prefix + "self_attn.", shape_.width, shape_.heads),
      cross_(params, config, prefix + "multihead_attn."),
      ff_(params, prefix, shape_.width, shape_.ffn) {
  const std::size_t H = shape_.width;
  n1_w_ = params.add(prefix + "norm1.weight", H, 1, 0.0, TorchLayout::Vector);
  n1_b_ = params.add(prefix + "norm1.bias", H, 1, 0.0, TorchLayout::Vector);
  n2_w_ = params.add(prefix + "norm2.weight", H, 1, 0.0, TorchLayout::Vector);
  n2_b_ = params.add(prefix + "norm2.bias", H, 1, 0.0, TorchLayout::Vector);
  n3_w_ = params.add(prefix + "norm3.weight", H, 1, 0.0, TorchLayout::Vector);
  n3_b_ = params.add(prefix + "norm3.bias", H, 1, 0.0, TorchLayout::Vector);
}

template <typename T>
void TransformerDecoderLayer<T>::initialize() const {
  params_.value(n1_w_).ones();
  params_.value(n2_w_).ones();
  params_.value(n3_w_).ones();
}

template <typename T>
void TransformerDecoderLayer<T>::begin(const Memory<T>& memory, std::size_t T_max,
                                       TransformerDecoderLayerCache<T>& c) const {
  c.sa.qkv.set_size(3 * shape_.width, T_max * memory.B);
  cross_.prepare(memory, T_max, c.cross);
}

// The self-attention is causal: query t sees keys 0 … t. A padded target position is a query
// whose output nothing reads and a key only later padded positions see, so the target padding
// mask changes nothing the loss depends on and is not applied (docs/transformer.md).
template <typename T>
void TransformerDecoderLayer<T>::forward(const Mat<T>& x, std::size_t t0, const Memory<T>& memory,
                                         TransformerDecoderLayerCache<T>& c, Mat<T>& y,
                                         std::mt19937_64* rng, const Columns* cols) const {
  const std::size_t H = shape_.width, B = memory.B, N = x.n_cols;
  const bool drop = rng && shape_.dropout > 0, pre = shape_.norm_first;
  const double p = shape_.dropout;
  const Mat<T>&g1 = params_.value(n1_w_), &b1 = params_.value(n1_b_);
  const Mat<T>&g2 = params_.value(n2_w_), &b2 = params_.value(n2_b_);
  const Mat<T>&g3 = params_.value(n3_w_), &b3 = params_.value(n3_b_);
  auto dropped = [&](Mat<T>& r, Mat<T>& mask) {
    if (drop) {
      dropout_mask(mask, H, N, p, *rng);
      r %= mask;
    } else {
      mask.reset();
    }
  };

  if (pre) layer_norm(x, g1, b1, c.hat1, c.rstd1, c.a_in);
  else c.a_in = x;
  Mat<T> r;
  sa_.forward(c.a_in, t0, B, nullptr, p, c.sa, r, rng, cols);
  dropped(r, c.drop1);
  r += x;
  if (pre) {
    c.x1 = std::move(r);
    layer_norm(c.x1, g2, b2, c.hat2, c.rstd2, c.c_in);
  } else {
    layer_norm(r, g1, b1, c.hat1, c.rstd1, c.x1);
    c.c_in = c.x1;
  }

  cross_.forward(c.c_in, t0, memory, c.cross, r, rng, cols);
  dropped(r, c.drop2);
  r += c.x1;
  if (pre) {
    c.x2 = std::move(r);
    layer_norm(c.x2, g3, b3, c.hat3, c.rstd3, c.f_in);
  } else {
    layer_norm(r, g2, b2, c.hat2, c.rstd2, c.x2);
    c.f_in = c.x2;
  }

  ff_.forward(c.f_in, shape_.gelu, p, c.ff, r, rng, cols);
  dropped(r, c.drop3);
  r += c.x2;
  if (pre) y = std::move(r);
  else layer_norm(r, g3, b3, c.hat3, c.rstd3, y);
}

template <typename T>
void TransformerDecoderLayer<T>::backward(const Mat<T>& dy, const Memory<T>& memory,
                                          TransformerDecoderLayerCache<T>& c, Mat<T>& dx) const {
  const bool pre = shape_.norm_first;
  const Mat<T>&g1 = params_.value(n1_w_), &g2 = params_.value(n2_w_), &g3 = params_.value(n3_w_);
  Mat<T>&dg1 = params_.grad(n1_w_), &db1 = params_.grad(n1_b_);
  Mat<T>&dg2 = params_.grad(n2_w_), &db2 = params_.grad(n2_b_);
  Mat<T>&dg3 = params_.grad(n3_w_), &db3 = params_.grad(n3_b_);
  // d ⊙ mask in `scratch`, or d itself without a mask
  Mat<T>& scratch = c.scratch;
  auto undrop = [&scratch](const Mat<T>& d, const Mat<T>& mask) -> const Mat<T>& {
    if (mask.is_empty()) return d;
    scratch = d % mask;
    return scratch;
  };
  // Each block: dr = the gradient on (residual + drop(block(input))); the input's gradient is
  // the block's backward, through the norm before it with norm_first, plus dr.
  Mat<T>&d = c.d, &dr = c.dr;
  const Mat<T>* dr3 = &dy;  // on x₂ + drop(ff)
  if (!pre) {
    layer_norm_backward(dy, c.hat3, c.rstd3, g3, dg3, db3, dr);
    dr3 = &dr;
  }
  ff_.backward(undrop(*dr3, c.drop3), c.f_in, shape_.gelu, c.ff, d);  // d: on f_in
  if (pre) {
    layer_norm_backward(d, c.hat3, c.rstd3, g3, dg3, db3, d, dr3);  // on x₂ = x₁ + drop(ca)
    dr.swap(d);
  } else {
    d += dr;  // on x₂ = norm2(x₁ + drop(ca))
    layer_norm_backward(d, c.hat2, c.rstd2, g2, dg2, db2, dr);
  }
  cross_.backward(undrop(dr, c.drop2), c.c_in, memory, c.cross, d);  // d: on c_in
  if (pre) {
    layer_norm_backward(d, c.hat2, c.rstd2, g2, dg2, db2, d, &dr);  // on x₁ = x + drop(sa)
    dr.swap(d);
  } else {
    d += dr;  // on x₁ = norm1(x + drop(sa))
    layer_norm_backward(d, c.hat1, c.rstd1, g1, dg1, db1, dr);
  }
  sa_.backward(undrop(dr, c.drop1), c.a_in, memory.B, nullptr, c.sa, d);  // d: on a_in
  if (pre) {
    layer_norm_backward(d, c.hat1, c.rstd1, g1, dg1, db1, dx, &dr);
  } else {
    dx = d + dr;
  }
}

// ---- the decoder --------------------------------------------------------------------------------

template <typename T>
TransformerDecoder<T>::TransformerDecoder(ParameterRegistry<T>& params, const ModelConfig& config,
                                          const Cell<T>&)
    : params_(params), config_(config) {
  const std::size_t H = config.hidden, V = config.tgt_vocab, L = config.transformer_decoder_layers();
  const double k = 1.0 / std::sqrt(double(H));
  embedding_ = target_embedding(params, config, H, k);
  layers_.reserve(L);
  for (std::size_t l = 0; l < L; ++l)
    layers_.emplace_back(params, config, "decoder.transformer.layers." + std::to_string(l) + ".");
  if (config.norm_first) {
    norm_w_ = params.add("decoder.transformer.norm.weight", H, 1, 0.0, TorchLayout::Vector);
    norm_b_ = params.add("decoder.transformer.norm.bias", H, 1, 0.0, TorchLayout::Vector);
  }
  if (!config.tie_embeddings) out_w_ = params.add("decoder.out.weight", V, H, k);
  out_b_ = params.add("decoder.out.bias", V, 1, k, TorchLayout::Vector);
}

template <typename T>
void TransformerDecoder<T>::initialize() const {
  for (const auto& l : layers_) l.initialize();
  if (config_.norm_first) params_.value(norm_w_).ones();
}

template <typename T>
void TransformerDecoder<T>::begin(const Memory<T>& memory, const std::vector<Mat<T>>&,
                                  const std::vector<Mat<T>>&, std::size_t T_max, DecoderCache<T>& cache,
                                  std::mt19937_64* rng) const {
  if (cache.state_of != this) {  // a cache first used with this decoder
    cache.state = std::make_unique<TransformerDecoderState<T>>();
    cache.state_of = this;
  }
  auto& st = decoder_state<TransformerDecoderState<T>>(cache);
  const std::size_t H = config_.hidden, B = memory.B;
  cache.T_max = T_max;
  cache.B = B;
  cache.memory = memory;
  cache.rng = config_.dropout > 0 ? rng : nullptr;
  st.layers.resize(layers_.size());
  for (std::size_t l = 0; l < layers_.size(); ++l) layers_[l].begin(memory, T_max, st.layers[l]);
  st.Y.set_size(H, T_max * B);
  if (st.pe.n_cols < T_max) st.pe = sinusoidal_positions<T>(H, T_max);
  cache.A.set_size(memory.S, T_max * B);
}

template <typename T>
void TransformerDecoder<T>::run(const arma::uword* tokens, std::size_t t0, std::size_t n,
                                DecoderCache<T>& cache, const Columns* cols) const {
  auto& st = decoder_state<TransformerDecoderState<T>>(cache);
  const std::size_t H = config_.hidden, B = cache.B, N = n * B, L = layers_.size();
  const Mat<T>& E = params_.value(embedding_);
  const T scale = std::sqrt(T(H));
  st.X0.set_size(H, N);
  for (std::size_t s = 0; s < n; ++s)
    for (std::size_t b = 0; b < B; ++b) {
      const arma::uword id = tokens[s * B + b];
      if (id >= E.n_cols) throw Error("target token id " + std::to_string(id) + " outside the vocabulary");
      st.X0.col(s * B + b) = scale * E.col(id) + st.pe.col(t0 + s);
    }
  if (cache.rng) {
    dropout_mask(st.emb_mask, H, N, config_.dropout, *cache.rng);
    st.X0 %= st.emb_mask;
  } else {
    st.emb_mask.reset();
  }
  st.outs.resize(L);
  for (std::size_t l = 0; l < L; ++l)
    layers_[l].forward(l == 0 ? st.X0 : st.outs[l - 1], t0, cache.memory, st.layers[l], st.outs[l], cache.rng, cols);
  Mat<T> y = block(st.Y, t0 * B, N);
  if (config_.norm_first) {
    layer_norm(st.outs.back(), params_.value(norm_w_), params_.value(norm_b_), st.hat, st.rstd, st.top);
    y = st.top;
  } else {
    y = st.outs.back();
  }
  // The default view of the attention: the mean over the last layer's heads.
  const CrossAttention<T>& cross = layers_.back().cross();
  const T share = T(1) / T(cross.heads());
  for (std::size_t s = 0; s < n; ++s) {
    Mat<T> a = block(cache.A, (t0 + s) * B, B);
    a.zeros();
    for (std::size_t h = 0; h < cross.heads(); ++h) {
      cross.head_weights(st.layers.back().cross, cache.memory, s, h, st.w);
      a += share * st.w;
    }
  }
}

template <typename T>
void TransformerDecoder<T>::teacher_forced(const arma::umat& tokens, DecoderCache<T>& cache) const {
  const std::size_t Tn = tokens.n_rows, B = cache.B;
  std::vector<arma::uword> ids(Tn * B);
  for (std::size_t t = 0; t < Tn; ++t)
    for (std::size_t b = 0; b < B; ++b) ids[t * B + b] = tokens(t, b);
  // Only the real positions when the caller asks (training): a padded position is a query whose
  // output nothing reads and a key only later padded positions see (causal), so the layers leave
  // it out of their products and logits() of it out of the output layer.
  auto& st = decoder_state<TransformerDecoderState<T>>(cache);
  st.packed = !cache.real.empty();
  run(ids.data(), 0, Tn, cache, st.packed ? &cache.real : nullptr);
}

template <typename T>
void TransformerDecoder<T>::step(std::size_t t, const arma::uword* tokens, DecoderCache<T>& cache) const {
  decoder_state<TransformerDecoderState<T>>(cache).packed = false;
  run(tokens, t, 1, cache);
}

template <typename T>
void TransformerDecoder<T>::logits(std::size_t t0, std::size_t n, const DecoderCache<T>& cache,
                                   Mat<T>& out) const {
  const auto& st = decoder_state<TransformerDecoderState<T>>(cache);
  std::size_t N = n * cache.B;
  const std::size_t H = config_.hidden, V = config_.tgt_vocab;
  const T* y = st.Y.memptr() + H * t0 * cache.B;
  Mat<T> real_y;
  if (st.packed) {  // the real positions of a teacher-forced call only, gathered
    gather_columns(st.Y, cache.real, real_y);
    y = real_y.memptr();
    N = real_y.n_cols;
  }
  // (V × n·B, or V × real): one GEMM onto the bias
  out.set_size(V, N);
  if (config_.tie_embeddings)
    gemm_bias(true, false, V, N, H, params_.value(embedding_).memptr(), H, y, H, params_.value(out_b_).memptr(),
              out.memptr(), V);
  else
    gemm_bias(false, false, V, N, H, params_.value(out_w_).memptr(), V, y, H, params_.value(out_b_).memptr(),
              out.memptr(), V);
}

template <typename T>
void TransformerDecoder<T>::backward(const Mat<T>& dlogits, std::size_t Tn, const arma::umat& tokens,
                                     DecoderCache<T>& cache, Mat<T>& dmemory, std::vector<Mat<T>>& dh0,
                                     std::vector<Mat<T>>& dc0) const {
  auto& st = decoder_state<TransformerDecoderState<T>>(cache);
  const std::size_t H = config_.hidden, B = cache.B, N = Tn * B;
  const std::size_t V = dlogits.n_rows;
  const Mat<T> y = block(st.Y, 0, N);
  // A column of dlogits that is all zero (a padded target position) adds nothing to the output
  // layer's gradients: when there are such columns, the products run over the others only,
  // gathered, and the gradient on y is 0 at the skipped columns. After a teacher_forced call over
  // the real positions only, dlogits has just those columns.
  std::vector<std::size_t> live;
  if (st.packed) live = cache.real;
  else nonzero_columns(dlogits, live);
  const std::size_t nl = live.size();
  const bool gather = st.packed || worth_gathering(nl, N);
  const Mat<T>* dl = &dlogits;
  const Mat<T>* yl = &y;
  if (st.packed) {
    if (dlogits.n_cols != nl) throw Error("dlogits has a column per position, not per real position");
    gather_columns(y, live, st.y_live);
    yl = &st.y_live;
  } else if (gather) {
    gather_columns(dlogits, live, st.dl_live);
    gather_columns(y, live, st.y_live);
    dl = &st.dl_live;
    yl = &st.y_live;
  }
  const std::size_t n = dl->n_cols;
  Mat<T>& d = st.dy;
  Mat<T>& dy = gather ? st.d_live : d;  // on the (gathered) columns of y
  dy.set_size(H, n);
  if (config_.tie_embeddings) {
    const Mat<T>& E = params_.value(embedding_);  // H × V
    gemm(false, true, H, V, n, T(1), yl->memptr(), H, dl->memptr(), V, T(1), params_.grad(embedding_).memptr(), H);
    gemm(false, false, H, n, V, T(1), E.memptr(), H, dl->memptr(), V, T(0), dy.memptr(), H);
  } else {
    const Mat<T>& W = params_.value(out_w_);  // V × H
    gemm(false, true, V, H, n, T(1), dl->memptr(), V, yl->memptr(), H, T(1), params_.grad(out_w_).memptr(), V);
    gemm(true, false, H, n, V, T(1), W.memptr(), V, dl->memptr(), V, T(0), dy.memptr(), H);
  }
  add_row_sums(*dl, params_.grad(out_b_));
  if (gather) scatter_columns(st.d_live, live, N, d);
  Mat<T>* g = &d;  // the gradient on the current layer's output; each layer's on its input in its cache
  if (config_.norm_first) {
    layer_norm_backward(d, st.hat, st.rstd, params_.value(norm_w_), params_.grad(norm_w_), params_.grad(norm_b_),
                        st.dnorm);
    g = &st.dnorm;
  }
  for (std::size_t l = layers_.size(); l-- > 0;) {
    layers_[l].backward(*g, cache.memory, st.layers[l], st.layers[l].dx);
    g = &st.layers[l].dx;
  }
  if (!st.emb_mask.is_empty()) *g %= st.emb_mask;
  const T scale = std::sqrt(T(H));
  Mat<T>& dE = params_.grad(embedding_);
  for (std::size_t t = 0; t < Tn; ++t)
    for (std::size_t b = 0; b < B; ++b) dE.col(tokens(t, b)) += scale * g->col(t * B + b);
  for (std::size_t l = 0; l < layers_.size(); ++l)
    layers_[l].cross().finish_backward(cache.memory, st.layers[l].cross, dmemory);
  dh0.clear();
  dc0.clear();
}

template <typename T>
void TransformerDecoder<T>::reorder(std::size_t t, const std::vector<std::size_t>& parents,
                                    DecoderCache<T>& cache) const {
  auto& st = decoder_state<TransformerDecoderState<T>>(cache);
  const std::size_t B = cache.B;
  Mat<T> old;
  for (auto& lc : st.layers)
    for (std::size_t s = 0; s <= t; ++s) {
      Mat<T> slot = block(lc.sa.qkv, s * B, B);
      old = slot;
      for (std::size_t b = 0; b < B; ++b) slot.col(b) = old.col(parents[b]);
    }
}

template <typename T>
void TransformerDecoder<T>::keep_columns(std::size_t t, const std::vector<std::size_t>& keep,
                                         const Memory<T>& memory, std::size_t T_max,
                                         DecoderCache<T>& cache) const {
  const std::size_t W = cache.B, K = keep.size();
  std::vector<Mat<T>> kept;
  for (const auto& lc : decoder_state<TransformerDecoderState<T>>(cache).layers) {
    Mat<T> h(lc.sa.qkv.n_rows, (t + 1) * K);
    for (std::size_t s = 0; s <= t; ++s)
      for (std::size_t i = 0; i < K; ++i) h.col(s * K + i) = lc.sa.qkv.col(s * W + keep[i]);
    kept.push_back(std::move(h));
  }
  begin(memory, {}, {}, T_max, cache, nullptr);
  auto& st = decoder_state<TransformerDecoderState<T>>(cache);
  for (std::size_t l = 0; l < kept.size(); ++l) block(st.layers[l].sa.qkv, 0, (t + 1) * K) = kept[l];
}

template <typename T>
std::vector<AttentionView<T>> TransformerDecoder<T>::attention_views(std::size_t t,
                                                                    const DecoderCache<T>& cache) const {
  const auto& st = decoder_state<TransformerDecoderState<T>>(cache);
  std::vector<AttentionView<T>> views;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const CrossAttentionState<T>& cs = st.layers[l].cross;
    if (t < cs.t0 || t >= cs.t0 + cs.n) throw Error("attention of a step the decoder did not just run");
    for (std::size_t h = 0; h < layers_[l].cross().heads(); ++h) {
      AttentionView<T> v;
      v.name = "layer " + std::to_string(l) + " head " + std::to_string(h);
      layers_[l].cross().head_weights(cs, cache.memory, t - cs.t0, h, v.weights);
      views.push_back(std::move(v));
    }
  }
  return views;
}

DecoderTraits transformer_decoder_traits() {
  DecoderTraits t;
  t.help = "Transformer decoder: --decoder-layers layers of causal self-attention (--self-heads), "
           "cross-attention (--attention multihead or any per-head strategy, --heads) and feed-forward (--ffn)";
  t.style = DecoderStyle::Transformer;
  t.initial_state = false;
  t.scheduled_sampling = false;
  t.skips_padding = true;
  t.default_attention = "multihead";
  t.validate = [](const ModelConfig& c) {
    if (c.transformer_decoder_layers() < 1) throw Error("--decoder-layers must be at least 1");
    validate_self_attention_shape(c);
    if (c.heads < 1 || c.hidden % c.heads != 0)
      throw Error("--heads " + std::to_string(c.heads) + " does not divide --hidden " + std::to_string(c.hidden) +
                  ": each head of the cross-attention takes hidden / heads units");
    if (c.attention != "multihead" && !attention_traits(c.attention).per_head) {
      std::string valid = "multihead";
      for (const auto& item : attention_list())
        if (attention_traits(item.name).per_head) valid += ", " + item.name;
      throw Error("--attention " + c.attention + " cannot serve as the Transformer decoder's cross-attention " +
                  "(valid: " + valid + ")");
    }
  };
  return t;
}

template class TransformerDecoderLayer<float>;
template class TransformerDecoderLayer<double>;
template class TransformerDecoder<float>;
template class TransformerDecoder<double>;

}  // namespace attend
