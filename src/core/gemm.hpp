// C = α·op(A)·op(B) + β·C on column-major blocks given by pointer and leading dimension, through
// the BLAS behind Armadillo. For products of sub-blocks that Armadillo would first copy out of
// their parent (per-head attention reads Q, K and V in place from the packed projection), and for
// the affine layers: gemm_bias writes the bias into every column of C first and adds the product
// to it (β = 1), which spares both BLAS's zeroing pass over C and a second pass adding the bias.
#pragma once
#include <armadillo>
#include <cstddef>
#include <algorithm>
#include <vector>

namespace attend {

template <typename T>
inline void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
                 const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
  const arma::blas_int M = arma::blas_int(m), N = arma::blas_int(n), K = arma::blas_int(k),
                       LA = arma::blas_int(lda), LB = arma::blas_int(ldb), LC = arma::blas_int(ldc);
  arma::blas::gemm<T>(trans_a ? "T" : "N", trans_b ? "T" : "N", &M, &N, &K, &alpha, a, &LA, b, &LB, &beta, c, &LC);
}

// C (m × n, leading dimension ldc) = op(A)·op(B) + bias (m values) in every column.
template <typename T>
inline void gemm_bias(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, const T* a,
                      std::size_t lda, const T* b, std::size_t ldb, const T* bias, T* c, std::size_t ldc) {
  for (std::size_t j = 0; j < n; ++j) {
    T* col = c + j * ldc;
    for (std::size_t i = 0; i < m; ++i) col[i] = bias[i];
  }
  if (k == 0) return;
  if (n == 1) {  // one column (a decoding step of one sentence): a matrix-vector product, as Armadillo's
    const arma::blas_int rows = arma::blas_int(trans_a ? k : m), cols = arma::blas_int(trans_a ? m : k),
                         LA = arma::blas_int(lda), inc_b = arma::blas_int(trans_b ? ldb : 1), one = 1;
    const T alpha = T(1), beta = T(1);
    arma::blas::gemv<T>(trans_a ? "T" : "N", &rows, &cols, &alpha, a, &LA, b, &inc_b, &beta, c, &one);
    return;
  }
  gemm(trans_a, trans_b, m, n, k, T(1), a, lda, b, ldb, T(1), c, ldc);
}

// out = W·x + b over whole matrices (W: m × k, x: k × n); out is resized to m × n.
template <typename T>
inline void affine(const arma::Mat<T>& w, const arma::Mat<T>& x, const arma::Mat<T>& bias, arma::Mat<T>& out) {
  out.set_size(w.n_rows, x.n_cols);
  gemm_bias(false, false, w.n_rows, x.n_cols, w.n_cols, w.memptr(), w.n_rows, x.memptr(), x.n_rows,
            bias.memptr(), out.memptr(), w.n_rows);
}

// g[i] += Σ_j d(i, j) over the m × n block d (leading dimension ld): the bias gradient. The
// columns are summed first, in order, and the sum added to g, as g += arma::sum(d, 1) does.
template <typename T>
inline void add_row_sums(const T* d, std::size_t ld, std::size_t m, std::size_t n, T* g) {
  if (n == 0 || m == 0) return;
  std::vector<T> s(d, d + m);
  T* sp = s.data();
  for (std::size_t j = 1; j < n; ++j) {
    const T* col = d + j * ld;
#pragma omp simd
    for (std::size_t i = 0; i < m; ++i) sp[i] += col[i];
  }
#pragma omp simd
  for (std::size_t i = 0; i < m; ++i) g[i] += sp[i];
}

template <typename T>
inline void add_row_sums(const arma::Mat<T>& d, arma::Mat<T>& g) {
  add_row_sums(d.memptr(), d.n_rows, d.n_rows, d.n_cols, g.memptr());
}

// G += D·Xᵀ (the weight gradient of an affine layer), D: m × n, X: k × n, G: m × k at g with
// leading dimension ldg.
template <typename T>
inline void add_weight_grad(const arma::Mat<T>& d, const arma::Mat<T>& x, T* g, std::size_t ldg) {
  if (d.n_cols == 0) return;
  gemm(false, true, d.n_rows, x.n_rows, d.n_cols, T(1), d.memptr(), d.n_rows, x.memptr(), x.n_rows, T(1), g, ldg);
}

}  // namespace attend

namespace attend {

// The columns of d that are not all zero, in order (a NaN counts as non-zero). A backward pass
// over padded positions carries exact zeros there; the products can skip those columns.
template <typename T>
inline void nonzero_columns(const arma::Mat<T>& d, std::vector<std::size_t>& live) {
  live.clear();
  live.reserve(d.n_cols);
  const std::size_t m = d.n_rows;
  for (std::size_t j = 0; j < d.n_cols; ++j) {
    const T* c = d.colptr(j);
    std::size_t i = 0;
    while (i < m && c[i] == T(0)) ++i;
    if (i < m) live.push_back(j);
  }
}

// Whether skipping the all-zero columns pays for gathering the others: at least 1 in 16 is zero.
inline bool worth_gathering(std::size_t live, std::size_t n) { return live + n / 16 < n; }

// out = the columns `cols` of src, in that order.
template <typename T>
inline void gather_columns(const arma::Mat<T>& src, const std::vector<std::size_t>& cols, arma::Mat<T>& out) {
  out.set_size(src.n_rows, cols.size());
  for (std::size_t k = 0; k < cols.size(); ++k) std::copy_n(src.colptr(cols[k]), src.n_rows, out.colptr(k));
}

// out (m × n): column cols[k] = src column k, zeros elsewhere.
template <typename T>
inline void scatter_columns(const arma::Mat<T>& src, const std::vector<std::size_t>& cols, std::size_t n,
                            arma::Mat<T>& out) {
  out.zeros(src.n_rows, n);
  for (std::size_t k = 0; k < cols.size(); ++k) std::copy_n(src.colptr(k), src.n_rows, out.colptr(cols[k]));
}

}  // namespace attend

namespace attend {

// The columns t·B + b with t < len[b] of n time steps of B = len.size() examples (time-major
// blocks), in order, when they leave out enough of the others to pay for gathering; otherwise
// empty, which means every column. Training computes only these positions where nothing reads
// the others (padded targets feed no loss; padded sources are keys nobody attends to).
template <typename L>
inline void real_columns(const std::vector<L>& len, std::size_t n, std::vector<std::size_t>& cols) {
  const std::size_t B = len.size();
  cols.clear();
  for (std::size_t t = 0; t < n; ++t)
    for (std::size_t b = 0; b < B; ++b)
      if (t < std::size_t(len[b])) cols.push_back(t * B + b);
  if (!worth_gathering(cols.size(), n * B)) cols.clear();
}

// dst (m × N, leading dimension ld): column cols[k] = src column k, 0 in the other columns.
template <typename T>
inline void scatter_columns(const arma::Mat<T>& src, const std::vector<std::size_t>& cols, std::size_t N, T* dst,
                            std::size_t ld) {
  const std::size_t m = src.n_rows;
  std::size_t k = 0;
  for (std::size_t j = 0; j < N; ++j) {
    T* col = dst + j * ld;
    if (k < cols.size() && cols[k] == j) std::copy_n(src.colptr(k++), m, col);
    else std::fill_n(col, m, T(0));
  }
}

// C (m × N, leading dimension ldc) = A·x + bias (A: m × k at a, leading dimension lda; x: k × N)
// on the columns `cols` of x and 0 on the others; every column when cols is empty. xg and cg
// hold the gathered columns and their product.
template <typename T>
inline void affine_columns(std::size_t m, const T* a, std::size_t lda, const arma::Mat<T>& x, const T* bias,
                           const std::vector<std::size_t>& cols, T* c, std::size_t ldc, arma::Mat<T>& xg,
                           arma::Mat<T>& cg) {
  const std::size_t k = x.n_rows;
  if (cols.empty()) {
    gemm_bias(false, false, m, x.n_cols, k, a, lda, x.memptr(), k, bias, c, ldc);
    return;
  }
  gather_columns(x, cols, xg);
  cg.set_size(m, cols.size());
  gemm_bias(false, false, m, cols.size(), k, a, lda, xg.memptr(), k, bias, cg.memptr(), m);
  scatter_columns(cg, cols, x.n_cols, c, ldc);
}

}  // namespace attend
