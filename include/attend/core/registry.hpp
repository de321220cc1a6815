// A table of named entries (cells, attention strategies) shared by the whole program: built-ins
// first, in the order they are declared, then whatever users register. Registering a name twice
// is an error; lookups and registrations may run concurrently from any threads (a mutex guards
// the table and lookups return copies, so an entry in use never changes under its user).
#pragma once
#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
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

}  // namespace attend
