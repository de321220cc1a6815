// `--normalize SPEC` and what it does to a line: the first line of the input is the spec, the rest
// the text. A spec is parsed or refused with attend::Error; a parsed one spells itself canonically
// (parse(spec()) has the same spec and normalises the same way), and normalising valid UTF-8 gives
// valid UTF-8; text is otherwise refused only with attend::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "attend/core/error.hpp"
#include "attend/text/normalize.hpp"
#include "attend/text/utf8.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = input.find('\n');
  const std::string spec = input.substr(0, nl);
  const std::string text = nl == std::string::npos ? std::string() : input.substr(nl + 1);
  attend::Normalizer n;
  try {
    n = attend::Normalizer::parse(spec);
  } catch (const attend::Error&) {
    return 0;
  }
  const attend::Normalizer again = attend::Normalizer::parse(n.spec());  // must not throw
  if (again.spec() != n.spec()) __builtin_trap();
  try {
    const std::string out = n.apply(text);
    if (again.apply(text) != out) __builtin_trap();
    const bool valid_in = attend::find_invalid_utf8(text) == std::string::npos;
    if (valid_in && attend::find_invalid_utf8(out) != std::string::npos) __builtin_trap();
  } catch (const attend::Error&) {
  }
  return 0;
}
