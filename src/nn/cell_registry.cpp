// The cell registry: name → factories (float, double) and traits. A built-in cell is one line of
// the table below.
#include "attend/core/registry.hpp"
#include "attend/nn/cell.hpp"
#include "nn/cells_builtin.hpp"

namespace attend {

namespace {

using CellRegistry = FactoryRegistry<CellFactory, CellTraits>;

template <template <typename> class C>
CellRegistry::Entry builtin(const std::string& name, const std::string& help, std::size_t gates) {
  return CellRegistry::entry(name, [] { return std::unique_ptr<Cell<float>>(new C<float>()); },
                             [] { return std::unique_ptr<Cell<double>>(new C<double>()); },
                             CellTraits{help, gates});
}

// In registration order, so listings show the built-ins first.
CellRegistry& registry() {
  static CellRegistry r(
      "cell", "a cell",
      {
          builtin<RnnCell>("rnn", "Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)", 1),
          builtin<LstmCell>("lstm", "LSTM, gates i, f, g, o (PyTorch's order)", 4),
          builtin<GruCell>("gru", "GRU, gates r, z, n (PyTorch's order)", 3),
      });
  return r;
}

}  // namespace

std::vector<std::string> cell_names() { return registry().names(); }
std::vector<RegistryItem> cell_list() { return registry().list(); }
std::string cell_help() { return registry().help(); }
bool cell_known(const std::string& name) { return registry().known(name); }

template <typename T>
std::unique_ptr<Cell<T>> make_cell(const std::string& name) {
  return registry().factory<T>(name)();
}

CellTraits cell_traits(const std::string& name) {
  CellTraits t = registry().traits(name);
  if (t.gates == 0) t.gates = make_cell<float>(name)->gates();
  return t;
}

void register_cell(const std::string& name, CellFactory<float> f32, CellFactory<double> f64,
                   CellTraits traits) {
  registry().add(name, std::move(f32), std::move(f64), std::move(traits));
}

template <typename T>
void register_cell(const std::string& name, CellFactory<T> factory) {
  registry().add<T>(name, std::move(factory));
}

template std::unique_ptr<Cell<float>> make_cell<float>(const std::string&);
template std::unique_ptr<Cell<double>> make_cell<double>(const std::string&);
template void register_cell<float>(const std::string&, CellFactory<float>);
template void register_cell<double>(const std::string&, CellFactory<double>);

}  // namespace attend
