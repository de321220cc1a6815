// GRU, gate rows r, z, n:
//   r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));  h' = (1 − z) ⊙ n + z ⊙ h
// cache rows: [r; z; n; W_hn h + b_hn] (4H × B)
#include "cells_builtin.hpp"

namespace attend {

template <typename T>
void GruCell<T>::forward(const Mat<T>& xw, const Mat<T>& hw, const Mat<T>& h_prev, const Mat<T>&,
                         Mat<T>& h, Mat<T>&, Mat<T>& cache) const {
  const std::size_t H = h.n_rows, B = h.n_cols;
  for (std::size_t b = 0; b < B; ++b) {
    const T* x = xw.colptr(b);
    const T* u = hw.colptr(b);
    const T* hp = h_prev.colptr(b);
    T* k = cache.colptr(b);
    T* out = h.colptr(b);
    for (std::size_t j = 0; j < H; ++j) {
      T r = sigmoid(x[j] + u[j]);
      T z = sigmoid(x[H + j] + u[H + j]);
      T n = std::tanh(x[2 * H + j] + r * u[2 * H + j]);
      k[j] = r; k[H + j] = z; k[2 * H + j] = n; k[3 * H + j] = u[2 * H + j];
      out[j] = (T(1) - z) * n + z * hp[j];
    }
  }
}

template <typename T>
void GruCell<T>::backward(const Mat<T>& dh, const Mat<T>&, const Mat<T>& h_prev, const Mat<T>&,
                          const Mat<T>&, const Mat<T>&, const Mat<T>& cache, Mat<T>& dxw,
                          Mat<T>& dhw, Mat<T>& dh_prev, Mat<T>&) const {
  const std::size_t H = dh.n_rows, B = dh.n_cols;
  for (std::size_t b = 0; b < B; ++b) {
    const T* g = dh.colptr(b);
    const T* hp = h_prev.colptr(b);
    const T* k = cache.colptr(b);
    T* dx = dxw.colptr(b);
    T* du = dhw.colptr(b);
    T* dp = dh_prev.colptr(b);
    for (std::size_t j = 0; j < H; ++j) {
      T r = k[j], z = k[H + j], n = k[2 * H + j], un = k[3 * H + j];
      T dn = g[j] * (T(1) - z) * (T(1) - n * n);
      T dz = g[j] * (hp[j] - n) * z * (T(1) - z);
      T dr = dn * un * r * (T(1) - r);
      dx[j] = dr; dx[H + j] = dz; dx[2 * H + j] = dn;
      du[j] = dr; du[H + j] = dz; du[2 * H + j] = dn * r;
      dp[j] = g[j] * z;
    }
  }
}

template class GruCell<float>;
template class GruCell<double>;

}  // namespace attend
