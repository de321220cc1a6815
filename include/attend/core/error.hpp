// attend::Error: every failure the library reports. The library never calls exit();
// the CLI turns an Error into a message and exit status 2.
#pragma once
#include <stdexcept>
#include <string>

namespace attend {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  // "FILE:LINE: problem" when a position in a file is known.
  Error(const std::string& file, std::size_t line, const std::string& problem)
      : std::runtime_error(file + ":" + std::to_string(line) + ": " + problem) {}
};

}  // namespace attend
