// The cell registry: name → factories (float, double) and traits. A built-in cell is one line of
// the table below.
#include <type_traits>

#include "attend/core/error.hpp"
#include "attend/core/registry.hpp"
#include "attend/nn/cell.hpp"
#include "nn/cells_builtin.hpp"

namespace attend {

namespace {

struct CellEntry {
  std::string name, help;
  CellFactory<float> f32;
  CellFactory<double> f64;
  CellTraits traits;
};

template <template <typename> class C>
CellEntry builtin(const std::string& name, const std::string& help, std::size_t gates) {
  return {name, help, [] { return std::unique_ptr<Cell<float>>(new C<float>()); },
          [] { return std::unique_ptr<Cell<double>>(new C<double>()); }, CellTraits{help, gates}};
}

// In registration order, so listings show the built-ins first.
NamedRegistry<CellEntry>& registry() {
  static NamedRegistry<CellEntry> r(
      "cell", {
                  builtin<RnnCell>("rnn", "Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)", 1),
                  builtin<LstmCell>("lstm", "LSTM, gates i, f, g, o (PyTorch's order)", 4),
                  builtin<GruCell>("gru", "GRU, gates r, z, n (PyTorch's order)", 3),
              });
  return r;
}

}  // namespace

std::vector<std::string> cell_names() {
  std::vector<std::string> names;
  for (const auto& i : registry().items()) names.push_back(i.name);
  return names;
}

std::vector<RegistryItem> cell_list() { return registry().items(); }

std::string cell_help() { return join_names(registry().items()); }

bool cell_known(const std::string& name) { return registry().find(name).has_value(); }

template <typename T>
std::unique_ptr<Cell<T>> make_cell(const std::string& name) {
  const CellEntry e = registry().get(name);  // a copy: the factory runs outside the lock
  const CellFactory<T>* f;
  if constexpr (std::is_same_v<T, float>) f = &e.f32;
  else f = &e.f64;
  if (!*f)
    throw Error("cell '" + name + "' is not registered for " +
                (std::is_same_v<T, float> ? "float" : "double"));
  return (*f)();
}

CellTraits cell_traits(const std::string& name) {
  CellTraits t = registry().get(name).traits;
  if (t.gates == 0) t.gates = make_cell<float>(name)->gates();
  return t;
}

void register_cell(const std::string& name, CellFactory<float> f32, CellFactory<double> f64,
                   CellTraits traits) {
  if (name.empty()) throw Error("a cell needs a name");
  if (!f32 || !f64) throw Error("cell '" + name + "' needs a float and a double factory");
  const std::string help = traits.help;
  registry().add({name, help, std::move(f32), std::move(f64), std::move(traits)});
}

template <typename T>
void register_cell(const std::string& name, CellFactory<T> factory) {
  if (name.empty()) throw Error("a cell needs a name");
  if (!factory) throw Error("cell '" + name + "' needs a factory");
  registry().update(name, CellEntry{name, "", nullptr, nullptr, {}}, [&](CellEntry& e) {
    CellFactory<T>& slot = [&]() -> CellFactory<T>& {
      if constexpr (std::is_same_v<T, float>) return e.f32;
      else return e.f64;
    }();
    if (slot) throw Error("cell '" + name + "' is already registered; choose another name");
    slot = std::move(factory);
  });
}

template std::unique_ptr<Cell<float>> make_cell<float>(const std::string&);
template std::unique_ptr<Cell<double>> make_cell<double>(const std::string&);
template void register_cell<float>(const std::string&, CellFactory<float>);
template void register_cell<double>(const std::string&, CellFactory<double>);

}  // namespace attend
