// The models `attend serve` answers with, and the pool of workers that decodes their requests.
// Requests wait in one queue; a worker takes the oldest and, with batching on, every other queued
// request for the same model and search options (up to max_batch_lines lines), and decodes them
// together with one Translator::translate call (decode(): sorted by length, batched).
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "attend/decode/translator.hpp"
#include "attend/serve/request.hpp"

namespace attend {

// One served model. Each keeps its own everything (vocabularies, tokenizer or subword model,
// text options: the ModelBundle load_model read from its one file); models share nothing.
struct ServedModel {
  std::string name, path;
  Translator translator;
};

// "gru encoder (1 layer, hidden 24) · bahdanau attention · bahdanau-style gru decoder": what
// GET /v1/models and the explorer show of a model (its cell, encoder, attention and decoder).
std::string model_summary(const ModelConfig& config);

struct ServiceOptions {
  std::size_t workers = 2;
  bool batching = true;             // off: each request is decoded on its own
  std::size_t max_batch_lines = 64; // lines of queued requests one worker decodes at once
  ServeLimits limits;
};

struct ServiceStats {
  std::size_t requests = 0;  // answered translate requests
  std::size_t lines = 0;     // their lines
  std::size_t batches = 0;   // Translator::translate calls the workers made for them
};

class TranslationService {
 public:
  // Throws attend::Error for no models, two models of one name or no workers.
  TranslationService(std::vector<ServedModel> models, ServiceOptions options);
  ~TranslationService();  // stop()
  TranslationService(const TranslationService&) = delete;
  TranslationService& operator=(const TranslationService&) = delete;

  // A POST /v1/translate body in, the JSON answer out; throws RequestError for a bad request
  // (also 413 for a line longer than limits.max_tokens tokens, 400 for one the model cannot take).
  // With "models", each named model's lines are queued at once (and decoded by whichever
  // workers are free), and the answer is model_results_json's.
  std::string handle_translate(const std::string& body);
  // The same from a parsed request, for request.model (none named: the first) only: waits in
  // the queue, decoded with the others.
  std::vector<ServedTranslation> translate(const TranslateRequest& request);

  // GET /v1/models: [{"name", "path", "file", "summary", "config": {...}, "tokenizer",
  // "src_vocab", "tgt_vocab"}].
  std::string models_json() const;
  // GET /health: {"status": "ok", "models", "requests", "lines", "batches", "batching", "workers"}.
  std::string health_json() const;
  const std::vector<std::string>& model_names() const { return names_; }
  const ServiceOptions& options() const { return options_; }
  ServiceStats stats() const;

  // Finishes every queued request, then ends the workers. Later requests get RequestError 503.
  void stop();

 private:
  struct Job {
    std::size_t model = 0;
    SearchOptions search;
    std::vector<std::string> lines;
    std::promise<std::vector<ServedTranslation>> done;
  };
  static bool same_batch(const Job& a, const Job& b);
  std::size_t model_index(const std::string& name) const;
  // Throws RequestError for a line model `m` cannot take or one over limits.max_tokens.
  void check_lines(std::size_t m, const TranslateRequest& request) const;
  std::future<std::vector<ServedTranslation>> enqueue(std::size_t m, const TranslateRequest& request);
  // Translator::translate's work, keeping the encoder's self-attention views too.
  std::vector<ServedTranslation> decode_lines(const Translator& tr, const std::vector<std::string>& lines,
                                              const SearchOptions& search) const;
  void work();

  std::vector<ServedModel> models_;
  std::vector<std::string> names_;
  ServiceOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  ServiceStats stats_;
  std::vector<std::thread> workers_;
};

}  // namespace attend
