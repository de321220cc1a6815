// A recurrent cell: the element-wise gate equations of one time step, forward and backward.
// The recurrent layer (encoder.hpp) owns the GEMMs: xw = W_ih x + b_ih for all steps at once and
// hw = W_hh h + b_hh per step, so a cell only combines them. State and caches belong to the caller.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attend/core/params.hpp"

namespace attend {

template <typename T>
class Cell {
 public:
  virtual ~Cell() = default;
  virtual std::size_t gates() const = 0;            // G: weight_ih has G·H rows
  virtual bool has_memory() const { return false; }  // LSTM carries c besides h
  virtual std::size_t cache_rows(std::size_t hidden) const = 0;

  // xw, hw: (G·H × B). Writes h, c (H × B; c untouched without memory) and cache.
  virtual void forward(const Mat<T>& xw, const Mat<T>& hw, const Mat<T>& h_prev,
                       const Mat<T>& c_prev, Mat<T>& h, Mat<T>& c, Mat<T>& cache) const = 0;
  // dh, dc: gradients reaching this step's h and c. Writes dxw and dhw (G·H × B), dh_prev (the
  // part of dL/dh_prev that does not pass through hw) and dc_prev.
  virtual void backward(const Mat<T>& dh, const Mat<T>& dc, const Mat<T>& h_prev,
                        const Mat<T>& c_prev, const Mat<T>& h, const Mat<T>& c,
                        const Mat<T>& cache, Mat<T>& dxw, Mat<T>& dhw, Mat<T>& dh_prev,
                        Mat<T>& dc_prev) const = 0;
};

template <typename T>
using CellFactory = std::function<std::unique_ptr<Cell<T>>()>;

// Registry by name. Built-in cells: rnn, lstm, gru.
template <typename T>
std::unique_ptr<Cell<T>> make_cell(const std::string& name);
std::vector<std::string> cell_names();
template <typename T>
void register_cell(const std::string& name, CellFactory<T> factory);

}  // namespace attend
