#include "attend/serve/service.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "attend/core/error.hpp"

namespace attend {

TranslationService::TranslationService(std::vector<ServedModel> models, ServiceOptions options)
    : models_(std::move(models)), options_(options) {
  if (models_.empty()) throw Error("the server needs at least one model");
  if (options_.workers == 0) throw Error("the server needs at least one worker");
  if (options_.max_batch_lines == 0) throw Error("the batch size must be at least 1");
  for (const auto& m : models_) {
    if (std::find(names_.begin(), names_.end(), m.name) != names_.end())
      throw Error("two models are named '" + m.name + "'; name them with --model NAME=FILE");
    names_.push_back(m.name);
  }
  for (std::size_t i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { work(); });
}

TranslationService::~TranslationService() { stop(); }

void TranslationService::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
}

ServiceStats TranslationService::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

std::string TranslationService::handle_translate(const std::string& body) {
  const TranslateRequest r = parse_translate_request(body, names_, options_.limits);
  return translations_json(translate(r), r);
}

std::vector<Translation> TranslationService::translate(const TranslateRequest& request) {
  const auto found = request.model.empty() ? names_.begin() : std::find(names_.begin(), names_.end(), request.model);
  if (found == names_.end()) throw RequestError(404, "unknown model \"" + request.model + "\"");
  Job job;
  job.model = static_cast<std::size_t>(found - names_.begin());
  const Translator& tr = models_[job.model].translator;
  // Checked here, in the request's thread, so a line the model cannot take fails its own
  // request and never the batch it would have joined.
  for (std::size_t i = 0; i < request.text.size(); ++i) {
    const std::string where = "\"text\"[" + std::to_string(i) + "]";
    std::vector<int> ids;
    try {
      ids = tr.encode(tr.prepare(request.text[i]), where);
    } catch (const Error& e) {
      throw RequestError(400, e.what());
    }
    if (ids.size() > options_.limits.max_tokens)
      throw RequestError(413, where + " has " + std::to_string(ids.size()) + " tokens, more than the limit of " +
                                  std::to_string(options_.limits.max_tokens));
  }
  job.search.beam = request.beam;
  job.search.nbest = request.nbest;
  job.search.keep_attention = request.attention;
  job.search.keep_attention_views = request.attention;
  job.lines = request.text;
  auto answer = job.done.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw RequestError(503, "the server is shutting down");
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return answer.get();
}

bool TranslationService::same_batch(const Job& a, const Job& b) {
  return a.model == b.model && a.search.beam == b.search.beam && a.search.nbest == b.search.nbest &&
         a.search.keep_attention == b.search.keep_attention &&
         a.search.keep_attention_views == b.search.keep_attention_views;
}

void TranslationService::work() {
  for (;;) {
    std::vector<Job> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to answer
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
      std::size_t lines = batch.front().lines.size();
      if (options_.batching)
        for (auto it = queue_.begin(); it != queue_.end();) {
          if (same_batch(*it, batch.front()) && lines + it->lines.size() <= options_.max_batch_lines) {
            lines += it->lines.size();
            batch.push_back(std::move(*it));
            it = queue_.erase(it);
          } else {
            ++it;
          }
        }
    }
    std::vector<std::string> lines;
    for (const Job& j : batch) lines.insert(lines.end(), j.lines.begin(), j.lines.end());
    try {
      const Translator& tr = models_[batch.front().model].translator;
      std::vector<Translation> all = tr.translate(lines, batch.front().search, options_.max_batch_lines);
      std::size_t at = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.batches += 1;
        stats_.requests += batch.size();
        stats_.lines += lines.size();
      }
      for (Job& j : batch) {
        std::vector<Translation> mine(std::make_move_iterator(all.begin() + at),
                                      std::make_move_iterator(all.begin() + at + j.lines.size()));
        at += j.lines.size();
        j.done.set_value(std::move(mine));
      }
    } catch (...) {
      for (Job& j : batch) j.done.set_exception(std::current_exception());
    }
  }
}

std::string TranslationService::models_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : models_) {
    const ModelBundle& b = m.translator.bundle();
    nlohmann::json config = nlohmann::json::object();
    for (const auto& [key, value] : m.translator.model().config().to_map()) config[key] = value;
    out.push_back({{"name", m.name},
                   {"path", m.path},
                   {"config", std::move(config)},
                   {"tokenizer", tokenizer_name(b.tokenizer)},
                   {"src_vocab", b.src_vocab.size()},
                   {"tgt_vocab", b.tgt_vocab.size()}});
  }
  return nlohmann::json({{"models", std::move(out)}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string TranslationService::health_json() const {
  const ServiceStats s = stats();
  return nlohmann::json({{"status", "ok"},
                         {"models", models_.size()},
                         {"requests", s.requests},
                         {"lines", s.lines},
                         {"batches", s.batches},
                         {"batching", options_.batching},
                         {"workers", options_.workers}})
      .dump();
}

}  // namespace attend
