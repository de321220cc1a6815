// The pieces shared by the Transformer encoder and decoder layers (transformer_parts.hpp):
// nn.LayerNorm, the affine layers' backward, the activations and one head of scaled dot-product
// attention, each forward beside its backward.
#include "nn/transformer_parts.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/gemm.hpp"
#include "core/kernels.hpp"

namespace attend {

namespace {

constexpr double kNormEps = 1e-5;  // nn.LayerNorm's default eps
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

}  // namespace

// One pass per column for the mean, one for the variance of the centred values (kept in hat),
// one writing ĥ and y: no temporaries.
template <typename T>
void layer_norm(const Mat<T>& x, const Mat<T>& g, const Mat<T>& b, Mat<T>& hat, arma::Row<T>& rstd,
                Mat<T>& y) {
  const std::size_t H = x.n_rows, N = x.n_cols;
  hat.set_size(H, N);
  rstd.set_size(N);
  y.set_size(H, N);
  const T* gp = g.memptr();
  const T* bp = b.memptr();
  const T inv_h = T(1) / T(H);
  for (std::size_t j = 0; j < N; ++j) {
    const T* xc = x.colptr(j);
    T* hc = hat.colptr(j);
    T* yc = y.colptr(j);
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::size_t i = 0; i < H; ++i) sum += xc[i];
    const T mean = sum * inv_h;
    T sq = 0;
#pragma omp simd reduction(+ : sq)
    for (std::size_t i = 0; i < H; ++i) {
      const T c = xc[i] - mean;
      hc[i] = c;
      sq += c * c;
    }
    const T r = T(1) / std::sqrt(sq * inv_h + T(kNormEps));
    rstd[j] = r;
#pragma omp simd
    for (std::size_t i = 0; i < H; ++i) {
      const T h = hc[i] * r;
      hc[i] = h;
      yc[i] = h * gp[i] + bp[i];
    }
  }
}

// Per column: one pass for dĥ = dy ⊙ g with its two means (and the columns' contributions to
// dg and db, summed over the columns first, then added), one writing dx (plus `plus`, if given).
// dx may be dy.
template <typename T>
void layer_norm_backward(const Mat<T>& dy, const Mat<T>& hat, const arma::Row<T>& rstd, const Mat<T>& g,
                         Mat<T>& dg, Mat<T>& db, Mat<T>& dx, const Mat<T>* plus) {
  const std::size_t H = dy.n_rows, N = dy.n_cols;
  if (&dx != &dy) dx.set_size(H, N);
  std::vector<T> sums(2 * H, T(0));
  T* sg = sums.data();
  T* sb = sg + H;
  const T* gp = g.memptr();
  const T inv_h = T(1) / T(H);
  for (std::size_t j = 0; j < N; ++j) {
    const T* d = dy.colptr(j);
    const T* h = hat.colptr(j);
    T* o = dx.colptr(j);
    T m1 = 0, m2 = 0;
#pragma omp simd reduction(+ : m1, m2)
    for (std::size_t i = 0; i < H; ++i) {
      const T di = d[i], hi = h[i], dh = di * gp[i];
      sg[i] += di * hi;
      sb[i] += di;
      o[i] = dh;
      m1 += dh;
      m2 += dh * hi;
    }
    m1 *= inv_h;
    m2 *= inv_h;
    const T r = rstd[j];
    if (plus) {
      const T* p = plus->colptr(j);
#pragma omp simd
      for (std::size_t i = 0; i < H; ++i) o[i] = (o[i] - m1 - h[i] * m2) * r + p[i];
    } else {
#pragma omp simd
      for (std::size_t i = 0; i < H; ++i) o[i] = (o[i] - m1 - h[i] * m2) * r;
    }
  }
  T* dgp = dg.memptr();
  T* dbp = db.memptr();
  for (std::size_t i = 0; i < H; ++i) {
    dgp[i] += sg[i];
    dbp[i] += sb[i];
  }
}

template <typename T>
void affine_backward(const T* w, std::size_t ldw, const Mat<T>& d, const Mat<T>& x, T* gw, std::size_t ldgw,
                     T* gb, Mat<T>& dx, ColumnGather<T>& s, const Columns* cols) {
  const std::size_t m = d.n_rows, k = x.n_rows, N = d.n_cols;
  if (cols && !cols->empty()) s.live = *cols;
  else nonzero_columns(d, s.live);
  const bool gather = (cols && !cols->empty()) || worth_gathering(s.live.size(), N);
  const Mat<T>*dd = &d, *xx = &x;
  if (gather) {
    gather_columns(d, s.live, s.d);
    gather_columns(x, s.live, s.x);
    dd = &s.d;
    xx = &s.x;
  }
  const std::size_t n = dd->n_cols;
  add_weight_grad(*dd, *xx, gw, ldgw);
  add_row_sums(dd->memptr(), m, m, n, gb);
  Mat<T>& out = gather ? s.dx : dx;
  out.set_size(k, n);
  gemm(true, false, k, n, m, T(1), w, ldw, dd->memptr(), m, T(0), out.memptr(), k);
  if (gather) scatter_columns(s.dx, s.live, N, dx);
}

template <typename T>
void activate(Mat<T>& x, bool gelu) {
  if (gelu) x.transform([](T v) { return T(0.5) * v * (T(1) + std::erf(v * T(kInvSqrt2))); });
  else {
    T* p = x.memptr();
#pragma omp simd
    for (std::size_t i = 0; i < x.n_elem; ++i) p[i] = p[i] > 0 ? p[i] : T(0);
  }
}

template <typename T>
void activate_backward(const Mat<T>& pre, Mat<T>& d, bool gelu) {
  if (gelu) {
    // d/dx of x·Φ(x) = Φ(x) + x·φ(x)
    for (std::size_t i = 0; i < d.n_elem; ++i) {
      const T v = pre[i];
      d[i] *= T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2))) + v * T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
    }
  } else {
    // A select rather than a branch, so the loop vectorises (the branch mispredicts on half the units).
    const T* p = pre.memptr();
    T* g = d.memptr();
#pragma omp simd
    for (std::size_t i = 0; i < d.n_elem; ++i) g[i] = p[i] > 0 ? g[i] : T(0);
  }
}

template <typename T>
void head_forward(const HeadBlock<T>& h, Mat<T>& a, const Mat<T>& mask, Mat<T>& scratch, T* o,
                  std::size_t ldo) {
  a.set_size(h.nk, h.nq);
  gemm(true, false, h.nk, h.nq, h.dk, h.scale, h.k, h.ldk, h.q, h.ldq, T(0), a.memptr(), h.nk);  // KᵀQ·scale
  for (std::size_t i = 0; i < h.nq; ++i) {
    const std::size_t n = h.causal ? std::min(h.first + i + 1, h.nk) : h.nk;
    T* col = a.colptr(i);
    const T mx = *std::max_element(col, col + n);
    T sum = 0;
    for (std::size_t j = 0; j < n; ++j) sum += col[j] = std::exp(col[j] - mx);
    const T inv = T(1) / sum;
    for (std::size_t j = 0; j < n; ++j) col[j] *= inv;
    for (std::size_t j = n; j < h.nk; ++j) col[j] = 0;
  }
  const T* w = a.memptr();
  if (!mask.is_empty()) {
    scratch = a % mask;
    w = scratch.memptr();
  }
  gemm(false, false, h.dk, h.nq, h.nk, T(1), h.v, h.ldv, w, h.nk, T(0), o, ldo);  // V a
}

template <typename T>
void head_backward(const HeadBlock<T>& h, const Mat<T>& a, const Mat<T>& mask, const T* dout,
                   std::size_t lddo, Mat<T>& scratch, Mat<T>& da, T* dq, T* dkey, T* dv) {
  const T* w = a.memptr();
  if (!mask.is_empty()) {
    scratch = a % mask;
    w = scratch.memptr();
  }
  gemm(false, true, h.dk, h.nk, h.nq, T(1), dout, lddo, w, h.nk, T(0), dv, h.ldv);  // dV = dO wᵀ
  da.set_size(h.nk, h.nq);
  gemm(true, false, h.nk, h.nq, h.dk, T(1), h.v, h.ldv, dout, lddo, T(0), da.memptr(), h.nk);  // Vᵀ dO
  if (!mask.is_empty()) da %= mask;
  // Softmax backward per query column: ds = a ⊙ (da − Σ_j a_j da_j); a is 0 past count(i).
  for (std::size_t i = 0; i < h.nq; ++i) {
    const T* ac = a.colptr(i);
    T* dc = da.colptr(i);
    const T s = attend::dot(ac, dc, h.nk);
    for (std::size_t j = 0; j < h.nk; ++j) dc[j] = ac[j] * (dc[j] - s);
  }
  gemm(false, false, h.dk, h.nq, h.nk, h.scale, h.k, h.ldk, da.memptr(), h.nk, T(0), dq, h.ldq);     // dQ = K ds·scale
  gemm(false, true, h.dk, h.nk, h.nq, h.scale, h.q, h.ldq, da.memptr(), h.nk, T(0), dkey, h.ldk);  // dK = Q dsᵀ·scale
}

#define ATTEND_TRANSFORMER_PARTS(T)                                                                  \
  template void layer_norm(const Mat<T>&, const Mat<T>&, const Mat<T>&, Mat<T>&, arma::Row<T>&, Mat<T>&); \
  template void layer_norm_backward(const Mat<T>&, const Mat<T>&, const arma::Row<T>&, const Mat<T>&,    \
                                    Mat<T>&, Mat<T>&, Mat<T>&, const Mat<T>*);                           \
  template void affine_backward(const T*, std::size_t, const Mat<T>&, const Mat<T>&, T*, std::size_t, T*, \
                               Mat<T>&, ColumnGather<T>&, const Columns*);                           \
  template void activate(Mat<T>&, bool);                                                             \
  template void activate_backward(const Mat<T>&, Mat<T>&, bool);                                     \
  template void head_forward(const HeadBlock<T>&, Mat<T>&, const Mat<T>&, Mat<T>&, T*, std::size_t); \
  template void head_backward(const HeadBlock<T>&, const Mat<T>&, const Mat<T>&, const T*, std::size_t, \
                              Mat<T>&, Mat<T>&, T*, T*, T*);
ATTEND_TRANSFORMER_PARTS(float)
ATTEND_TRANSFORMER_PARTS(double)
#undef ATTEND_TRANSFORMER_PARTS

}  // namespace attend
