#include <map>

#include "attend/cell.hpp"
#include "attend/error.hpp"
#include "cells_builtin.hpp"

namespace attend {

namespace {
template <typename T>
std::map<std::string, CellFactory<T>>& cell_table() {
  static std::map<std::string, CellFactory<T>> table = {
      {"rnn", [] { return std::unique_ptr<Cell<T>>(new RnnCell<T>()); }},
      {"lstm", [] { return std::unique_ptr<Cell<T>>(new LstmCell<T>()); }},
      {"gru", [] { return std::unique_ptr<Cell<T>>(new GruCell<T>()); }},
  };
  return table;
}
}  // namespace

std::vector<std::string> cell_names() {
  std::vector<std::string> names;
  for (const auto& kv : cell_table<float>()) names.push_back(kv.first);
  return names;
}

template <typename T>
std::unique_ptr<Cell<T>> make_cell(const std::string& name) {
  auto it = cell_table<T>().find(name);
  if (it == cell_table<T>().end()) {
    std::string valid;
    for (const auto& n : cell_names()) valid += (valid.empty() ? "" : ", ") + n;
    throw Error("unknown cell '" + name + "' (valid: " + valid + ")");
  }
  return it->second();
}

template <typename T>
void register_cell(const std::string& name, CellFactory<T> factory) {
  cell_table<T>()[name] = std::move(factory);
}

template std::unique_ptr<Cell<float>> make_cell<float>(const std::string&);
template std::unique_ptr<Cell<double>> make_cell<double>(const std::string&);
template void register_cell<float>(const std::string&, CellFactory<float>);
template void register_cell<double>(const std::string&, CellFactory<double>);

}  // namespace attend
