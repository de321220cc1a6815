// Who may use `attend serve`: the API keys of --api-key-file and the check of a request's
// `Authorization: Bearer <key>` header against them (docs/serve.md, "Access control").
#pragma once
#include <string>
#include <vector>

namespace attend {

class ApiKeys {
 public:
  ApiKeys() = default;  // no keys: every request is let in
  explicit ApiKeys(std::vector<std::string> keys);

  // Reads a key file: one key per line; blank lines and lines starting with '#' are skipped,
  // spaces and tabs around a key are trimmed. Throws attend::Error naming the file when it
  // cannot be read, holds no key, a key shorter than 16 characters or with a character outside
  // printable ASCII or a space inside, or when others than its owner and group may read or
  // write it (as ssh does for private keys: `chmod 600 FILE`).
  static ApiKeys load(const std::string& path);

  bool enabled() const { return !keys_.empty(); }
  std::size_t size() const { return keys_.size(); }

  // True when no keys are set, or `authorization` is "Bearer <key>" (the scheme's case is not
  // significant) for one of the keys. The comparison takes the same time whichever key or
  // character differs: every key is compared, every byte of it, with no early exit.
  bool accepts(const std::string& authorization) const;

 private:
  std::vector<std::string> keys_;
};

// Compares a presented token with a key in time that depends on the key's length only.
bool constant_time_equal(const std::string& presented, const std::string& key);

// True for an address that only this machine can reach: 127.0.0.0/8, ::1, "localhost".
bool is_loopback_host(const std::string& host);

}  // namespace attend
