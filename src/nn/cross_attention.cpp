#include "nn/cross_attention.hpp"

#include <cmath>

#include "attend/core/error.hpp"
#include "attend/nn/encoder.hpp"
#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "nn/transformer_parts.hpp"

namespace attend {

template <typename T>
CrossAttention<T>::CrossAttention(ParameterRegistry<T>& params, const ModelConfig& config,
                                  const std::string& prefix)
    : params_(params), H_(config.hidden), heads_(config.heads), dropout_(config.dropout) {
  if (heads_ == 0 || H_ % heads_ != 0)
    throw Error("--heads " + std::to_string(heads_) + " does not divide --hidden " + std::to_string(H_));
  dk_ = H_ / heads_;
  // nn.MultiheadAttention's initialisers: xavier_uniform over the packed weight, zero biases.
  in_w_ = params.add(prefix + "in_proj_weight", 3 * H_, H_, std::sqrt(6.0 / (4.0 * H_)));
  in_b_ = params.add(prefix + "in_proj_bias", 3 * H_, 1, 0.0, TorchLayout::Vector);
  out_w_ = params.add(prefix + "out_proj.weight", H_, H_, 1.0 / std::sqrt(double(H_)));
  out_b_ = params.add(prefix + "out_proj.bias", H_, 1, 0.0, TorchLayout::Vector);
  if (config.attention != "multihead") {
    ModelConfig head = config;
    head.hidden = dk_;
    for (std::size_t i = 0; i < heads_; ++i) {
      scores_.push_back(make_attention<T>(config.attention, params, head, prefix + "heads." + std::to_string(i) + "."));
      if (!scores_.back()) throw Error("attention '" + config.attention + "' built no strategy");
    }
  }
}

template <typename T>
void CrossAttention<T>::prepare(const Memory<T>& m, std::size_t T_max, CrossAttentionState<T>& s) const {
  // (2H × B·S): k and v of every real memory position, one GEMM onto the bias; padded positions
  // are keys nobody attends to, and get 0.
  const Mat<T>& W = params_.value(in_w_);
  s.memory_cols.clear();
  for (std::size_t b = 0; b < m.B; ++b)
    for (std::size_t j = 0; j < (*m.len)[b]; ++j) s.memory_cols.push_back(b * m.S + j);
  if (!worth_gathering(s.memory_cols.size(), m.values->n_cols)) s.memory_cols.clear();
  s.KV.set_size(2 * H_, m.values->n_cols);
  affine_columns(2 * H_, W.memptr() + H_, 3 * H_, *m.values, params_.value(in_b_).memptr() + H_, s.memory_cols,
                 s.KV.memptr(), 2 * H_, s.g_in, s.g_out);
  s.dkv_live = false;
  if (scores_.empty()) return;
  s.keys.resize(heads_);
  s.dkeys.resize(heads_);
  s.weights.resize(heads_);
  s.weight_mask.resize(heads_);
  if (s.batch.size() != heads_) {
    s.batch.clear();
    s.steps.clear();
    s.steps.resize(heads_);
    for (std::size_t i = 0; i < heads_; ++i) s.batch.push_back(scores_[i]->make_batch_state());
  }
  for (std::size_t i = 0; i < heads_; ++i) {
    s.keys[i] = s.KV.rows(i * dk_, (i + 1) * dk_ - 1);
    while (s.steps[i].size() < T_max) s.steps[i].push_back(scores_[i]->make_step_state());
    const Memory<T> mi{&s.keys[i], m.len, m.S, m.B};
    scores_[i]->prepare(mi, *s.batch[i]);
  }
}

template <typename T>
void CrossAttention<T>::forward(const Mat<T>& x, std::size_t t0, const Memory<T>& m,
                                CrossAttentionState<T>& s, Mat<T>& out, std::mt19937_64* rng,
                                const Columns* cols) const {
  const std::size_t B = m.B, S = m.S, N = x.n_cols, n = N / B;
  const bool drop = rng && dropout_ > 0;
  s.t0 = t0;
  s.n = n;
  if (cols) s.cols = *cols;
  else s.cols.clear();
  // q' of every query (or of s.cols, 0 at the others): one GEMM onto the bias, reading the
  // weight's first H rows in place
  s.Q.set_size(H_, N);
  affine_columns(H_, params_.value(in_w_).memptr(), 3 * H_, x, params_.value(in_b_).memptr(), s.cols, s.Q.memptr(),
                 H_, s.g_in, s.g_out);
  s.ctx.set_size(H_, N);
  if (scores_.empty()) {
    const T scale = T(1) / std::sqrt(T(dk_));
    s.attn.resize(B * heads_);
    s.attn_mask.resize(B * heads_);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t i = 0; i < heads_; ++i) {
        const T* k = s.KV.memptr() + 2 * H_ * S * b + i * dk_;
        const HeadBlock<T> h{s.Q.memptr() + H_ * b + i * dk_, k, k + H_, H_ * B, 2 * H_, 2 * H_,
                             n, (*m.len)[b], dk_, scale};
        Mat<T>& mask = s.attn_mask[b * heads_ + i];
        if (drop) dropout_mask(mask, h.nk, n, dropout_, *rng);
        else mask.reset();
        head_forward(h, s.attn[b * heads_ + i], mask, s.scratch, s.ctx.memptr() + H_ * b + i * dk_, H_ * B);
      }
  } else {
    s.ctx.zeros();
    for (std::size_t i = 0; i < heads_; ++i) {
      const Memory<T> mi{&s.keys[i], m.len, S, B};
      Mat<T>& W = s.weights[i];
      W.set_size(S, N);
      if (drop) dropout_mask(s.weight_mask[i], S, N, dropout_, *rng);
      else s.weight_mask[i].reset();
      for (std::size_t st = 0; st < n; ++st) {
        s.qh = s.Q.submat(i * dk_, st * B, (i + 1) * dk_ - 1, st * B + B - 1);
        s.w.set_size(S, B);
        scores_[i]->forward_weights(s.qh, t0 + st, mi, *s.batch[i], *s.steps[i][t0 + st], s.w);
        block(W, st * B, B) = s.w;
        if (drop) s.w %= block(s.weight_mask[i], st * B, B);
        for (std::size_t b = 0; b < B; ++b) {
          T* o = s.ctx.colptr(st * B + b) + i * dk_;
          const T* v = s.KV.memptr() + 2 * H_ * S * b + H_ + i * dk_;
          for (std::size_t j = 0; j < (*m.len)[b]; ++j) axpy(s.w(j, b), v + 2 * H_ * j, o, dk_);
        }
      }
    }
  }
  out.set_size(H_, N);
  affine_columns(H_, params_.value(out_w_).memptr(), H_, s.ctx, params_.value(out_b_).memptr(), s.cols, out.memptr(),
                 H_, s.g_in, s.g_out);
}

template <typename T>
void CrossAttention<T>::head_weights(const CrossAttentionState<T>& s, const Memory<T>& m, std::size_t step,
                                     std::size_t i, Mat<T>& out) const {
  const std::size_t B = m.B, S = m.S;
  if (!scores_.empty()) {
    out = *block(s.weights[i], step * B, B);
    return;
  }
  out.zeros(S, B);
  for (std::size_t b = 0; b < B; ++b) {
    const Mat<T>& a = s.attn[b * heads_ + i];
    for (std::size_t j = 0; j < a.n_rows; ++j) out(j, b) = a(j, step);
  }
}

template <typename T>
void CrossAttention<T>::backward(const Mat<T>& dout, const Mat<T>& x, const Memory<T>& m,
                                 CrossAttentionState<T>& s, Mat<T>& dx) const {
  const std::size_t B = m.B, S = m.S, N = x.n_cols, n = s.n;
  affine_backward(params_.value(out_w_).memptr(), H_, dout, s.ctx, params_.grad(out_w_).memptr(), H_,
                  params_.grad(out_b_).memptr(), s.dctx, s.gather, &s.cols);
  s.dQ.set_size(H_, N);  // every column is written below: by each head, or per head and step
  if (!s.dkv_live) {
    s.dKV.zeros(2 * H_, B * S);
    s.dkv_live = true;
  }
  if (scores_.empty()) {
    const T scale = T(1) / std::sqrt(T(dk_));
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t i = 0; i < heads_; ++i) {
        const T* k = s.KV.memptr() + 2 * H_ * S * b + i * dk_;
        const HeadBlock<T> h{s.Q.memptr() + H_ * b + i * dk_, k, k + H_, H_ * B, 2 * H_, 2 * H_,
                             n, (*m.len)[b], dk_, scale};
        T* dk = s.dKV.memptr() + 2 * H_ * S * b + i * dk_;
        head_backward(h, s.attn[b * heads_ + i], s.attn_mask[b * heads_ + i], s.dctx.memptr() + H_ * b + i * dk_,
                      H_ * B, s.scratch, s.da, s.dQ.memptr() + H_ * b + i * dk_, dk, dk + H_);
      }
  } else {
    for (std::size_t i = 0; i < heads_; ++i) {
      const Memory<T> mi{&s.keys[i], m.len, S, B};
      s.dkeys[i].zeros(dk_, B * S);
      for (std::size_t st = n; st-- > 0;) {
        // A copy: assigning the block itself (an rvalue over the weights' memory) would let
        // Armadillo's move make s.w a view of the weights, and the next forward write into them.
        s.w = *block(static_cast<const Mat<T>&>(s.weights[i]), st * B, B);
        const bool drop = !s.weight_mask[i].is_empty();
        s.dw.zeros(S, B);
        for (std::size_t b = 0; b < B; ++b) {
          const T* d_o = s.dctx.colptr(st * B + b) + i * dk_;
          for (std::size_t j = 0; j < (*m.len)[b]; ++j) {
            const T keep = drop ? s.weight_mask[i](j, st * B + b) : T(1);
            const std::size_t col = b * S + j;
            s.dw(j, b) = keep * dot(d_o, s.KV.colptr(col) + H_ + i * dk_, dk_);
            axpy(keep * s.w(j, b), d_o, s.dKV.colptr(col) + H_ + i * dk_, dk_);
          }
        }
        s.qh = s.Q.submat(i * dk_, st * B, (i + 1) * dk_ - 1, st * B + B - 1);
        scores_[i]->backward_weights(s.dw, s.qh, s.t0 + st, mi, *s.batch[i], *s.steps[i][s.t0 + st], s.dqh,
                                     s.dkeys[i]);
        s.dQ.submat(i * dk_, st * B, (i + 1) * dk_ - 1, st * B + B - 1) = s.dqh;
      }
      scores_[i]->prepare_backward(mi, *s.batch[i], s.dkeys[i]);
      s.dKV.rows(i * dk_, (i + 1) * dk_ - 1) += s.dkeys[i];
    }
  }
  // The q' rows of the packed weight, in place (leading dimension 3H).
  affine_backward(params_.value(in_w_).memptr(), 3 * H_, s.dQ, x, params_.grad(in_w_).memptr(), 3 * H_,
                  params_.grad(in_b_).memptr(), dx, s.gather, &s.cols);
}

template <typename T>
void CrossAttention<T>::finish_backward(const Memory<T>& m, CrossAttentionState<T>& s, Mat<T>& dmemory) const {
  if (!s.dkv_live) return;
  // The k and v rows of the packed weight, in place (leading dimension 3H). Padded memory
  // positions are keys nobody attends to: their columns of dKV are zero and are skipped.
  ColumnGather<T>& g = s.gather;
  if (!s.memory_cols.empty()) g.live = s.memory_cols;
  else nonzero_columns(s.dKV, g.live);
  const bool gather = !s.memory_cols.empty() || worth_gathering(g.live.size(), s.dKV.n_cols);
  const Mat<T>*d = &s.dKV, *x = m.values;
  if (gather) {
    gather_columns(s.dKV, g.live, g.d);
    gather_columns(*m.values, g.live, g.x);
    d = &g.d;
    x = &g.x;
  }
  const std::size_t n = d->n_cols;
  add_weight_grad(*d, *x, params_.grad(in_w_).memptr() + H_, 3 * H_);
  add_row_sums(d->memptr(), 2 * H_, 2 * H_, n, params_.grad(in_b_).memptr() + H_);
  const T* wkv = params_.value(in_w_).memptr() + H_;
  if (!gather) {
    gemm(true, false, H_, n, 2 * H_, T(1), wkv, 3 * H_, d->memptr(), 2 * H_, T(1), dmemory.memptr(), H_);
    return;
  }
  g.dx.set_size(H_, n);
  gemm(true, false, H_, n, 2 * H_, T(1), wkv, 3 * H_, d->memptr(), 2 * H_, T(0), g.dx.memptr(), H_);
  for (std::size_t k = 0; k < n; ++k) {
    const T* src = g.dx.colptr(k);
    T* dst = dmemory.colptr(g.live[k]);
    for (std::size_t i = 0; i < H_; ++i) dst[i] += src[i];
  }
}

template class CrossAttention<float>;
template class CrossAttention<double>;

}  // namespace attend
