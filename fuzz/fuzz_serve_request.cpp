// `attend serve`'s request bodies: any bytes through parse_translate_request. It accepts a request
// that keeps every limit or refuses it with a 4xx RequestError; nothing else may escape.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "attend/serve/request.hpp"
#include "attend/text/utf8.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::string> models = {"bahdanau", "luong"};
  attend::ServeLimits limits;
  limits.max_body_bytes = 4096;
  limits.max_lines = 8;
  limits.max_line_bytes = 64;
  limits.max_beam = 5;
  const std::string body(reinterpret_cast<const char*>(data), size);
  try {
    const attend::TranslateRequest r = attend::parse_translate_request(body, models, limits);
    if (r.text.empty() || r.text.size() > limits.max_lines) std::abort();
    for (const auto& line : r.text)
      if (line.size() > limits.max_line_bytes || attend::find_invalid_utf8(line) != std::string::npos) std::abort();
    if (r.beam < 1 || r.beam > limits.max_beam || r.nbest < 1 || r.nbest > r.beam) std::abort();
    if (r.model != models[0] && r.model != models[1]) std::abort();
    attend::translations_json({}, r);
  } catch (const attend::RequestError& e) {
    if (e.status() < 400 || e.status() > 499) std::abort();
    attend::error_json(e.what());
  }
  return 0;
}
