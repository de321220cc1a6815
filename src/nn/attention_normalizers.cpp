// The normalizers of attention weights side by side (include/attend/nn/attention_fn.hpp): softmax,
// sparsemax and 1.5-entmax, forward and exact backward. sparsemax and entmax15 sort the scores
// and find the threshold τ in closed form; they compute in double precision whatever T is (the
// vectors are one source sentence long), so float training and the double gradient checks see the
// same support.
#include "attend/nn/attention_fn.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "attend/core/error.hpp"
#include "attend/nn/attention.hpp"

namespace attend {

namespace {

struct FnName {
  AttentionFn fn;
  const char* name;
};
constexpr FnName kFns[] = {{AttentionFn::Softmax, "softmax"},
                           {AttentionFn::Sparsemax, "sparsemax"},
                           {AttentionFn::Entmax15, "entmax15"},
                           {AttentionFn::Hard, "hard"}};

// The scores sorted in decreasing order, in a buffer each thread reuses.
template <typename T>
std::vector<double>& sorted_desc(const T* z, std::size_t n) {
  thread_local std::vector<double> zs;
  zs.assign(z, z + n);
  std::sort(zs.begin(), zs.end(), std::greater<double>());
  return zs;
}

}  // namespace

std::string to_string(AttentionFn fn) {
  for (const auto& f : kFns)
    if (f.fn == fn) return f.name;
  return "?";
}

bool attention_fn_known(const std::string& name) {
  for (const auto& f : kFns)
    if (name == f.name) return true;
  return false;
}

AttentionFn parse_attention_fn(const std::string& name) {
  for (const auto& f : kFns)
    if (name == f.name) return f.fn;
  throw Error("unknown attention function '" + name + "' (valid: softmax, sparsemax, entmax15, hard)");
}

std::string attention_fn_help() { return "softmax | sparsemax | entmax15 | hard"; }

std::string to_string(HardEstimator e) { return e == HardEstimator::Gumbel ? "gumbel" : "reinforce"; }

HardEstimator parse_hard_estimator(const std::string& name) {
  if (name == "reinforce") return HardEstimator::Reinforce;
  if (name == "gumbel") return HardEstimator::Gumbel;
  throw Error("unknown --hard-estimator '" + name + "' (valid: reinforce, gumbel)");
}

std::string hard_estimator_help() { return "reinforce | gumbel"; }

std::string to_string(HardReward r) { return r == HardReward::Sequence ? "sequence" : "to-go"; }

HardReward parse_hard_reward(const std::string& name) {
  if (name == "sequence") return HardReward::Sequence;
  if (name == "to-go") return HardReward::ToGo;
  throw Error("unknown --reinforce-reward '" + name + "' (valid: sequence, to-go)");
}

std::string hard_reward_help() { return "sequence | to-go"; }

void HardAttentionOptions::validate() const {
  if (!(gumbel_tau > 0) || !std::isfinite(gumbel_tau)) throw Error("--gumbel-tau must be a positive number");
  if (!(baseline_decay >= 0 && baseline_decay < 1)) throw Error("--baseline-decay must be in [0, 1)");
  if (!(entropy_weight >= 0) || !std::isfinite(entropy_weight)) throw Error("--entropy-weight must be at least 0");
}

namespace {

// The first maximum of z (ties to the lowest index).
template <typename T>
std::size_t first_argmax(const T* z, std::size_t n) {
  std::size_t j = 0;
  for (std::size_t k = 1; k < n; ++k)
    if (z[k] > z[j]) j = k;
  return j;
}

// softmax(x) of n doubles into out (T).
template <typename T>
void softmax_into(const double* x, std::size_t n, T* out) {
  double mx = x[0];
  for (std::size_t k = 1; k < n; ++k) mx = std::max(mx, x[k]);
  double sum = 0;
  for (std::size_t k = 0; k < n; ++k) sum += std::exp(x[k] - mx);
  for (std::size_t k = 0; k < n; ++k) out[k] = static_cast<T>(std::exp(x[k] - mx) / sum);
}

// A uniform draw in (0, 1) from the 53 high bits of one draw of the stream (never 0 or 1).
double open_uniform(std::mt19937_64& rng) { return (double(rng() >> 11) + 0.5) * 0x1.0p-53; }

}  // namespace

template <typename T>
std::size_t hard_draw(const T* z, std::size_t n, HardAttentionPass* pass, T* p, T* soft) {
  if (n == 0) return 0;
  std::size_t j;
  if (!pass) {
    j = first_argmax(z, n);
    for (std::size_t k = 0; k < n; ++k) soft[k] = T(0);
    soft[j] = T(1);
  } else {
    thread_local std::vector<double> x;
    x.assign(z, z + n);
    const bool gumbel = pass->options.estimator == HardEstimator::Gumbel;
    if (gumbel) {
      // Always one draw per position (also when `forced`), so the stream advances alike.
      for (std::size_t k = 0; k < n; ++k) {
        const double g = -std::log(-std::log(open_uniform(*pass->rng)));
        x[k] = (x[k] + g) / pass->options.gumbel_tau;
      }
    }
    softmax_into(x.data(), n, soft);
    if (pass->next_forced < pass->forced.size()) {
      j = pass->forced[pass->next_forced++];
      if (j >= n) {
        j = n - 1;
        pass->forced_invalid = true;
      }
    } else if (gumbel) {
      j = first_argmax(x.data(), n);
    } else {
      // Inverse CDF of softmax(z) on one uniform draw; rounding leaves the last position.
      const double u = open_uniform(*pass->rng);
      double cum = 0;
      j = n - 1;
      for (std::size_t k = 0; k < n; ++k) {
        cum += double(soft[k]);
        if (u < cum) {
          j = k;
          break;
        }
      }
    }
  }
  for (std::size_t k = 0; k < n; ++k) p[k] = T(0);
  p[j] = T(1);
  return j;
}

template <typename T>
void hard_backward(const HardAttentionOptions& options, const T* p, const T* soft, const T* dp,
                   std::size_t n, double coef, double entropy_coef, T* dz) {
  if (options.estimator == HardEstimator::Gumbel) {
    double s = 0;
    for (std::size_t k = 0; k < n; ++k) s += double(soft[k]) * double(dp[k]);
    const double inv_tau = 1 / options.gumbel_tau;
    for (std::size_t k = 0; k < n; ++k) dz[k] = static_cast<T>(inv_tau * double(soft[k]) * (double(dp[k]) - s));
    return;
  }
  double entropy = 0;
  if (entropy_coef != 0)
    for (std::size_t k = 0; k < n; ++k)
      if (soft[k] > 0) entropy -= double(soft[k]) * std::log(double(soft[k]));
  for (std::size_t k = 0; k < n; ++k) {
    const double q = double(soft[k]);
    double g = coef * (double(p[k]) - q);
    if (entropy_coef != 0 && q > 0) g += entropy_coef * q * (std::log(q) + entropy);
    dz[k] = static_cast<T>(g);
  }
}

// sparsemax (Martins & Astudillo, 2016): with z sorted, z_(1) ≥ … ≥ z_(n), the support size is
// k* = max{k : 1 + k z_(k) > Σ_{i≤k} z_(i)}, τ = (Σ_{i≤k*} z_(i) − 1) / k*, p = [z − τ]₊.
template <typename T>
void sparsemax(const T* z, std::size_t n, T* p) {
  if (n == 0) return;
  if (n == 1) {  // z − (z − 1) need not round to 1
    p[0] = T(1);
    return;
  }
  const std::vector<double>& zs = sorted_desc(z, n);
  double cum = 0, support_cum = zs[0];
  std::size_t k = 1;
  for (std::size_t i = 0; i < n; ++i) {
    cum += zs[i];
    if (1 + double(i + 1) * zs[i] > cum) {
      k = i + 1;
      support_cum = cum;
    }
  }
  const double tau = (support_cum - 1) / double(k);
  for (std::size_t j = 0; j < n; ++j) p[j] = static_cast<T>(std::max(double(z[j]) - tau, 0.0));
}

// 1.5-entmax (Peters, Niculae & Martins, 2019, the sorting algorithm for α = 1.5): with
// x = (z − max z)/2 sorted decreasing, a support of the k largest needs Σ_{i≤k} (x_(i) − τ)² = 1,
// whose smaller root is τ_k = mean_k − √(1/k − var_k) (mean and variance of x_(1) … x_(k)); the
// support is the largest k with x_(k) > τ_k, and p = [x − τ]₊².
template <typename T>
void entmax15(const T* z, std::size_t n, T* p) {
  if (n == 0) return;
  if (n == 1) {
    p[0] = T(1);
    return;
  }
  const std::vector<double>& zs = sorted_desc(z, n);
  const double mx = zs[0];
  double mean = 0, m2 = 0, tau = -1;  // k = 1: τ = x_(1) − 1 = −1
  for (std::size_t i = 0; i < n; ++i) {
    const double x = (zs[i] - mx) / 2, r = double(i + 1);
    const double d = x - mean;  // Welford: mean and Σ (x − mean)² of the k largest
    mean += d / r;
    m2 += d * (x - mean);
    const double delta = 1 / r - m2 / r;
    if (delta < 0) break;
    const double t = mean - std::sqrt(delta);
    if (!(x > t)) break;
    tau = t;
  }
  for (std::size_t j = 0; j < n; ++j) {
    const double v = std::max((double(z[j]) - mx) / 2 - tau, 0.0);
    p[j] = static_cast<T>(v * v);
  }
}

template <typename T>
void normalize(AttentionFn fn, const T* z, std::size_t n, T* p) {
  if (n == 0) return;
  switch (fn) {
    case AttentionFn::Sparsemax:
      sparsemax(z, n, p);
      return;
    case AttentionFn::Entmax15:
      entmax15(z, n, p);
      return;
    case AttentionFn::Hard: {  // the deterministic form: one-hot of the first maximum
      const std::size_t j = first_argmax(z, n);
      for (std::size_t k = 0; k < n; ++k) p[k] = T(0);
      p[j] = T(1);
      return;
    }
    case AttentionFn::Softmax: {
      T mx = z[0];
      for (std::size_t j = 0; j < n; ++j) mx = std::max(mx, z[j]);
      T sum = 0;
      for (std::size_t j = 0; j < n; ++j) sum += (p[j] = std::exp(z[j] - mx));
      for (std::size_t j = 0; j < n; ++j) p[j] /= sum;
      return;
    }
  }
}

template <typename T>
void normalize_backward(AttentionFn fn, const T* p, const T* dp, std::size_t n, T* dz) {
  switch (fn) {
    case AttentionFn::Hard:  // the argmax is piecewise constant: no gradient reaches the scores
      for (std::size_t j = 0; j < n; ++j) dz[j] = T(0);
      return;
    case AttentionFn::Softmax: {
      double s = 0;
      for (std::size_t j = 0; j < n; ++j) s += double(p[j]) * double(dp[j]);
      for (std::size_t j = 0; j < n; ++j) dz[j] = static_cast<T>(double(p[j]) * (double(dp[j]) - s));
      return;
    }
    case AttentionFn::Sparsemax: {  // J = diag(1_S) − 1_S 1_Sᵀ / |S|
      double sum = 0;
      std::size_t k = 0;
      for (std::size_t j = 0; j < n; ++j)
        if (p[j] > 0) sum += double(dp[j]), ++k;
      const double mean = k ? sum / double(k) : 0.0;
      for (std::size_t j = 0; j < n; ++j) dz[j] = p[j] > 0 ? static_cast<T>(double(dp[j]) - mean) : T(0);
      return;
    }
    case AttentionFn::Entmax15: {  // J = diag(s) − s sᵀ / Σ s, s = √p
      double ss = 0, sd = 0;
      for (std::size_t j = 0; j < n; ++j) {
        const double s = p[j] > 0 ? std::sqrt(double(p[j])) : 0.0;
        ss += s;
        sd += s * double(dp[j]);
      }
      const double q = ss > 0 ? sd / ss : 0.0;
      for (std::size_t j = 0; j < n; ++j) {
        const double s = p[j] > 0 ? std::sqrt(double(p[j])) : 0.0;
        dz[j] = static_cast<T>(s * (double(dp[j]) - q));
      }
      return;
    }
  }
}

template <typename T>
void window_normalize(AttentionFn fn, const Mat<T>& e, const std::vector<arma::uword>& lo,
                      const std::vector<arma::uword>& hi, Mat<T>& a) {
  if (fn == AttentionFn::Softmax) return window_softmax(e, lo, hi, a);
  a.zeros(e.n_rows, e.n_cols);
  for (std::size_t b = 0; b < e.n_cols; ++b) {
    if (lo[b] > hi[b]) continue;
    normalize(fn, e.colptr(b) + lo[b], hi[b] - lo[b] + 1, a.colptr(b) + lo[b]);
  }
}

template <typename T>
void window_normalize_backward(AttentionFn fn, const Mat<T>& a, const Mat<T>& da, Mat<T>& de) {
  if (fn == AttentionFn::Softmax) return softmax_backward(a, da, de);
  de.set_size(a.n_rows, a.n_cols);
  for (std::size_t b = 0; b < a.n_cols; ++b) normalize_backward(fn, a.colptr(b), da.colptr(b), a.n_rows, de.colptr(b));
}

#define ATTEND_NORMALIZERS(T)                                                                        \
  template void sparsemax(const T*, std::size_t, T*);                                                \
  template void entmax15(const T*, std::size_t, T*);                                                 \
  template void normalize(AttentionFn, const T*, std::size_t, T*);                                   \
  template void normalize_backward(AttentionFn, const T*, const T*, std::size_t, T*);                \
  template void window_normalize(AttentionFn, const Mat<T>&, const std::vector<arma::uword>&,        \
                                 const std::vector<arma::uword>&, Mat<T>&);                          \
  template void window_normalize_backward(AttentionFn, const Mat<T>&, const Mat<T>&, Mat<T>&);      \
  template std::size_t hard_draw(const T*, std::size_t, HardAttentionPass*, T*, T*);                 \
  template void hard_backward(const HardAttentionOptions&, const T*, const T*, const T*, std::size_t, \
                              double, double, T*);
ATTEND_NORMALIZERS(float)
ATTEND_NORMALIZERS(double)
#undef ATTEND_NORMALIZERS

}  // namespace attend
