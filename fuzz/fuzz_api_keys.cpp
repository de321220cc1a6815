// `attend serve --api-key-file` on any bytes, and any `Authorization` header: a key file is read
// or refused with attend::Error; every key read is accepted as "Bearer KEY" (any case of the
// scheme) and is at least 16 printable characters; a header is accepted only for a key it names.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "attend/core/error.hpp"
#include "attend/serve/access.hpp"

namespace {

std::string key_file_path() {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/fuzz_api_keys." + std::to_string(getpid());
}

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string path = key_file_path();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  chmod(path.c_str(), 0600);
  try {
    const attend::ApiKeys keys = attend::ApiKeys::load(path);
    if (!keys.enabled()) __builtin_trap();
    // Each non-comment line's trimmed text is a key: it must be accepted.
    std::size_t start = 0;
    while (start <= bytes.size()) {
      const std::size_t end = std::min(bytes.find('\n', start), bytes.size());
      const std::string key = trim(bytes.substr(start, end - start));
      if (!key.empty() && key[0] != '#') {
        if (key.size() < 16) __builtin_trap();
        if (!keys.accepts("Bearer " + key) || !keys.accepts("bEaReR " + key)) __builtin_trap();
        if (keys.accepts(key)) __builtin_trap();  // no scheme
      }
      start = end + 1;
    }
  } catch (const attend::Error&) {
  }
  std::remove(path.c_str());
  // The bytes as a header against fixed keys: accepted only when they name one.
  static const attend::ApiKeys fixed({"0123456789abcdef", "ZYXWVUTSRQPONMLK-key"});
  if (fixed.accepts(bytes)) {
    const std::string token = bytes.size() > 7 ? trim(bytes.substr(7)) : "";
    if (token != "0123456789abcdef" && token != "ZYXWVUTSRQPONMLK-key") __builtin_trap();
  }
  return 0;
}
