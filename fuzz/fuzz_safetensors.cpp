// The safetensors container reader on arbitrary bytes: any input is parsed or refused with
// attend::Error, in time and memory bounded by the input's size.
#include <cstddef>
#include <cstdint>
#include <string>

#include "attend/core/error.hpp"
#include "attend/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const attend::SafetensorsFile f = attend::decode_safetensors(bytes, "fuzz");
    // Whatever was accepted must survive a round trip unchanged.
    const attend::SafetensorsFile back = attend::decode_safetensors(attend::encode_safetensors(f), "again");
    if (back.tensors.size() != f.tensors.size() || back.metadata != f.metadata) __builtin_trap();
  } catch (const attend::Error&) {
  }
  return 0;
}
