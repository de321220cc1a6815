// A table of named entries (cells, encoders, attention strategies, scores) shared by the whole
// program: built-ins first, in the order they are declared, then whatever users register. Registering a name twice
// is an error; lookups and registrations may run concurrently from any threads (a mutex guards
// the table and lookups return copies, so an entry in use never changes under its user).
#pragma once
#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "attend/core/error.hpp"

namespace attend {

// A registered name and its one-line description, for help texts and listings.
struct RegistryItem {
  std::string name, help;
};

// "a | b | c".
inline std::string join_names(const std::vector<RegistryItem>& items, const char* sep = " | ") {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : sep) + i.name;
  return s;
}

// Entry: a copyable struct with `std::string name` and `std::string help` members.
template <typename Entry>
class NamedRegistry {
 public:
  NamedRegistry(std::string what, std::vector<Entry> builtins)
      : what_(std::move(what)), entries_(std::move(builtins)) {}

  // Throws attend::Error when the name is taken.
  void add(Entry e) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (locate(e.name) != entries_.end())
      throw Error(what_ + " '" + e.name + "' is already registered; choose another name");
    entries_.push_back(std::move(e));
  }
  // Calls change(entry) under the lock on the entry named `name`, creating it from `fresh` first
  // when there is none.
  template <typename Change>
  void update(const std::string& name, Entry fresh, Change change) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = locate(name);
    if (it == entries_.end()) it = entries_.insert(entries_.end(), std::move(fresh));
    change(*it);
  }
  std::optional<Entry> find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = locate(name);
    if (it == entries_.end()) return std::nullopt;
    return *it;
  }
  // Throws attend::Error "unknown <what> 'name' (valid: …)".
  Entry get(const std::string& name) const {
    if (auto e = find(name)) return *e;
    throw Error("unknown " + what_ + " '" + name + "' (valid: " + join_names(items(), ", ") + ")");
  }
  std::vector<RegistryItem> items() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<RegistryItem> out;
    for (const auto& e : entries_) out.push_back({e.name, e.help});
    return out;
  }

 private:
  typename std::vector<Entry>::iterator locate(const std::string& name) {
    return std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.name == name; });
  }
  typename std::vector<Entry>::const_iterator locate(const std::string& name) const {
    return std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.name == name; });
  }

  std::string what_;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

// What a FactoryRegistry holds per name: a factory per element type (float for training, double
// for gradient checks) and the traits the library knows besides how to build it.
template <template <typename> class Factory, typename Traits>
struct FactoryEntry {
  std::string name, help;
  Factory<float> f32;
  Factory<double> f64;
  Traits traits;

  template <typename T>
  Factory<T>& factory() {
    if constexpr (std::is_same_v<T, float>) return f32;
    else return f64;
  }
};

// The registry of one kind of built thing (`what`: "cell"; `a_what`: "a cell", for errors).
// Traits: a copyable struct with a `std::string help` member.
template <template <typename> class Factory, typename Traits>
class FactoryRegistry {
 public:
  using Entry = FactoryEntry<Factory, Traits>;

  FactoryRegistry(std::string what, std::string a_what, std::vector<Entry> builtins)
      : what_(what), a_what_(std::move(a_what)), table_(std::move(what), std::move(builtins)) {}

  std::vector<RegistryItem> list() const { return table_.items(); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& i : table_.items()) out.push_back(i.name);
    return out;
  }
  std::string help() const { return join_names(table_.items()); }  // "a | b | c"
  bool known(const std::string& name) const { return table_.find(name).has_value(); }
  std::optional<Entry> find(const std::string& name) const { return table_.find(name); }
  // Throws attend::Error naming the valid entries when the name is unknown.
  Traits traits(const std::string& name) const { return table_.get(name).traits; }
  // A copy, so that the factory runs outside the lock.
  template <typename T>
  Factory<T> factory(const std::string& name) const {
    Entry e = table_.get(name);
    if (!e.template factory<T>())
      throw Error(what_ + " '" + name + "' is not registered for " +
                  (std::is_same_v<T, float> ? "float" : "double"));
    return e.template factory<T>();
  }

  // The help of the entry is traits.help. Throws attend::Error when the name is empty or taken or
  // a factory is missing.
  void add(const std::string& name, Factory<float> f32, Factory<double> f64, Traits traits) {
    if (name.empty()) throw Error(a_what_ + " needs a name");
    if (!f32 || !f64) throw Error(what_ + " '" + name + "' needs a float and a double factory");
    table_.add(entry(name, std::move(f32), std::move(f64), std::move(traits)));
  }
  static Entry entry(const std::string& name, Factory<float> f32, Factory<double> f64, Traits traits) {
    std::string help = traits.help;
    return {name, std::move(help), std::move(f32), std::move(f64), std::move(traits)};
  }
  // One element type's factory (the other one registered by another call); an error when that
  // type's factory of the name is already registered.
  template <typename T>
  void add(const std::string& name, Factory<T> factory) {
    if (name.empty()) throw Error(a_what_ + " needs a name");
    if (!factory) throw Error(what_ + " '" + name + "' needs a factory");
    table_.update(name, Entry{name, "", nullptr, nullptr, {}}, [&](Entry& e) {
      if (e.template factory<T>())
        throw Error(what_ + " '" + name + "' is already registered; choose another name");
      e.template factory<T>() = std::move(factory);
    });
  }

 private:
  std::string what_, a_what_;
  NamedRegistry<Entry> table_;
};

}  // namespace attend
