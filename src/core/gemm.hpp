// C = α·op(A)·op(B) + β·C on column-major blocks given by pointer and leading dimension, through
// the BLAS behind Armadillo. For products of sub-blocks that Armadillo would first copy out of
// their parent (per-head attention reads Q, K and V in place from the packed projection).
#pragma once
#include <armadillo>
#include <cstddef>

namespace attend {

template <typename T>
inline void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
                 const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
  const arma::blas_int M = arma::blas_int(m), N = arma::blas_int(n), K = arma::blas_int(k),
                       LA = arma::blas_int(lda), LB = arma::blas_int(ldb), LC = arma::blas_int(ldc);
  arma::blas::gemm<T>(trans_a ? "T" : "N", trans_b ? "T" : "N", &M, &N, &K, &alpha, a, &LA, b, &LB, &beta, c, &LC);
}

}  // namespace attend
