// A whole model file on arbitrary bytes: the container, then everything inside it (configuration
// values, vocabularies, SentencePiece model protos, training state, tensor names and shapes) as
// load_model checks them. Any input loads or is refused with attend::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "attend/core/error.hpp"
#include "attend/io/checkpoint.hpp"
#include "attend/io/checkpoint_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    attend::ModelBundle b = attend::bundle_from_checkpoint(attend::decode_checkpoint(bytes, "fuzz"), "fuzz");
    if (!b.model) __builtin_trap();
  } catch (const attend::Error&) {
  }
  return 0;
}
