// `attend compare --for 'SELECTOR: SETTINGS'` and `--only 'SELECTOR'` on any bytes: each is parsed
// or refused with attend::Error, and a parsed rule's canonical text parses to the same rule.
#include <cstddef>
#include <cstdint>
#include <string>

#include "attend/core/error.hpp"
#include "attend/experiment/train_rule.hpp"

namespace {

bool same(const attend::TrainRule& a, const attend::TrainRule& b) {
  return a.text == b.text && a.match == b.match && a.settings == b.settings;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const attend::TrainRule rule = attend::parse_train_rule(text);
    if (!same(attend::parse_train_rule(rule.text), rule)) __builtin_trap();
  } catch (const attend::Error&) {
  }
  try {
    const attend::TrainRule selector = attend::parse_variant_selector(text);
    if (!same(attend::parse_variant_selector(selector.text), selector)) __builtin_trap();
  } catch (const attend::Error&) {
  }
  return 0;
}
