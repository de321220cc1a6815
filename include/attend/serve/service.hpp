// The models `attend serve` answers with, and the pool of workers that decodes their requests.
// Requests wait in one queue; a worker takes the oldest and, with batching on, every other queued
// request for the same model and search options (up to max_batch_lines lines), and decodes them
// together with one Translator::translate call (decode(): sorted by length, batched; for an
// ensemble one TranslatorEnsemble::translate call, ensemble_decode).
// The queue is bounded (a full one refuses with 503), and a request nobody waits for any more
// (past its deadline, or its client gone) is dropped before it is decoded.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "attend/decode/translator.hpp"
#include "attend/decode/translator_ensemble.hpp"
#include "attend/serve/metrics.hpp"
#include "attend/serve/request.hpp"

namespace attend {

// One served model: one model file, or an ensemble of several (TranslatorEnsemble, decoded
// together by ensemble_decode under one name). Each keeps its own everything (vocabularies,
// tokenizer or subword model, text options: the ModelBundles load_model read from its files);
// served models share nothing.
struct ServedModel {
  ServedModel(std::string name, std::string path, Translator translator);  // one model file
  ServedModel(std::string name, TranslatorEnsemble models);                // one or more
  std::string name;
  TranslatorEnsemble models;  // one member for a single model file
  const std::vector<std::string>& paths() const { return models.paths(); }
  bool ensemble() const { return !models.single(); }
};

// An `attend serve --model` argument: FILE (named after the file's stem), NAME=FILE, or
// NAME=FILE,FILE,... (an ensemble of those files under NAME). An argument that is an existing
// file is that file (so a file name may hold '=' or ','); so is the part after NAME= when it is
// an existing file; otherwise that part is split at the commas. Throws attend::Error for an
// empty name or file, an ensemble without a name, or a name with other characters than letters,
// digits and - _ . +.
struct ModelSpec {
  std::string name;
  std::vector<std::string> paths;  // more than one: an ensemble
};
ModelSpec parse_model_spec(const std::string& spec);
// Loads the spec's file, or its files as an ensemble combined by `ensemble` (which a single file
// ignores); load_model's and TranslatorEnsemble's errors name the files.
ServedModel load_served_model(const ModelSpec& spec, const EnsembleOptions& ensemble = {});

// "gru encoder (1 layer, hidden 24) · bahdanau attention · bahdanau-style gru decoder": what
// GET /v1/models and the explorer show of a model (its cell, encoder, attention and decoder).
std::string model_summary(const ModelConfig& config);
// The same of a served model: model_summary for one file; for an ensemble "ensemble of 2
// models (mean probability)" or "(weighted log-probabilities 0.7, 0.3)".
std::string served_model_summary(const ServedModel& model);

struct ServiceOptions {
  std::size_t workers = 2;
  bool batching = true;             // off: each request is decoded on its own
  std::size_t max_batch_lines = 64; // lines of queued requests one worker decodes at once
  // Most requests waiting for a worker (a request with "models" counts once per model); one
  // more is refused with RequestError 503 ("busy") at once.
  std::size_t max_queue = 64;
  // A translate request not answered this long after it was queued is answered 503, and its
  // lines are not decoded if no worker has taken them yet.
  std::chrono::milliseconds deadline{60000};
  ServeLimits limits;
};

// What a translate request brings besides its body, and what it reports back (for the log).
struct RequestContext {
  // Polled while the request waits (every 50 ms); true: its client has gone, so its lines are
  // dropped from the queue and the request ends with RequestError 499.
  std::function<bool()> client_gone;
  std::size_t lines = 0;           // out: entries of "text", once parsed
  bool keep_text = false;          // in: fill `text` (for an access log that asks for it)
  std::vector<std::string> text;   // out
};

struct ServiceStats {
  std::size_t requests = 0;  // answered translate requests
  std::size_t lines = 0;     // their lines
  std::size_t batches = 0;   // Translator::translate calls the workers made for them
  std::size_t busy = 0;      // refused because the queue was full
  std::size_t expired = 0;   // queued past their deadline (answered 503)
  std::size_t abandoned = 0; // given up by their client while waiting
  std::size_t reloads = 0;   // successful reload()s
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
  // RequestError 503 when the queue is full or the deadline passes, 499 when the client goes.
  std::string handle_translate(const std::string& body, RequestContext* context = nullptr);
  // The same from a parsed request, for request.model (none named: the first) only: waits in
  // the queue, decoded with the others.
  std::vector<ServedTranslation> translate(const TranslateRequest& request, RequestContext* context = nullptr);

  // Loads every model again from its file (names unchanged; every member of an ensemble, checked
  // again as at start) and then swaps them in at once: requests already queued or being decoded
  // finish with the models they were checked against, later ones get the new. Throws
  // attend::Error naming the file (the old models stay) when one cannot be loaded or an
  // ensemble's files no longer fit together. Not concurrent with itself.
  void reload();

  // GET /v1/models: [{"name", "path", "file", "summary", "config": {...}, "tokenizer",
  // "src_vocab", "tgt_vocab"}]; an ensemble's path and file are its members' joined by commas,
  // its config, tokenizer and vocabulary sizes the first member's, and it has also
  // "ensemble": {"combine", "weights"} and "members": [{"path", "file", "summary", "config",
  // "tokenizer", "src_vocab", "tgt_vocab"}] (docs/serve.md).
  std::string models_json() const;
  // GET /health: {"status": "ok", "models", "requests", "lines", "batches", "batching", "workers",
  // "queued"}.
  std::string health_json() const;
  // The registry behind GET /metrics: the service's series (queue, batches, tokens, models; see
  // docs/serve.md) are declared here; the HTTP layer adds its own to it.
  Metrics& metrics() { return metrics_; }
  std::size_t queued() const;
  const std::vector<std::string>& model_names() const { return names_; }
  const ServiceOptions& options() const { return options_; }
  ServiceStats stats() const;

  // Finishes every queued request, then ends the workers. Later requests get RequestError 503.
  void stop();

 private:
  using Models = std::vector<std::shared_ptr<const ServedModel>>;
  using Clock = std::chrono::steady_clock;
  struct Job {
    std::shared_ptr<const ServedModel> model;  // as the request was checked against
    SearchOptions search;
    std::vector<std::string> lines;
    Clock::time_point deadline;
    std::shared_ptr<std::atomic<bool>> abandoned;  // set by the waiting request when it gives up
    std::promise<std::vector<ServedTranslation>> done;
  };
  static bool same_batch(const Job& a, const Job& b);
  Models snapshot() const;
  std::size_t model_index(const std::string& name) const;
  // Throws RequestError for a line model `m` (any member of an ensemble) cannot take or one over
  // limits.max_tokens (as any member splits it).
  void check_lines(const ServedModel& m, const TranslateRequest& request) const;
  // Queues one job per model, all or none (RequestError 503 when the queue has no room), and
  // waits for their answers until the deadline or the client goes.
  std::vector<std::vector<ServedTranslation>> run(const std::vector<std::shared_ptr<const ServedModel>>& chosen,
                                                  const TranslateRequest& request, RequestContext* context);
  void declare_metrics();
  void publish_models(const Models& models);
  // Translator::translate's work, keeping the encoder's self-attention views too; for an
  // ensemble TranslatorEnsemble::translate's (each member's attention as "model 1", …).
  std::vector<ServedTranslation> decode_lines(const ServedModel& m, const std::vector<std::string>& lines,
                                              const SearchOptions& search) const;
  void work();

  Models models_;  // guarded by mutex_ (swapped by reload())
  std::vector<std::string> names_;
  Metrics metrics_;
  ServiceOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  ServiceStats stats_;
  std::vector<std::thread> workers_;
};

}  // namespace attend
