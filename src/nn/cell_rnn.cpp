// RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
#include "nn/cells_builtin.hpp"

namespace attend {

template <typename T>
void RnnCell<T>::forward(const Mat<T>& xw, const Mat<T>& hw, const Mat<T>&, const Mat<T>&,
                         Mat<T>& h, Mat<T>&, Mat<T>&) const {
  const T* a = xw.memptr();
  const T* b = hw.memptr();
  T* out = h.memptr();
  for (std::size_t i = 0; i < h.n_elem; ++i) out[i] = tanh_fast(a[i] + b[i]);
}

// dpre = dh ⊙ (1 − h²); the pre-activation is shared by xw and hw.
template <typename T>
void RnnCell<T>::backward(const Mat<T>& dh, const Mat<T>&, const Mat<T>&, const Mat<T>&,
                          const Mat<T>& h, const Mat<T>&, const Mat<T>&, Mat<T>& dxw, Mat<T>& dhw,
                          Mat<T>& dh_prev, Mat<T>&) const {
  const T* g = dh.memptr();
  const T* y = h.memptr();
  T* dx = dxw.memptr();
  for (std::size_t i = 0; i < h.n_elem; ++i) dx[i] = g[i] * (T(1) - y[i] * y[i]);
  dhw = dxw;
  dh_prev.zeros();
}

template class RnnCell<float>;
template class RnnCell<double>;

}  // namespace attend
