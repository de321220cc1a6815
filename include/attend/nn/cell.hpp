// A recurrent cell: the element-wise gate equations of one time step, forward and backward.
// The recurrent layer (encoder.hpp) owns the GEMMs: xw = W_ih x + b_ih for all steps at once and
// hw = W_hh h + b_hh per step, so a cell only combines them. State and caches belong to the caller.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attend/core/params.hpp"
#include "attend/core/registry.hpp"

namespace attend {

// Rows of a cell's cache that hold activations (diagnostics, ForwardStatistics): `count` rows
// from `first`, sigmoid gates or tanh candidates.
struct CellActivations {
  std::size_t first, count;
  bool sigmoid;  // false: tanh
};

template <typename T>
class Cell {
 public:
  virtual ~Cell() = default;
  virtual std::size_t gates() const = 0;            // G: weight_ih has G·H rows
  virtual bool has_memory() const { return false; }  // LSTM carries c besides h
  virtual std::size_t cache_rows(std::size_t hidden) const = 0;
  // Which cache rows are gate or candidate activations; none by default (a cell that caches
  // none, like rnn, or one that does not say).
  virtual std::vector<CellActivations> activations(std::size_t /*hidden*/) const { return {}; }

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

// What the library knows about a cell besides how to build it.
struct CellTraits {
  std::string help;       // one line for --help
  std::size_t gates = 0;  // G (weight_ih has G·H rows); 0 = ask a cell built by the factory
};

// Registry by name. Built-in cells: rnn, lstm, gru.
template <typename T>
std::unique_ptr<Cell<T>> make_cell(const std::string& name);
// Registered cells in registration order (built-ins first): names, {name, help} pairs, and
// "rnn | lstm | gru" for help texts.
std::vector<std::string> cell_names();
std::vector<RegistryItem> cell_list();
std::string cell_help();
bool cell_known(const std::string& name);
// A cell's traits (gates filled in); throws attend::Error naming the valid cells when unknown.
CellTraits cell_traits(const std::string& name);
// Registers a cell for both element types. Throws attend::Error when the name is taken.
void register_cell(const std::string& name, CellFactory<float> f32, CellFactory<double> f64,
                   CellTraits traits = {});
// Registers `CellType<float>` and `CellType<double>`, default-constructed.
template <template <typename> class CellType>
void register_cell(const std::string& name, CellTraits traits = {}) {
  register_cell(
      name, [] { return std::unique_ptr<Cell<float>>(new CellType<float>()); },
      [] { return std::unique_ptr<Cell<double>>(new CellType<double>()); }, std::move(traits));
}
// Registers one element type's factory (register both before use); an error when that type's
// factory of the name is already registered.
template <typename T>
void register_cell(const std::string& name, CellFactory<T> factory);

}  // namespace attend
