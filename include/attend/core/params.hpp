// One registry for every parameter and its gradient: named entries over one flat value vector and
// one flat gradient vector. Optimizers, clipping, checkpoints and gradient checks all walk it.
#pragma once
#include <armadillo>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace attend {

template <typename T> using Mat = arma::Mat<T>;
template <typename T> using Col = arma::Col<T>;

// How a parameter appears in a PyTorch state_dict. Plain: PyTorch shape (rows, cols) of our
// column-major rows × cols matrix (a Linear weight out × in, a bias (rows)). Embedding: we keep
// emb × V (a column per token), PyTorch keeps V × emb.
enum class TorchLayout { Matrix, Vector, TransposedMatrix };

struct ParameterEntry {
  std::string name;
  std::size_t offset, rows, cols;
  TorchLayout layout;
  double init_scale;  // uniform(-init_scale, init_scale)
};

template <typename T>
class ParameterRegistry {
 public:
  // Declares a parameter; returns its id. Only before allocate().
  std::size_t add(const std::string& name, std::size_t rows, std::size_t cols, double init_scale,
                  TorchLayout layout = TorchLayout::Matrix);
  // Creates the flat vectors and the views. Values are initialised from (seed, name), so a
  // parameter of the same name and shape starts identical in every model built with that seed.
  void allocate(std::uint64_t seed);
  bool allocated() const { return allocated_; }
  // Makes this registry read and write `owner`'s values (same entries required) while keeping
  // gradients of its own: a replica for data-parallel shards.
  void share_values(ParameterRegistry& owner);

  Mat<T>& value(std::size_t id) { return *values_view_[id]; }
  const Mat<T>& value(std::size_t id) const { return *values_view_[id]; }
  Mat<T>& grad(std::size_t id) { return *grads_view_[id]; }
  const Mat<T>& grad(std::size_t id) const { return *grads_view_[id]; }

  // The flat vectors may be modified in place, never re-seated: the views alias their memory.
  Col<T>& values() { return values_; }
  const Col<T>& values() const { return values_; }
  Col<T>& grads() { return grads_; }
  const Col<T>& grads() const { return grads_; }
  void zero_grad() { grads_.zeros(); }
  // Copies v (same size) into the values, in place.
  template <typename U>
  void assign(const Col<U>& v) {
    if (v.n_elem != values_.n_elem) throw std::invalid_argument("parameter vector size mismatch");
    for (std::size_t i = 0; i < v.n_elem; ++i) values_[i] = static_cast<T>(v[i]);
  }

  const std::vector<ParameterEntry>& entries() const { return entries_; }
  std::size_t size() const { return total_; }
  // Index of a named entry, or -1.
  long find(const std::string& name) const;
  // PyTorch shape of an entry.
  std::vector<std::size_t> torch_shape(std::size_t id) const;
  // Entry values in PyTorch's row-major order, and back.
  std::vector<float> torch_data(std::size_t id) const;
  void set_from_torch_data(std::size_t id, const std::vector<float>& data);
  // The same for the entry's slice of any flat vector laid out like values() (e.g. Adam's moments).
  std::vector<float> torch_data(std::size_t id, const Col<T>& flat) const;
  void set_from_torch_data(std::size_t id, const std::vector<float>& data, Col<T>& flat) const;

 private:
  std::vector<ParameterEntry> entries_;
  std::size_t total_ = 0;
  bool allocated_ = false;
  Col<T> values_, grads_;
  std::vector<std::unique_ptr<Mat<T>>> values_view_, grads_view_;
};

// A column block of a matrix as a matrix, without copying: columns [first, first + n). An empty
// block (n = 0 or no rows) is an empty matrix that aliases nothing.
template <typename T>
inline Mat<T> block(Mat<T>& m, std::size_t first, std::size_t n) {
  if (n == 0 || m.n_rows == 0) return Mat<T>(m.n_rows, n);
  return Mat<T>(m.memptr() + first * m.n_rows, m.n_rows, n, false, true);
}

// A read-only column block of a const matrix, without copying. Armadillo has no const view over
// foreign memory, so the view is a matrix over that memory that is only ever handed out as const:
// `*b` is the matrix, `b->` its members. Hold the block itself (`const auto b = block(m, …)`),
// not a reference taken from a temporary block. There is deliberately no conversion to Mat<T>:
// `const Mat<T> x = block(c, …)` would silently copy.
template <typename T>
class ConstBlock {
 public:
  ConstBlock(const Mat<T>& m, std::size_t first, std::size_t n)
      : view_(n == 0 || m.n_rows == 0
                  ? Mat<T>(m.n_rows, n)
                  : Mat<T>(const_cast<T*>(m.memptr()) + first * m.n_rows, m.n_rows, n, false,
                           true)) {}
  ConstBlock(const ConstBlock&) = delete;
  ConstBlock& operator=(const ConstBlock&) = delete;

  const Mat<T>& operator*() const { return view_; }
  const Mat<T>* operator->() const { return &view_; }

 private:
  Mat<T> view_;  // aliases const memory: never exposed as writable
};

template <typename T>
inline ConstBlock<T> block(const Mat<T>& m, std::size_t first, std::size_t n) {
  return ConstBlock<T>(m, first, n);
}

}  // namespace attend
