// The JSON of `attend serve` (docs/serve.md) without any HTTP: a request body parsed and checked
// against the limits by a pure function, and translations written back as JSON text.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "attend/decode/translator.hpp"

namespace attend {

struct ServeLimits {
  std::size_t max_body_bytes = 1 << 20;  // a POST body
  std::size_t max_lines = 64;            // entries of "text" in one request
  std::size_t max_line_bytes = 4096;     // one entry, before tokenising
  std::size_t max_tokens = 256;          // source tokens of one entry, as the model splits it
  std::size_t max_beam = 16;             // "beam" (and so "nbest")
};

// POST /v1/translate: {"text": [...], "model": NAME, "beam": K, "nbest": N, "attention": bool}.
struct TranslateRequest {
  std::vector<std::string> text;
  std::string model;  // a loaded model's name; the first model when the request names none
  std::size_t beam = 1, nbest = 1;
  bool attention = false;
};

// A request the server refuses: its HTTP status (4xx) and what is wrong with it.
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Throws RequestError: 400 for malformed JSON, a field of the wrong type, an unknown field,
// invalid UTF-8 or an out-of-range option; 404 for a model not in `models`; 413 for more lines
// or longer lines than the limits allow. `models` is not empty.
TranslateRequest parse_translate_request(const std::string& body, const std::vector<std::string>& models,
                                         const ServeLimits& limits);

// The answer to a request: {"translations": [{"text", "score", "tokens", "source_tokens",
// "finished", "nbest": [{"text", "score", "tokens"}], "attention" (when asked for): one row per
// output token, </s> included when finished}]}. With "attention" and a Transformer decoder also
// "attention_views": {"layer L head H": rows like "attention", ...}, "attention_view_names" (the
// same names in layer/head order) and "default_view": what "attention" is ("mean over the last
// layer's heads").
std::string translations_json(const std::vector<Translation>& translations, const TranslateRequest& request);
// {"error": message}
std::string error_json(const std::string& message);

}  // namespace attend
