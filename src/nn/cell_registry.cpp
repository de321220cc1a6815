#include <algorithm>

#include "attend/nn/cell.hpp"
#include "attend/core/error.hpp"
#include "nn/cells_builtin.hpp"

namespace attend {

namespace {
// In registration order, so listings show the built-ins first.
template <typename T>
std::vector<std::pair<std::string, CellFactory<T>>>& cell_table() {
  static std::vector<std::pair<std::string, CellFactory<T>>> table = {
      {"rnn", [] { return std::unique_ptr<Cell<T>>(new RnnCell<T>()); }},
      {"lstm", [] { return std::unique_ptr<Cell<T>>(new LstmCell<T>()); }},
      {"gru", [] { return std::unique_ptr<Cell<T>>(new GruCell<T>()); }},
  };
  return table;
}
template <typename T>
typename std::vector<std::pair<std::string, CellFactory<T>>>::iterator find_cell(const std::string& name) {
  auto& t = cell_table<T>();
  return std::find_if(t.begin(), t.end(), [&](const auto& kv) { return kv.first == name; });
}
}  // namespace

std::vector<std::string> cell_names() {
  std::vector<std::string> names;
  for (const auto& kv : cell_table<float>()) names.push_back(kv.first);
  return names;
}

template <typename T>
std::unique_ptr<Cell<T>> make_cell(const std::string& name) {
  auto it = find_cell<T>(name);
  if (it == cell_table<T>().end()) {
    std::string valid;
    for (const auto& n : cell_names()) valid += (valid.empty() ? "" : ", ") + n;
    throw Error("unknown cell '" + name + "' (valid: " + valid + ")");
  }
  return it->second();
}

template <typename T>
void register_cell(const std::string& name, CellFactory<T> factory) {
  auto it = find_cell<T>(name);
  if (it != cell_table<T>().end()) it->second = std::move(factory);
  else cell_table<T>().emplace_back(name, std::move(factory));
}

template std::unique_ptr<Cell<float>> make_cell<float>(const std::string&);
template std::unique_ptr<Cell<double>> make_cell<double>(const std::string&);
template void register_cell<float>(const std::string&, CellFactory<float>);
template void register_cell<double>(const std::string&, CellFactory<double>);

}  // namespace attend
