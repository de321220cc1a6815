// Multi-head attention exactly as torch.nn.MultiheadAttention(H, heads) with key = value = memory:
//   [q'; k; v] = in_proj_weight [q; h; h] + in_proj_bias      (row blocks of the 3H × H weight)
//   per head i: a_i = masked softmax(q'_iᵀ k_{i,j} / √(H/heads)),  o_i = Σ_j a_ij v_{i,j}
//   context = out_proj.weight [o_1; …; o_heads] + out_proj.bias;  weights = mean_i a_i
// With --attention-fn sparsemax / entmax15 / hard each head's softmax is that normalizer instead
// (over the real positions; attention_fn.hpp): with hard each head draws its own position.
#include <cmath>

#include "attend/core/error.hpp"
#include "nn/attention_builtin.hpp"
#include "core/kernels.hpp"

namespace attend {

template <typename T>
MultiheadAttention<T>::MultiheadAttention(ParameterRegistry<T>& params, const ModelConfig& config,
                                          const std::string& prefix)
    : params_(params), heads_(config.heads), fn_(parse_attention_fn(config.attention_fn)) {
  const std::size_t H = config.hidden;
  if (heads_ == 0 || H % heads_ != 0)
    throw Error("--heads " + std::to_string(heads_) + " does not divide --hidden " +
                std::to_string(H) + "; choose a number of heads that divides the hidden size");
  const double k = std::sqrt(6.0 / (H + 3.0 * H));  // xavier_uniform over the packed weight
  in_w_ = params.add(prefix + "in_proj_weight", 3 * H, H, k);
  in_b_ = params.add(prefix + "in_proj_bias", 3 * H, 1, 0.0, TorchLayout::Vector);
  out_w_ = params.add(prefix + "out_proj.weight", H, H, 1.0 / std::sqrt(double(H)));
  out_b_ = params.add(prefix + "out_proj.bias", H, 1, 0.0, TorchLayout::Vector);
}

template <typename T>
std::unique_ptr<AttentionState> MultiheadAttention<T>::make_batch_state() const {
  return std::make_unique<MultiheadBatch<T>>();
}

template <typename T>
std::unique_ptr<AttentionState> MultiheadAttention<T>::make_step_state() const {
  return std::make_unique<MultiheadStep<T>>();
}

template <typename T>
void MultiheadAttention<T>::prepare(const Memory<T>& m, AttentionState& batch) const {
  MultiheadBatch<T>& bt = state_as<MultiheadBatch<T>>(batch);
  Mat<T>& P = bt.P;
  P = params_.value(in_w_) * *m.values;  // (3H × B·S); the query rows go unused
  P.each_col() += params_.value(in_b_).col(0);
  bt.dP.zeros(P.n_rows, P.n_cols);
}

template <typename T>
void MultiheadAttention<T>::forward(const Mat<T>& q, std::size_t t, const Memory<T>& m,
                                    AttentionState& batch, AttentionState& step,
                                    Mat<T>& context, Mat<T>& weights) const {
  const std::size_t B = m.B, S = m.S, H = q.n_rows, dh = H / heads_;
  const T scale = static_cast<T>(1.0 / std::sqrt(double(dh)));
  const Mat<T>& P = state_as<MultiheadBatch<T>>(batch).P;
  MultiheadStep<T>& st = state_as<MultiheadStep<T>>(step);
  Mat<T>& qp = st.qp;
  qp = params_.value(in_w_) * q;  // (3H × B)
  qp.each_col() += params_.value(in_b_).col(0);
  Mat<T>& A = st.A;
  A.zeros(S, B * heads_);
  Mat<T>& o = st.o;
  o.zeros(H, B);
  weights.zeros(S, B);
  HardAttentionPass* pass = m.hard;
  const bool hard = fn_ == AttentionFn::Hard;
  const bool record = hard && pass && pass->options.estimator == HardEstimator::Reinforce && pass->log_prob.size() == B;
  if (hard) st.soft.zeros(S, B * heads_);
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t n = (*m.len)[b];
    for (std::size_t i = 0; i < heads_; ++i) {
      T* a = A.colptr(b * heads_ + i);
      const T* qi = qp.colptr(b) + i * dh;
      T mx = -std::numeric_limits<T>::infinity();
      for (std::size_t j = 0; j < n; ++j) {
        a[j] = scale * dot(qi, P.colptr(b * S + j) + H + i * dh, dh);
        mx = std::max(mx, a[j]);
      }
      T sum = 1;
      if (fn_ == AttentionFn::Softmax) {
        sum = 0;
        for (std::size_t j = 0; j < n; ++j) sum += (a[j] = std::exp(a[j] - mx));
      } else if (hard) {
        T* soft = st.soft.colptr(b * heads_ + i);
        const std::size_t j = hard_draw(a, n, pass, a, soft);
        if (record && (pass->steps.empty() || t < pass->steps[b])) pass->log_prob[b] += std::log(double(soft[j]));
      } else {
        normalize(fn_, a, n, a);
      }
      for (std::size_t j = 0; j < n; ++j) {
        if (fn_ == AttentionFn::Softmax) a[j] /= sum;
        axpy(a[j], P.colptr(b * S + j) + 2 * H + i * dh, o.colptr(b) + i * dh, dh);
        weights(j, b) += a[j] / static_cast<T>(heads_);
      }
    }
  }
  context = params_.value(out_w_) * o;  // (H × B)
  context.each_col() += params_.value(out_b_).col(0);
}

template <typename T>
void MultiheadAttention<T>::backward(const Mat<T>& dcontext, const Mat<T>& q, std::size_t t,
                                     const Memory<T>& m, AttentionState& batch,
                                     AttentionState& step, const Mat<T>&, Mat<T>& dq,
                                     Mat<T>&) const {
  const std::size_t B = m.B, S = m.S, H = q.n_rows, dh = H / heads_;
  const T scale = static_cast<T>(1.0 / std::sqrt(double(dh)));
  MultiheadBatch<T>& bt = state_as<MultiheadBatch<T>>(batch);
  MultiheadStep<T>& st = state_as<MultiheadStep<T>>(step);
  const Mat<T>& P = bt.P;
  Mat<T>& dP = bt.dP;
  const Mat<T>& qp = st.qp;
  const Mat<T>& A = st.A;
  const Mat<T>& o = st.o;
  params_.grad(out_w_) += dcontext * o.t();
  params_.grad(out_b_) += arma::sum(dcontext, 1);
  Mat<T>& d_o = st.d_o;
  d_o = params_.value(out_w_).t() * dcontext;  // (H × B)
  Mat<T>& dqp = st.dqp;
  dqp.zeros(3 * H, B);
  Mat<T>& da = st.da;  // reused: no allocation per step
  da.set_size(S, 1);
  st.de.set_size(S, 1);
  const HardAttentionPass* pass = m.hard;
  const bool reinforce = pass && pass->options.estimator == HardEstimator::Reinforce;
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t n = (*m.len)[b];
    for (std::size_t i = 0; i < heads_; ++i) {
      const T* a = A.colptr(b * heads_ + i);
      const T* doi = d_o.colptr(b) + i * dh;
      T s = 0;
      for (std::size_t j = 0; j < n; ++j) {
        da[j] = dot(doi, P.colptr(b * S + j) + 2 * H + i * dh, dh);
        s += a[j] * da[j];
        axpy(a[j], doi, dP.colptr(b * S + j) + 2 * H + i * dh, dh);
      }
      if (fn_ == AttentionFn::Hard) {
        // The estimator (attention_fn.hpp); nothing for the argmax, or for a draw past the
        // example's target under REINFORCE (it changes no loss).
        if (!pass || (reinforce && !pass->steps.empty() && t >= pass->steps[b]))
          st.de.zeros();
        else
          hard_backward(pass->options, a, st.soft.colptr(b * heads_ + i), da.memptr(), n,
                        reinforce ? pass->coefficient(b, t) : 0.0,
                        reinforce ? pass->entropy_coef : 0.0, st.de.memptr());
      } else if (fn_ != AttentionFn::Softmax) {
        normalize_backward(fn_, a, da.memptr(), n, st.de.memptr());
      }
      for (std::size_t j = 0; j < n; ++j) {
        const T ds = (fn_ == AttentionFn::Softmax ? a[j] * (da[j] - s) : st.de[j]) * scale;
        axpy(ds, P.colptr(b * S + j) + H + i * dh, dqp.colptr(b) + i * dh, dh);
        axpy(ds, qp.colptr(b) + i * dh, dP.colptr(b * S + j) + H + i * dh, dh);
      }
    }
  }
  params_.grad(in_w_) += dqp * q.t();
  params_.grad(in_b_) += arma::sum(dqp, 1);
  dq = params_.value(in_w_).t() * dqp;
}

template <typename T>
void MultiheadAttention<T>::prepare_backward(const Memory<T>& m, AttentionState& batch,
                                             Mat<T>& dmemory) const {
  const Mat<T>& dP = state_as<MultiheadBatch<T>>(batch).dP;
  params_.grad(in_w_) += dP * m.values->t();
  params_.grad(in_b_) += arma::sum(dP, 1);
  dmemory += params_.value(in_w_).t() * dP;
}

AttentionTraits multihead_traits() {
  AttentionTraits t;
  t.help = "torch.nn.MultiheadAttention(H, --heads); weights averaged over heads";
  t.attention_fn = true;
  t.validate = [](const ModelConfig& c) {
    if (c.heads == 0 || c.hidden % c.heads != 0)
      throw Error("--heads " + std::to_string(c.heads) + " does not divide --hidden " +
                  std::to_string(c.hidden) + "; choose a number of heads that divides it");
  };
  // in_proj over the memory once per batch and over the query per step; out_proj per step.
  t.cost = [](const ModelConfig& c) {
    const double H = double(c.hidden);
    GemmCost g;
    g.per_source_position = 3 * 2 * 3 * H * H;
    g.per_target_step = 3 * 2 * 3 * H * H + 3 * 2 * H * H;
    return g;
  };
  return t;
}

template class MultiheadAttention<float>;
template class MultiheadAttention<double>;

}  // namespace attend
