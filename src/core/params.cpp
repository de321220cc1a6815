#include "attend/core/params.hpp"

#include "attend/core/error.hpp"

namespace attend {

namespace {
std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}
std::uint64_t splitmix(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

template <typename T>
std::size_t ParameterRegistry<T>::add(const std::string& name, std::size_t rows, std::size_t cols,
                                      double init_scale, TorchLayout layout) {
  if (allocated_) throw Error("parameter '" + name + "' declared after the registry was allocated");
  if (find(name) >= 0) throw Error("parameter '" + name + "' declared twice");
  entries_.push_back({name, total_, rows, cols, layout, init_scale});
  total_ += rows * cols;
  return entries_.size() - 1;
}

template <typename T>
void ParameterRegistry<T>::allocate(std::uint64_t seed) {
  values_.zeros(total_);
  grads_.zeros(total_);
  values_view_.clear();
  grads_view_.clear();
  for (const auto& e : entries_) {
    values_view_.emplace_back(new Mat<T>(values_.memptr() + e.offset, e.rows, e.cols, false, true));
    grads_view_.emplace_back(new Mat<T>(grads_.memptr() + e.offset, e.rows, e.cols, false, true));
    std::uint64_t state = seed * 0x2545f4914f6cdd1dull ^ fnv1a(e.name);
    T* v = values_.memptr() + e.offset;
    for (std::size_t i = 0; i < e.rows * e.cols; ++i) {
      double u = (splitmix(state) >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
      v[i] = static_cast<T>((2 * u - 1) * e.init_scale);
    }
  }
  allocated_ = true;
}

template <typename T>
void ParameterRegistry<T>::share_values(ParameterRegistry& owner) {
  if (!allocated_ || !owner.allocated_ || owner.total_ != total_ ||
      owner.entries_.size() != entries_.size())
    throw Error("cannot share parameters between registries of different models");
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const auto& e = entries_[i];
    if (e.name != owner.entries_[i].name || e.offset != owner.entries_[i].offset)
      throw Error("cannot share parameters between registries of different models");
    values_view_[i].reset(new Mat<T>(owner.values_.memptr() + e.offset, e.rows, e.cols, false, true));
  }
  values_.reset();
}

template <typename T>
long ParameterRegistry<T>::find(const std::string& name) const {
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].name == name) return static_cast<long>(i);
  return -1;
}

template <typename T>
std::vector<std::size_t> ParameterRegistry<T>::torch_shape(std::size_t id) const {
  const auto& e = entries_.at(id);
  switch (e.layout) {
    case TorchLayout::Vector: return {e.rows * e.cols};
    case TorchLayout::TransposedMatrix: return {e.cols, e.rows};
    default: return {e.rows, e.cols};
  }
}

namespace {
// Entry e's values in PyTorch's row-major order, read from `data` (e's slice, column-major).
template <typename T>
std::vector<float> row_major(const ParameterEntry& e, const T* data) {
  std::vector<float> out(e.rows * e.cols);
  if (e.layout == TorchLayout::Matrix) {
    for (std::size_t r = 0; r < e.rows; ++r)
      for (std::size_t c = 0; c < e.cols; ++c) out[r * e.cols + c] = static_cast<float>(data[c * e.rows + r]);
  } else {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(data[i]);
  }
  return out;
}

// The reverse: row-major `data` into e's slice `out` (column-major).
template <typename T>
void from_row_major(const ParameterEntry& e, const std::vector<float>& data, T* out) {
  if (data.size() != e.rows * e.cols)
    throw Error("parameter '" + e.name + "' expects " + std::to_string(e.rows * e.cols) +
                " values, got " + std::to_string(data.size()));
  if (e.layout == TorchLayout::Matrix) {
    for (std::size_t r = 0; r < e.rows; ++r)
      for (std::size_t c = 0; c < e.cols; ++c) out[c * e.rows + r] = static_cast<T>(data[r * e.cols + c]);
  } else {
    for (std::size_t i = 0; i < data.size(); ++i) out[i] = static_cast<T>(data[i]);
  }
}

void check_flat(std::size_t n, std::size_t total) {
  if (n != total)
    throw Error("a flat vector of " + std::to_string(n) + " values does not match " +
                std::to_string(total) + " parameters");
}
}  // namespace

template <typename T>
std::vector<float> ParameterRegistry<T>::torch_data(std::size_t id) const {
  return row_major(entries_.at(id), value(id).memptr());
}

template <typename T>
void ParameterRegistry<T>::set_from_torch_data(std::size_t id, const std::vector<float>& data) {
  from_row_major(entries_.at(id), data, value(id).memptr());
}

template <typename T>
std::vector<float> ParameterRegistry<T>::torch_data(std::size_t id, const Col<T>& flat) const {
  check_flat(flat.n_elem, total_);
  const ParameterEntry& e = entries_.at(id);
  return row_major(e, flat.memptr() + e.offset);
}

template <typename T>
void ParameterRegistry<T>::set_from_torch_data(std::size_t id, const std::vector<float>& data,
                                               Col<T>& flat) const {
  check_flat(flat.n_elem, total_);
  const ParameterEntry& e = entries_.at(id);
  from_row_major(e, data, flat.memptr() + e.offset);
}

template class ParameterRegistry<float>;
template class ParameterRegistry<double>;

}  // namespace attend
