// Built-in cells (internal). Gate rows follow PyTorch: LSTM i, f, g, o; GRU r, z, n.
#pragma once
#include "attend/nn/cell.hpp"
#include "core/kernels.hpp"

namespace attend {

template <typename T>
class RnnCell final : public Cell<T> {
 public:
  std::size_t gates() const override { return 1; }
  std::size_t cache_rows(std::size_t) const override { return 0; }
  void forward(const Mat<T>& xw, const Mat<T>& hw, const Mat<T>& h_prev, const Mat<T>& c_prev,
               Mat<T>& h, Mat<T>& c, Mat<T>& cache) const override;
  void backward(const Mat<T>& dh, const Mat<T>& dc, const Mat<T>& h_prev, const Mat<T>& c_prev,
                const Mat<T>& h, const Mat<T>& c, const Mat<T>& cache, Mat<T>& dxw, Mat<T>& dhw,
                Mat<T>& dh_prev, Mat<T>& dc_prev) const override;
};

template <typename T>
class LstmCell final : public Cell<T> {
 public:
  std::size_t gates() const override { return 4; }
  bool has_memory() const override { return true; }
  std::size_t cache_rows(std::size_t hidden) const override { return 5 * hidden; }
  std::vector<CellActivations> activations(std::size_t H) const override {
    return {{0, 2 * H, true}, {2 * H, H, false}, {3 * H, H, true}};  // i, f; g; o
  }
  void forward(const Mat<T>& xw, const Mat<T>& hw, const Mat<T>& h_prev, const Mat<T>& c_prev,
               Mat<T>& h, Mat<T>& c, Mat<T>& cache) const override;
  void backward(const Mat<T>& dh, const Mat<T>& dc, const Mat<T>& h_prev, const Mat<T>& c_prev,
                const Mat<T>& h, const Mat<T>& c, const Mat<T>& cache, Mat<T>& dxw, Mat<T>& dhw,
                Mat<T>& dh_prev, Mat<T>& dc_prev) const override;
};

template <typename T>
class GruCell final : public Cell<T> {
 public:
  std::size_t gates() const override { return 3; }
  std::size_t cache_rows(std::size_t hidden) const override { return 4 * hidden; }
  std::vector<CellActivations> activations(std::size_t H) const override {
    return {{0, 2 * H, true}, {2 * H, H, false}};  // r, z; n
  }
  void forward(const Mat<T>& xw, const Mat<T>& hw, const Mat<T>& h_prev, const Mat<T>& c_prev,
               Mat<T>& h, Mat<T>& c, Mat<T>& cache) const override;
  void backward(const Mat<T>& dh, const Mat<T>& dc, const Mat<T>& h_prev, const Mat<T>& c_prev,
                const Mat<T>& h, const Mat<T>& c, const Mat<T>& cache, Mat<T>& dxw, Mat<T>& dhw,
                Mat<T>& dh_prev, Mat<T>& dc_prev) const override;
};


}  // namespace attend
