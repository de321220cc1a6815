// The JSON of `attend serve` (docs/serve.md) without any HTTP: a request body parsed and checked
// against the limits by a pure function, and translations written back as JSON text.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
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

// POST /v1/translate: {"text": [...], "model": NAME, "models": [NAME, ...] | "all", "beam": K,
// "nbest": N, "attention": bool}.
struct TranslateRequest {
  std::vector<std::string> text;
  std::string model;  // a loaded model's name; the first model when the request names none
  // With "models": each of these models translates the text (in this order; "all": every loaded
  // model in the command line's order), and the answer has one result per model. Empty: `model`.
  std::vector<std::string> models;
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
// invalid UTF-8, an out-of-range option, a model not in `models` (the message lists them), both
// "model" and "models", or a model named twice in "models"; 413 for more lines or longer lines
// than the limits allow. `models` is not empty.
TranslateRequest parse_translate_request(const std::string& body, const std::vector<std::string>& models,
                                         const ServeLimits& limits);

// A translation as the server answers it: the Translator's, and with attention views asked for
// the encoder's self-attention (Hypothesis::encoder_view_names / encoder_views of the best
// hypothesis; the same for every hypothesis of one source; empty for a recurrent encoder).
struct ServedTranslation : Translation {
  ServedTranslation() = default;
  explicit ServedTranslation(Translation t) : Translation(std::move(t)) {}
  std::vector<std::string> encoder_view_names;
  std::vector<std::vector<std::vector<float>>> encoder_views;  // [view][query][key]
  // What "attention" is when there are views ("default_view" in the answer): empty for
  // kDefaultAttentionView (a Transformer decoder's mean over its last layer's heads); "model 1"
  // for an ensemble, whose views are its members' attention, "model 1", "model 2", ….
  std::string default_view;
};

// The answer to a request: {"translations": [{"text", "score", "tokens", "source_tokens",
// "finished", "nbest": [{"text", "score", "tokens"}], "attention" (when asked for): one row per
// output token, </s> included when finished}]}. With "attention" also "attention_summary": one
// {"view", "entropy", "uniform_entropy", "diagonal_mass", "diagonal_argmax"} per view
// (attention_summary.hpp), "mean" (= "attention") first. With a Transformer decoder also
// "attention_views": {"layer L head H": rows like "attention", ...}, "attention_view_names" (the
// same names in layer/head order) and "default_view": what "attention" is ("mean over the last
// layer's heads"; for an ensemble the views are its members' attention, "model 1", "model 2", …,
// and "default_view" is "model 1"). With a self-attention encoder also "encoder_attention" (the mean over its
// last layer's heads, one row per source token), "encoder_attention_views" {"encoder layer L head
// H": rows}, "encoder_attention_view_names" and "encoder_attention_summary".
std::string translations_json(const std::vector<ServedTranslation>& translations, const TranslateRequest& request);
// The answer to a request with "models": {"results": [{"model": NAME, "translations": [...]}]},
// each "translations" as translations_json writes it, in the order of `results`.
std::string model_results_json(
    const std::vector<std::pair<std::string, std::vector<ServedTranslation>>>& results,
    const TranslateRequest& request);
// {"error": message}
std::string error_json(const std::string& message);

}  // namespace attend
