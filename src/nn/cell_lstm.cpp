// LSTM, gate rows i, f, g, o:
//   i, f, o = σ(W_i· x + b_i· + W_h· h + b_h·), g = tanh(·)
//   c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
// cache rows: [i; f; g; o; tanh(c')] (5H × B)
#include "nn/cells_builtin.hpp"

namespace attend {

namespace {

// One example's column; restrict-qualified parameters let the compiler vectorise over j.
template <typename T>
void lstm_forward_column(const T* __restrict x, const T* __restrict r, const T* __restrict cp,
                         T* __restrict k, T* __restrict hc, T* __restrict cc, std::size_t H) {
  for (std::size_t j = 0; j < H; ++j) {
    const T i = sigmoid_fast(x[j] + r[j]);
    const T f = sigmoid_fast(x[H + j] + r[H + j]);
    const T g = tanh_fast(x[2 * H + j] + r[2 * H + j]);
    const T o = sigmoid_fast(x[3 * H + j] + r[3 * H + j]);
    const T cn = f * cp[j] + i * g;
    const T tc = tanh_fast(cn);
    k[j] = i;
    k[H + j] = f;
    k[2 * H + j] = g;
    k[3 * H + j] = o;
    k[4 * H + j] = tc;
    cc[j] = cn;
    hc[j] = o * tc;
  }
}

template <typename T>
void lstm_backward_column(const T* __restrict gh, const T* __restrict gc, const T* __restrict cp,
                          const T* __restrict k, T* __restrict d, T* __restrict dcp,
                          std::size_t H) {
  for (std::size_t j = 0; j < H; ++j) {
    const T i = k[j], f = k[H + j], g = k[2 * H + j], o = k[3 * H + j], tc = k[4 * H + j];
    const T dct = gc[j] + gh[j] * o * (T(1) - tc * tc);  // dL/dc' in total
    d[j] = dct * g * i * (T(1) - i);
    d[H + j] = dct * cp[j] * f * (T(1) - f);
    d[2 * H + j] = dct * i * (T(1) - g * g);
    d[3 * H + j] = gh[j] * tc * o * (T(1) - o);
    dcp[j] = dct * f;
  }
}

}  // namespace

template <typename T>
void LstmCell<T>::forward(const Mat<T>& xw, const Mat<T>& hw, const Mat<T>&, const Mat<T>& c_prev,
                          Mat<T>& h, Mat<T>& c, Mat<T>& cache) const {
  for (std::size_t b = 0; b < h.n_cols; ++b)
    lstm_forward_column(xw.colptr(b), hw.colptr(b), c_prev.colptr(b), cache.colptr(b),
                        h.colptr(b), c.colptr(b), h.n_rows);
}

template <typename T>
void LstmCell<T>::backward(const Mat<T>& dh, const Mat<T>& dc, const Mat<T>&, const Mat<T>& c_prev,
                           const Mat<T>&, const Mat<T>&, const Mat<T>& cache, Mat<T>& dxw,
                           Mat<T>& dhw, Mat<T>& dh_prev, Mat<T>& dc_prev) const {
  for (std::size_t b = 0; b < dh.n_cols; ++b)
    lstm_backward_column(dh.colptr(b), dc.colptr(b), c_prev.colptr(b), cache.colptr(b),
                         dxw.colptr(b), dc_prev.colptr(b), dh.n_rows);
  dhw = dxw;
  dh_prev.zeros();
}

template class LstmCell<float>;
template class LstmCell<double>;

}  // namespace attend
