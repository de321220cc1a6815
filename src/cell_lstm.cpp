// LSTM, gate rows i, f, g, o:
//   i, f, o = σ(W_i· x + b_i· + W_h· h + b_h·), g = tanh(·)
//   c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
// cache rows: [i; f; g; o; tanh(c')] (5H × B)
#include "cells_builtin.hpp"

namespace attend {

template <typename T>
void LstmCell<T>::forward(const Mat<T>& xw, const Mat<T>& hw, const Mat<T>&, const Mat<T>& c_prev,
                          Mat<T>& h, Mat<T>& c, Mat<T>& cache) const {
  const std::size_t H = h.n_rows, B = h.n_cols;
  for (std::size_t b = 0; b < B; ++b) {
    const T* x = xw.colptr(b);
    const T* r = hw.colptr(b);
    const T* cp = c_prev.colptr(b);
    T* k = cache.colptr(b);
    T* hc = h.colptr(b);
    T* cc = c.colptr(b);
    for (std::size_t j = 0; j < H; ++j) {
      T i = sigmoid(x[j] + r[j]);
      T f = sigmoid(x[H + j] + r[H + j]);
      T g = std::tanh(x[2 * H + j] + r[2 * H + j]);
      T o = sigmoid(x[3 * H + j] + r[3 * H + j]);
      T cn = f * cp[j] + i * g;
      T tc = std::tanh(cn);
      k[j] = i; k[H + j] = f; k[2 * H + j] = g; k[3 * H + j] = o; k[4 * H + j] = tc;
      cc[j] = cn;
      hc[j] = o * tc;
    }
  }
}

template <typename T>
void LstmCell<T>::backward(const Mat<T>& dh, const Mat<T>& dc, const Mat<T>&, const Mat<T>& c_prev,
                           const Mat<T>&, const Mat<T>&, const Mat<T>& cache, Mat<T>& dxw,
                           Mat<T>& dhw, Mat<T>& dh_prev, Mat<T>& dc_prev) const {
  const std::size_t H = dh.n_rows, B = dh.n_cols;
  for (std::size_t b = 0; b < B; ++b) {
    const T* gh = dh.colptr(b);
    const T* gc = dc.colptr(b);
    const T* cp = c_prev.colptr(b);
    const T* k = cache.colptr(b);
    T* d = dxw.colptr(b);
    T* dcp = dc_prev.colptr(b);
    for (std::size_t j = 0; j < H; ++j) {
      T i = k[j], f = k[H + j], g = k[2 * H + j], o = k[3 * H + j], tc = k[4 * H + j];
      T dct = gc[j] + gh[j] * o * (T(1) - tc * tc);  // dL/dc' in total
      d[j] = dct * g * i * (T(1) - i);
      d[H + j] = dct * cp[j] * f * (T(1) - f);
      d[2 * H + j] = dct * i * (T(1) - g * g);
      d[3 * H + j] = gh[j] * tc * o * (T(1) - o);
      dcp[j] = dct * f;
    }
  }
  dhw = dxw;
  dh_prev.zeros();
}

template class LstmCell<float>;
template class LstmCell<double>;

}  // namespace attend
