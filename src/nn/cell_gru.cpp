// GRU, gate rows r, z, n:
//   r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));  h' = (1 − z) ⊙ n + z ⊙ h
// cache rows: [r; z; n; W_hn h + b_hn] (4H × B)
#include "nn/cells_builtin.hpp"

namespace attend {

namespace {

// One example's column; restrict-qualified parameters let the compiler vectorise over j.
template <typename T>
void gru_forward_column(const T* __restrict x, const T* __restrict u, const T* __restrict hp,
                        T* __restrict k, T* __restrict out, std::size_t H) {
  for (std::size_t j = 0; j < H; ++j) {
    const T r = sigmoid_fast(x[j] + u[j]);
    const T z = sigmoid_fast(x[H + j] + u[H + j]);
    const T n = tanh_fast(x[2 * H + j] + r * u[2 * H + j]);
    k[j] = r;
    k[H + j] = z;
    k[2 * H + j] = n;
    k[3 * H + j] = u[2 * H + j];
    out[j] = (T(1) - z) * n + z * hp[j];
  }
}

template <typename T>
void gru_backward_column(const T* __restrict g, const T* __restrict hp, const T* __restrict k,
                         T* __restrict dx, T* __restrict du, T* __restrict dp, std::size_t H) {
  for (std::size_t j = 0; j < H; ++j) {
    const T r = k[j], z = k[H + j], n = k[2 * H + j], un = k[3 * H + j];
    const T dn = g[j] * (T(1) - z) * (T(1) - n * n);
    const T dz = g[j] * (hp[j] - n) * z * (T(1) - z);
    const T dr = dn * un * r * (T(1) - r);
    dx[j] = dr;
    dx[H + j] = dz;
    dx[2 * H + j] = dn;
    du[j] = dr;
    du[H + j] = dz;
    du[2 * H + j] = dn * r;
    dp[j] = g[j] * z;
  }
}

}  // namespace

template <typename T>
void GruCell<T>::forward(const Mat<T>& xw, const Mat<T>& hw, const Mat<T>& h_prev, const Mat<T>&,
                         Mat<T>& h, Mat<T>&, Mat<T>& cache) const {
  for (std::size_t b = 0; b < h.n_cols; ++b)
    gru_forward_column(xw.colptr(b), hw.colptr(b), h_prev.colptr(b), cache.colptr(b), h.colptr(b),
                       h.n_rows);
}

template <typename T>
void GruCell<T>::backward(const Mat<T>& dh, const Mat<T>&, const Mat<T>& h_prev, const Mat<T>&,
                          const Mat<T>&, const Mat<T>&, const Mat<T>& cache, Mat<T>& dxw,
                          Mat<T>& dhw, Mat<T>& dh_prev, Mat<T>&) const {
  for (std::size_t b = 0; b < dh.n_cols; ++b)
    gru_backward_column(dh.colptr(b), h_prev.colptr(b), cache.colptr(b), dxw.colptr(b),
                        dhw.colptr(b), dh_prev.colptr(b), dh.n_rows);
}

template class GruCell<float>;
template class GruCell<double>;

}  // namespace attend
