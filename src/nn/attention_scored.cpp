// Scored attention: a = softmax of a base score e over a window of positions, context c = Σ a_j h_j.
//   global:  all real positions j < S_b
//   local-m: |j − p_t| ≤ D with p_t = min(t, S_b − 1)
//   local-p: |j − p_t| ≤ D with p_t = (S_b − 1)·σ(v_pᵀ tanh(W_p q)), and
//            a_j = softmax-in-window(e)_j · exp(−(j − p_t)² / (2σ²)), σ = D/2 (not renormalised)
// The normalizer is --attention-fn (softmax by default; sparsemax, entmax15, hard: attention_fn.hpp),
// applied in the window; local-p multiplies its output by the Gaussian as above (for hard: the
// one-hot of the drawn position times its Gaussian factor).
#include <algorithm>
#include <cmath>

#include "attend/core/error.hpp"
#include "attend/nn/attention_fn.hpp"
#include "nn/attention_builtin.hpp"
#include "core/kernels.hpp"

namespace attend {

template <typename T>
void window_softmax(const Mat<T>& e, const Lengths& lo, const Lengths& hi, Mat<T>& a) {
  a.zeros(e.n_rows, e.n_cols);
  for (std::size_t b = 0; b < e.n_cols; ++b) {
    if (lo[b] > hi[b]) continue;
    T mx = e(lo[b], b);
    for (std::size_t j = lo[b]; j <= hi[b]; ++j) mx = std::max(mx, e(j, b));
    T sum = 0;
    for (std::size_t j = lo[b]; j <= hi[b]; ++j) sum += (a(j, b) = std::exp(e(j, b) - mx));
    for (std::size_t j = lo[b]; j <= hi[b]; ++j) a(j, b) /= sum;
  }
}

template <typename T>
void softmax_backward(const Mat<T>& a, const Mat<T>& da, Mat<T>& de) {
  de.set_size(a.n_rows, a.n_cols);
  for (std::size_t b = 0; b < a.n_cols; ++b) {
    const T s = dot(a.colptr(b), da.colptr(b), a.n_rows);
    for (std::size_t j = 0; j < a.n_rows; ++j) de(j, b) = a(j, b) * (da(j, b) - s);
  }
}

template <typename T>
ScoredAttention<T>::ScoredAttention(ParameterRegistry<T>& params, const ModelConfig& config,
                                    const std::string& prefix, const std::string& score,
                                    Locality locality)
    : params_(params), score_(scores().factory<T>(score)(params, config, prefix)), locality_(locality),
      window_(static_cast<double>(config.window)), fn_(parse_attention_fn(config.attention_fn)) {
  if (locality == Locality::Predictive) {
    const double k = 1.0 / std::sqrt(double(config.hidden));
    w_p_ = params.add(prefix + "W_p.weight", config.hidden, config.hidden, k);
    v_p_ = params.add(prefix + "v_p.weight", 1, config.hidden, k);
  }
}

template <typename T>
std::unique_ptr<AttentionState> ScoredAttention<T>::make_batch_state() const {
  return std::make_unique<ScoreKeys<T>>();
}

template <typename T>
std::unique_ptr<AttentionState> ScoredAttention<T>::make_step_state() const {
  auto step = std::make_unique<ScoredStep<T>>();
  step->score = score_->make_step_state();
  return step;
}

template <typename T>
void ScoredAttention<T>::prepare(const Memory<T>& m, AttentionState& batch) const {
  score_->prepare(m, state_as<ScoreKeys<T>>(batch));
}

template <typename T>
void ScoredAttention<T>::forward(const Mat<T>& q, std::size_t t, const Memory<T>& m,
                                 AttentionState& batch, AttentionState& step,
                                 Mat<T>& context, Mat<T>& weights) const {
  forward_weights(q, t, m, batch, step, weights);
  const ScoredStep<T>& st = state_as<ScoredStep<T>>(step);
  const std::size_t B = m.B, d = m.dim();
  context.zeros(d, B);
  for (std::size_t b = 0; b < B; ++b) {
    const auto h = m.example(b);
    for (std::size_t j = st.lo[b]; j <= st.hi[b]; ++j) axpy(weights(j, b), h->colptr(j), context.colptr(b), d);
  }
}

template <typename T>
void ScoredAttention<T>::forward_weights(const Mat<T>& q, std::size_t t, const Memory<T>& m,
                                         AttentionState& batch, AttentionState& step,
                                         Mat<T>& weights) const {
  const std::size_t B = m.B, S = m.S;
  const Lengths& len = *m.len;
  ScoredStep<T>& st = state_as<ScoredStep<T>>(step);
  Mat<T>& e = st.e;
  e.set_size(S, B);
  score_->forward(q, m, state_as<ScoreKeys<T>>(batch), *st.score, e);

  Lengths& lo = st.lo;  // reused: no allocation per step
  Lengths& hi = st.hi;
  lo.resize(B);
  hi.resize(B);
  if (locality_ == Locality::Predictive) {
    Mat<T>& u = st.u;
    u = params_.value(w_p_) * q;  // (H × B)
    u.transform([](T x) { return std::tanh(x); });
    Mat<T>& p = st.p;
    p.set_size(2, B);
    const T* v = params_.value(v_p_).memptr();
    for (std::size_t b = 0; b < B; ++b) {
      const T sig = T(1) / (T(1) + std::exp(-dot(v, u.colptr(b), u.n_rows)));
      p(1, b) = sig;
      p(0, b) = static_cast<T>(len[b] - 1) * sig;
    }
  }
  for (std::size_t b = 0; b < B; ++b) {
    const double last = static_cast<double>(len[b] - 1);
    double center;
    if (locality_ == Locality::Global) {
      lo[b] = 0;
      hi[b] = len[b] - 1;
      continue;
    } else if (locality_ == Locality::Monotonic) {
      center = std::min(static_cast<double>(t), last);
    } else {
      center = static_cast<double>(st.p(0, b));
    }
    lo[b] = static_cast<arma::uword>(std::max(0.0, std::ceil(center - window_)));
    hi[b] = static_cast<arma::uword>(std::min(last, std::floor(center + window_)));
  }
  Mat<T>& alpha = st.alpha;
  if (fn_ == AttentionFn::Hard) {
    alpha.zeros(S, B);
    st.soft.zeros(S, B);
    HardAttentionPass* pass = m.hard;
    const bool record = pass && pass->options.estimator == HardEstimator::Reinforce && pass->log_prob.size() == B;
    for (std::size_t b = 0; b < B; ++b) {
      if (lo[b] > hi[b]) continue;
      const std::size_t j = lo[b] + hard_draw(e.colptr(b) + lo[b], hi[b] - lo[b] + 1, pass, alpha.colptr(b) + lo[b],
                                              st.soft.colptr(b) + lo[b]);
      if (record && (pass->steps.empty() || t < pass->steps[b])) pass->log_prob[b] += std::log(double(st.soft(j, b)));
    }
  } else {
    window_normalize(fn_, e, lo, hi, alpha);
  }
  weights = alpha;
  if (locality_ == Locality::Predictive) {
    const T two_sigma2 = static_cast<T>(2 * (window_ / 2) * (window_ / 2));
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t j = lo[b]; j <= hi[b]; ++j) {
        const T dj = static_cast<T>(j) - st.p(0, b);
        weights(j, b) *= std::exp(-dj * dj / two_sigma2);
      }
  }
}

template <typename T>
void ScoredAttention<T>::backward(const Mat<T>& dcontext, const Mat<T>& q, std::size_t t,
                                  const Memory<T>& m, AttentionState& batch,
                                  AttentionState& step, const Mat<T>& weights, Mat<T>& dq,
                                  Mat<T>& dmemory) const {
  const std::size_t B = m.B, S = m.S, d = m.dim();
  ScoredStep<T>& st = state_as<ScoredStep<T>>(step);
  Mat<T>& dw = st.dw;
  dw.zeros(S, B);
  for (std::size_t b = 0; b < B; ++b) {
    const auto h = m.example(b);
    Mat<T> dh = block(dmemory, b * S, S);
    const std::size_t lo = st.lo[b], hi = st.hi[b];
    for (std::size_t j = lo; j <= hi; ++j) {
      dw(j, b) = dot(h->colptr(j), dcontext.colptr(b), d);
      axpy(weights(j, b), dcontext.colptr(b), dh.colptr(j), d);
    }
  }
  weights_backward(q, t, m, batch, st, dq, dmemory);
}

template <typename T>
void ScoredAttention<T>::backward_weights(const Mat<T>& dweights, const Mat<T>& q, std::size_t t,
                                          const Memory<T>& m, AttentionState& batch,
                                          AttentionState& step, Mat<T>& dq, Mat<T>& dmemory) const {
  ScoredStep<T>& st = state_as<ScoredStep<T>>(step);
  st.dw = dweights;
  // Only the window carries weight: what lies outside it has no gradient.
  for (std::size_t b = 0; b < m.B; ++b)
    for (std::size_t j = 0; j < m.S; ++j)
      if (j < st.lo[b] || j > st.hi[b]) st.dw(j, b) = 0;
  weights_backward(q, t, m, batch, st, dq, dmemory);
}

template <typename T>
void ScoredAttention<T>::normalizer_backward(const Memory<T>& m, std::size_t t, ScoredStep<T>& st) const {
  if (fn_ != AttentionFn::Hard) return window_normalize_backward(fn_, st.alpha, st.dw, st.de);
  const std::size_t B = m.B;
  st.de.zeros(m.S, B);
  const HardAttentionPass* pass = m.hard;
  if (!pass) return;  // the deterministic argmax: no gradient reaches the scores
  const bool reinforce = pass->options.estimator == HardEstimator::Reinforce;
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t lo = st.lo[b], hi = st.hi[b];
    if (lo > hi) continue;
    // A draw past the example's target changes no loss: no score gradient (REINFORCE).
    if (reinforce && !pass->steps.empty() && t >= pass->steps[b]) continue;
    const double coef = reinforce ? pass->coefficient(b, t) : 0.0;
    hard_backward(pass->options, st.alpha.colptr(b) + lo, st.soft.colptr(b) + lo, st.dw.colptr(b) + lo,
                  hi - lo + 1, coef, reinforce ? pass->entropy_coef : 0.0, st.de.colptr(b) + lo);
  }
}

template <typename T>
void ScoredAttention<T>::weights_backward(const Mat<T>& q, std::size_t t, const Memory<T>& m,
                                          AttentionState& batch, ScoredStep<T>& st, Mat<T>& dq,
                                          Mat<T>& dmemory) const {
  const std::size_t B = m.B;
  ScoreKeys<T>& keys = state_as<ScoreKeys<T>>(batch);
  const Mat<T>& alpha = st.alpha;
  Mat<T>& dw = st.dw;
  dq.zeros(q.n_rows, q.n_cols);
  Mat<T>& de = st.de;
  if (locality_ != Locality::Predictive) {
    normalizer_backward(m, t, st);
    score_->backward(de, q, m, keys, *st.score, dq, dmemory);
    return;
  }
  // a_j = α_j g_j: dα = dw ⊙ g, dp = Σ_j dw_j α_j g_j (j − p)/σ².
  const T sigma2 = static_cast<T>((window_ / 2) * (window_ / 2));
  const Mat<T>& p = st.p;
  Mat<T>& dp = st.dp;
  dp.zeros(1, B);
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t lo = st.lo[b], hi = st.hi[b];
    for (std::size_t j = lo; j <= hi; ++j) {
      const T dj = static_cast<T>(j) - p(0, b);
      const T g = std::exp(-dj * dj / (2 * sigma2));
      dp(0, b) += dw(j, b) * alpha(j, b) * g * dj / sigma2;
      dw(j, b) *= g;
    }
  }
  normalizer_backward(m, t, st);
  score_->backward(de, q, m, keys, *st.score, dq, dmemory);
  // p = (S_b − 1)·σ(s), s = v_pᵀ u, u = tanh(W_p q)
  const Mat<T>& u = st.u;
  Mat<T>& du = st.du;
  du.set_size(u.n_rows, B);
  const T* v = params_.value(v_p_).memptr();
  T* dv = params_.grad(v_p_).memptr();
  for (std::size_t b = 0; b < B; ++b) {
    const T sig = p(1, b);
    const T ds = dp(0, b) * static_cast<T>((*m.len)[b] - 1) * sig * (T(1) - sig);
    axpy(ds, u.colptr(b), dv, u.n_rows);
    for (std::size_t i = 0; i < u.n_rows; ++i) du(i, b) = ds * v[i] * (T(1) - u(i, b) * u(i, b));
  }
  params_.grad(w_p_) += du * q.t();
  dq += params_.value(w_p_).t() * du;
}

template <typename T>
void ScoredAttention<T>::prepare_backward(const Memory<T>& m, AttentionState& batch,
                                          Mat<T>& dmemory) const {
  score_->prepare_backward(m, state_as<ScoreKeys<T>>(batch), dmemory);
}

AttentionTraits local_traits(Locality locality) {
  AttentionTraits t;
  t.help = locality == Locality::Predictive
               ? "window |j - p_t| <= --window around a predicted p_t, Gaussian-weighted; base --score"
               : "window |j - min(t, S-1)| <= --window; base --score";
  t.validate = [](const ModelConfig& c) {
    const auto score = scores().find(c.score);
    if (!score || !score->traits.local)
      throw Error("unknown score '" + c.score + "' for local attention (valid: " +
                  join_names(local_score_list(), ", ") + ")");
    if (c.window < 1) throw Error("--window must be at least 1 for local attention");
  };
  t.cost = [locality](const ModelConfig& c) {
    GemmCost g = scores().traits(c.score).global.cost(c);
    const double H = double(c.hidden);
    if (locality == Locality::Predictive) g.per_target_step += 3 * 2 * H * H;  // W_p
    return g;
  };
  return t;
}

template class ScoredAttention<float>;
template class ScoredAttention<double>;
template void window_softmax(const Mat<float>&, const Lengths&, const Lengths&, Mat<float>&);
template void window_softmax(const Mat<double>&, const Lengths&, const Lengths&, Mat<double>&);
template void softmax_backward(const Mat<float>&, const Mat<float>&, Mat<float>&);
template void softmax_backward(const Mat<double>&, const Mat<double>&, Mat<double>&);

}  // namespace attend
