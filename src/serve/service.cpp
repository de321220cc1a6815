#include "attend/serve/service.hpp"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "attend/core/error.hpp"
#include "attend/decode/decode.hpp"

namespace attend {

namespace {

std::string count(std::size_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

std::string model_summary(const ModelConfig& c) {
  const bool tf_decoder = c.style() == DecoderStyle::Transformer;
  std::string encoder;
  if (c.encoder == "transformer") {
    encoder = "transformer encoder (" + count(c.self_layers, "layer") + ", " + count(c.self_heads, "head") + ")";
  } else {
    encoder = c.cell + " encoder (" + count(c.layers, "layer") + (c.bidirectional ? ", bidirectional" : "") +
              ", hidden " + std::to_string(c.hidden) + ")";
    if (c.encoder != "rnn")
      encoder += " + self-attention (" + count(c.self_layers, "layer") + ", " +
                 count(c.self_heads, "head") + ")";
  }
  std::string attention = c.attention + " attention";
  if (c.attention == "multihead") attention += " (" + count(c.heads, "head") + ")";
  std::string decoder = tf_decoder ? "transformer decoder (" + count(c.transformer_decoder_layers(), "layer") + ")"
                                   : c.decoder_style() + "-style " + c.cell + " decoder";
  return encoder + " \u00b7 " + attention + " \u00b7 " + decoder;
}

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
  if (r.models.empty()) return translations_json(translate(r), r);
  std::vector<std::size_t> chosen;
  for (const auto& name : r.models) chosen.push_back(model_index(name));
  // Every model's lines are checked before any is queued, so a refused request decodes nothing.
  for (const std::size_t m : chosen) check_lines(m, r);
  std::vector<std::future<std::vector<ServedTranslation>>> answers;
  for (const std::size_t m : chosen) answers.push_back(enqueue(m, r));
  std::vector<std::pair<std::string, std::vector<ServedTranslation>>> results;
  for (std::size_t k = 0; k < chosen.size(); ++k) results.emplace_back(names_[chosen[k]], answers[k].get());
  return model_results_json(results, r);
}

std::size_t TranslationService::model_index(const std::string& name) const {
  if (name.empty()) return 0;
  const auto found = std::find(names_.begin(), names_.end(), name);
  if (found == names_.end()) {
    std::string loaded;
    for (const auto& n : names_) loaded += (loaded.empty() ? "" : ", ") + n;
    throw RequestError(400, "unknown model \"" + name + "\" (loaded: " + loaded + ")");
  }
  return static_cast<std::size_t>(found - names_.begin());
}

void TranslationService::check_lines(std::size_t m, const TranslateRequest& request) const {
  const Translator& tr = models_[m].translator;
  // Checked in the request's thread, so a line the model cannot take fails its own request and
  // never the batch it would have joined.
  for (std::size_t i = 0; i < request.text.size(); ++i) {
    const std::string where = "\"text\"[" + std::to_string(i) + "]";
    std::vector<int> ids;
    try {
      ids = tr.encode(tr.prepare(request.text[i]), where);
    } catch (const Error& e) {
      throw RequestError(400, models_.size() > 1 ? "model \"" + names_[m] + "\": " + e.what() : e.what());
    }
    if (ids.size() > options_.limits.max_tokens)
      throw RequestError(413, where + " has " + std::to_string(ids.size()) + " tokens, more than the limit of " +
                                  std::to_string(options_.limits.max_tokens) +
                                  (models_.size() > 1 ? " (as model \"" + names_[m] + "\" splits it)" : ""));
  }
}

std::future<std::vector<ServedTranslation>> TranslationService::enqueue(std::size_t m, const TranslateRequest& request) {
  Job job;
  job.model = m;
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
  return answer;
}

std::vector<ServedTranslation> TranslationService::translate(const TranslateRequest& request) {
  const std::size_t m = model_index(request.model);
  check_lines(m, request);
  return enqueue(m, request).get();
}

std::vector<ServedTranslation> TranslationService::decode_lines(const Translator& tr,
                                                                const std::vector<std::string>& lines,
                                                                const SearchOptions& search) const {
  std::vector<std::string> prepared(lines.size());
  std::vector<std::vector<int>> sources(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    prepared[i] = tr.prepare(lines[i]);
    sources[i] = tr.encode(prepared[i], "input line " + std::to_string(i + 1));
  }
  auto hyps = decode(tr.model(), sources, search, options_.max_batch_lines);
  std::vector<ServedTranslation> out(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    ServedTranslation& t = out[i];
    t.source_tokens = tr.bundle().tokenize_source(prepared[i]);
    t.source = std::move(prepared[i]);
    for (const Hypothesis& h : hyps[i]) t.nbest.push_back(tr.describe(h));
    if (t.nbest.empty()) continue;
    const TranslationHypothesis& best = t.nbest.front();
    t.text = best.text;
    t.tokens = best.tokens;
    t.score = best.score;
    t.log_prob = best.log_prob;
    t.finished = best.finished;
    t.attention = best.attention;
    t.view_names = best.view_names;
    t.views = best.views;
    t.encoder_view_names = std::move(hyps[i].front().encoder_view_names);
    t.encoder_views = std::move(hyps[i].front().encoder_views);
  }
  return out;
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
      std::vector<ServedTranslation> all = decode_lines(tr, lines, batch.front().search);
      std::size_t at = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.batches += 1;
        stats_.requests += batch.size();
        stats_.lines += lines.size();
      }
      for (Job& j : batch) {
        std::vector<ServedTranslation> mine(std::make_move_iterator(all.begin() + at),
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
                   {"file", std::filesystem::path(m.path).filename().string()},
                   {"summary", model_summary(m.translator.model().config())},
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
