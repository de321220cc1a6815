#include "attend/serve/access.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cctype>
#include <fstream>

#include "attend/core/error.hpp"

namespace attend {

namespace {

constexpr std::size_t kMinKeyLength = 16;

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

}  // namespace

ApiKeys::ApiKeys(std::vector<std::string> keys) : keys_(std::move(keys)) {}

ApiKeys ApiKeys::load(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw Error("--api-key-file " + path + ": cannot be read");
  if (!S_ISREG(st.st_mode)) throw Error("--api-key-file " + path + ": not a regular file");
  if (st.st_mode & (S_IROTH | S_IWOTH))
    throw Error("--api-key-file " + path + ": other users may read or write it; chmod 600 " + path);
  std::ifstream in(path);
  if (!in) throw Error("--api-key-file " + path + ": cannot be read");
  std::vector<std::string> keys;
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    const std::string key = trim(line);
    if (key.empty() || key[0] == '#') continue;
    const std::string where = "--api-key-file " + path + " line " + std::to_string(n);
    if (key.size() < kMinKeyLength)
      throw Error(where + ": a key needs at least " + std::to_string(kMinKeyLength) + " characters");
    for (const char c : key)
      if (c <= ' ' || c > '~') throw Error(where + ": a key holds printable ASCII without spaces only");
    keys.push_back(key);
  }
  if (keys.empty()) throw Error("--api-key-file " + path + ": holds no key (one key per line)");
  return ApiKeys(std::move(keys));
}

bool constant_time_equal(const std::string& presented, const std::string& key) {
  // Every byte of the key is visited whatever the presented token is; a token of another length
  // is compared cyclically and fails through `diff`'s length term.
  unsigned diff = presented.size() == key.size() ? 0u : 1u;
  const std::size_t n = presented.size();
  for (std::size_t i = 0; i < key.size(); ++i) {
    const unsigned char p = n ? static_cast<unsigned char>(presented[i % n]) : 0;
    diff |= p ^ static_cast<unsigned char>(key[i]);
  }
  // Keep the compiler from turning the loop into an early exit.
  volatile unsigned result = diff;
  return result == 0;
}

bool ApiKeys::accepts(const std::string& authorization) const {
  if (keys_.empty()) return true;
  static const std::string scheme = "bearer ";
  if (authorization.size() <= scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) return false;
  const std::string token = trim(authorization.substr(scheme.size()));
  bool ok = false;
  for (const auto& key : keys_) ok = constant_time_equal(token, key) | ok;  // no short-circuit
  return ok;
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "ip6-localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace attend
