// `attend serve --model SPEC` on any bytes: parse_model_spec gives a named spec with at least one
// non-empty file name, more than one only under a name the user gave, or refuses it with
// attend::Error. Nothing else may escape (a name the system refuses as a path included).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "attend/core/error.hpp"
#include "attend/serve/service.hpp"

namespace {

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (const char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '+')) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const attend::ModelSpec spec = attend::parse_model_spec(text);
    if (!valid_name(spec.name) || spec.paths.empty()) __builtin_trap();
    for (const auto& path : spec.paths)
      if (path.empty()) __builtin_trap();
    if (spec.paths.size() > 1 && text.compare(0, spec.name.size() + 1, spec.name + "=") != 0) __builtin_trap();
  } catch (const attend::Error&) {
  }
  return 0;
}
