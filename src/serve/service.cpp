#include "attend/serve/service.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <nlohmann/json.hpp>

#include "attend/core/error.hpp"
#include "attend/decode/decode.hpp"

namespace attend {

namespace {

std::string count(std::size_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

std::string file_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

// The members' files, joined by commas (as --model NAME=A,B names them).
std::string joined(const std::vector<std::string>& paths, bool names_only) {
  std::string out;
  for (const auto& p : paths) out += (out.empty() ? "" : ",") + (names_only ? file_name(p) : p);
  return out;
}

// Whether the text names an existing file; a name the system refuses (too long, say) names none,
// and loading it later reports the file.
bool is_file_path(const std::string& text) {
  std::error_code ec;
  return std::filesystem::exists(text, ec);
}

}  // namespace

ServedModel::ServedModel(std::string name_, std::string path, Translator translator)
    : name(std::move(name_)), models([&] {
        std::vector<Translator> one;
        one.push_back(std::move(translator));
        return TranslatorEnsemble(std::move(one), {std::move(path)});
      }()) {}

ServedModel::ServedModel(std::string name_, TranslatorEnsemble models_)
    : name(std::move(name_)), models(std::move(models_)) {}

ModelSpec parse_model_spec(const std::string& spec) {
  const std::string usage = "--model '" + spec + "': write --model FILE, --model NAME=FILE or --model NAME=FILE,FILE,...";
  ModelSpec out;
  std::string files = spec;
  bool named = false;
  const auto eq = spec.find('=');
  if (eq != std::string::npos && !is_file_path(spec)) {
    out.name = spec.substr(0, eq);
    files = spec.substr(eq + 1);
    named = true;
    if (out.name.empty() || files.empty()) throw Error(usage);
  }
  if (is_file_path(files) || files.find(',') == std::string::npos) {
    out.paths.push_back(files);
  } else {
    std::size_t at = 0;
    for (;;) {
      const auto comma = files.find(',', at);
      out.paths.push_back(files.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      if (out.paths.back().empty())
        throw Error("--model '" + spec + "': an empty file name in the list (write NAME=FILE,FILE,...)");
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
  }
  if (!named && out.paths.size() > 1)
    throw Error("--model '" + spec + "': no such file; to serve an ensemble of these files, name it: --model NAME=" +
                files);
  if (out.paths.front().empty()) throw Error(usage);
  if (!named) out.name = std::filesystem::path(out.paths.front()).stem().string();
  if (out.name.empty())
    throw Error("--model '" + spec + "': no model name in the file name; give one with --model NAME=FILE");
  for (const char c : out.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '+'))
      throw Error("--model '" + spec + "': the name '" + out.name +
                  "' may hold letters, digits and - _ . + only; give one with --model NAME=FILE");
  return out;
}

ServedModel load_served_model(const ModelSpec& spec, const EnsembleOptions& ensemble) {
  if (spec.paths.size() == 1) return ServedModel(spec.name, spec.paths.front(), Translator::load(spec.paths.front()));
  return ServedModel(spec.name, TranslatorEnsemble::load(spec.paths, ensemble));
}

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

std::string served_model_summary(const ServedModel& m) {
  if (!m.ensemble()) return model_summary(m.models.first().model().config());
  const EnsembleOptions& o = m.models.options();
  std::string how = "mean probability";
  if (o.combine == EnsembleCombine::LogSum) {
    how = "weighted log-probabilities";
    for (std::size_t i = 0; i < o.weights.size(); ++i) {
      char w[32];
      std::snprintf(w, sizeof w, "%g", o.weights[i]);
      how += (i ? ", " : " ") + std::string(w);
    }
  }
  return "ensemble of " + count(m.models.size(), "model") + " (" + how + ")";
}

TranslationService::TranslationService(std::vector<ServedModel> models, ServiceOptions options)
    : options_(options) {
  if (models.empty()) throw Error("the server needs at least one model");
  if (options_.workers == 0) throw Error("the server needs at least one worker");
  if (options_.max_batch_lines == 0) throw Error("the batch size must be at least 1");
  if (options_.max_queue == 0) throw Error("the queue must hold at least 1 request");
  for (auto& m : models) {
    if (std::find(names_.begin(), names_.end(), m.name) != names_.end())
      throw Error("two models are named '" + m.name + "'; name them with --model NAME=FILE");
    names_.push_back(m.name);
    models_.push_back(std::make_shared<const ServedModel>(std::move(m)));
  }
  declare_metrics();
  publish_models(models_);
  for (std::size_t i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { work(); });
}

TranslationService::~TranslationService() { stop(); }

void TranslationService::declare_metrics() {
  metrics_.gauge("attend_queue_requests", "Translate requests waiting for a decoding worker.");
  metrics_.gauge("attend_queue_limit", "The most requests that may wait (--max-queue).");
  metrics_.counter("attend_queue_rejected_total", "Requests refused with 503 because the queue was full.");
  metrics_.counter("attend_requests_dropped_total",
                   "Queued requests dropped without decoding: past their deadline, or their client gone.");
  metrics_.histogram("attend_batch_lines", "Lines decoded together in one batch.",
                     {1, 2, 4, 8, 16, 32, 64, 128, 256});
  metrics_.histogram("attend_batch_requests", "Requests decoded together in one batch.", {1, 2, 4, 8, 16, 32, 64});
  metrics_.histogram("attend_decode_seconds", "Time one batch took to decode.",
                     {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  metrics_.counter("attend_decoded_lines_total", "Lines decoded, by model.");
  metrics_.counter("attend_source_tokens_total", "Source tokens of the decoded lines, by model.");
  metrics_.counter("attend_decoded_tokens_total", "Output tokens of the best hypotheses, by model.");
  metrics_.gauge("attend_model_info", "A loaded model (always 1): its name, file and summary.");
  metrics_.gauge("attend_model_load_timestamp_seconds", "When the model was loaded, Unix time.");
  metrics_.counter("attend_model_reloads_total", "Reloads of the models (SIGHUP), by result.");
  metrics_.gauge("attend_workers", "Decoding workers.");
  metrics_.set("attend_queue_requests", 0);
  metrics_.set("attend_queue_limit", static_cast<double>(options_.max_queue));
  metrics_.set("attend_workers", static_cast<double>(options_.workers));
}

void TranslationService::publish_models(const Models& models) {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  metrics_.clear("attend_model_info");
  for (const auto& m : models) {
    metrics_.set("attend_model_info",
                 {{"model", m->name}, {"file", joined(m->paths(), true)}, {"summary", served_model_summary(*m)}}, 1);
    metrics_.set("attend_model_load_timestamp_seconds", {{"model", m->name}}, now);
  }
}

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

std::size_t TranslationService::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

TranslationService::Models TranslationService::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return models_;
}

void TranslationService::reload() {
  const Models old = snapshot();
  Models fresh;
  try {
    for (const auto& m : old)  // an ensemble's files are checked together again
      fresh.push_back(std::make_shared<const ServedModel>(
          ServedModel(m->name, TranslatorEnsemble::load(m->paths(), m->models.options()))));
  } catch (...) {
    metrics_.add("attend_model_reloads_total", {{"result", "failed"}});
    throw;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    models_ = fresh;
    stats_.reloads += 1;
  }
  publish_models(fresh);
  metrics_.add("attend_model_reloads_total", {{"result", "ok"}});
}

std::string TranslationService::handle_translate(const std::string& body, RequestContext* context) {
  const TranslateRequest r = parse_translate_request(body, names_, options_.limits);
  if (context) {
    context->lines = r.text.size();
    if (context->keep_text) context->text = r.text;
  }
  if (r.models.empty()) return translations_json(translate(r, context), r);
  const Models models = snapshot();
  std::vector<std::shared_ptr<const ServedModel>> chosen;
  for (const auto& name : r.models) chosen.push_back(models[model_index(name)]);
  // Every model's lines are checked before any is queued, so a refused request decodes nothing.
  for (const auto& m : chosen) check_lines(*m, r);
  auto answers = run(chosen, r, context);
  std::vector<std::pair<std::string, std::vector<ServedTranslation>>> results;
  for (std::size_t k = 0; k < chosen.size(); ++k) results.emplace_back(chosen[k]->name, std::move(answers[k]));
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

void TranslationService::check_lines(const ServedModel& m, const TranslateRequest& request) const {
  // Checked in the request's thread, so a line the model cannot take fails its own request and
  // never the batch it would have joined. Every member of an ensemble reads the line, so each
  // one's limits apply.
  for (std::size_t k = 0; k < m.models.size(); ++k) {
    const Translator& tr = m.models.members()[k];
    const std::string who = m.ensemble() ? "model \"" + m.name + "\" (member " + std::to_string(k + 1) + ", " +
                                               file_name(m.paths()[k]) + ")"
                                         : "model \"" + m.name + "\"";
    const bool say_who = m.ensemble() || names_.size() > 1;
    for (std::size_t i = 0; i < request.text.size(); ++i) {
      const std::string where = "\"text\"[" + std::to_string(i) + "]";
      std::vector<int> ids;
      try {
        ids = tr.encode(tr.prepare(request.text[i]), where);
      } catch (const Error& e) {
        throw RequestError(400, say_who ? who + ": " + e.what() : e.what());
      }
      if (ids.size() > options_.limits.max_tokens)
        throw RequestError(413, where + " has " + std::to_string(ids.size()) + " tokens, more than the limit of " +
                                    std::to_string(options_.limits.max_tokens) +
                                    (say_who ? " (as " + who + " splits it)" : ""));
    }
  }
}

std::vector<std::vector<ServedTranslation>> TranslationService::run(
    const std::vector<std::shared_ptr<const ServedModel>>& chosen, const TranslateRequest& request,
    RequestContext* context) {
  const auto deadline = Clock::now() + options_.deadline;
  auto abandoned = std::make_shared<std::atomic<bool>>(false);
  std::vector<std::future<std::vector<ServedTranslation>>> answers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw RequestError(503, "the server is shutting down");
    if (!queue_.empty() && queue_.size() + chosen.size() > options_.max_queue) {
      stats_.busy += 1;
      metrics_.add("attend_queue_rejected_total");
      throw RequestError(503, "the server is busy (" + std::to_string(queue_.size()) +
                                  " requests are waiting); retry later");
    }
    for (const auto& m : chosen) {
      Job job;
      job.model = m;
      job.search.beam = request.beam;
      job.search.nbest = request.nbest;
      job.search.keep_attention = request.attention;
      job.search.keep_attention_views = request.attention;
      job.lines = request.text;
      job.deadline = deadline;
      job.abandoned = abandoned;
      answers.push_back(job.done.get_future());
      queue_.push_back(std::move(job));
    }
    metrics_.set("attend_queue_requests", static_cast<double>(queue_.size()));
  }
  if (chosen.size() == 1) wake_.notify_one();
  else wake_.notify_all();
  std::vector<std::vector<ServedTranslation>> out;
  for (auto& answer : answers) {
    for (;;) {
      const auto now = Clock::now();
      const auto step = std::min<Clock::duration>(std::chrono::milliseconds(50), deadline - now);
      if (step > Clock::duration::zero() && answer.wait_for(step) == std::future_status::ready) break;
      if (answer.wait_for(std::chrono::seconds(0)) == std::future_status::ready) break;
      if (Clock::now() >= deadline) {  // the worker drops the jobs when it sees the deadline passed
        char limit[32];
        std::snprintf(limit, sizeof limit, "%g", options_.deadline.count() / 1000.0);
        throw RequestError(503, std::string("not translated within the deadline of ") + limit +
                                    " s (the server is busy); retry later");
      }
      if (context && context->client_gone && context->client_gone()) {
        abandoned->store(true);
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.abandoned += 1;
        throw RequestError(499, "the client closed the connection");
      }
    }
    out.push_back(answer.get());
  }
  return out;
}

std::vector<ServedTranslation> TranslationService::translate(const TranslateRequest& request, RequestContext* context) {
  const Models models = snapshot();
  const auto& m = models[model_index(request.model)];
  check_lines(*m, request);
  return std::move(run({m}, request, context).front());
}

std::vector<ServedTranslation> TranslationService::decode_lines(const ServedModel& m,
                                                                const std::vector<std::string>& lines,
                                                                const SearchOptions& search) const {
  if (m.ensemble()) {
    std::vector<Translation> all = m.models.translate(lines, search, options_.max_batch_lines);
    std::vector<ServedTranslation> out;
    out.reserve(all.size());
    for (auto& t : all) {
      out.emplace_back(std::move(t));
      if (!out.back().views.empty()) out.back().default_view = out.back().view_names.front();
    }
    return out;
  }
  const Translator& tr = m.models.first();
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
      // Requests nobody waits for any more are answered (for form's sake) and not decoded.
      const auto now = Clock::now();
      for (auto it = queue_.begin(); it != queue_.end();) {
        const bool gone = it->abandoned->load();
        if (gone || now >= it->deadline) {
          if (!gone) stats_.expired += 1;
          metrics_.add("attend_requests_dropped_total", {{"reason", gone ? "abandoned" : "deadline"}});
          it->done.set_exception(std::make_exception_ptr(RequestError(503, "dropped: not translated in time")));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      if (queue_.empty()) {
        metrics_.set("attend_queue_requests", 0);
        continue;
      }
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
      metrics_.set("attend_queue_requests", static_cast<double>(queue_.size()));
    }
    std::vector<std::string> lines;
    for (const Job& j : batch) lines.insert(lines.end(), j.lines.begin(), j.lines.end());
    try {
      const ServedModel& model = *batch.front().model;
      const auto started = Clock::now();
      std::vector<ServedTranslation> all = decode_lines(model, lines, batch.front().search);
      metrics_.observe("attend_decode_seconds", std::chrono::duration<double>(Clock::now() - started).count());
      metrics_.observe("attend_batch_lines", static_cast<double>(lines.size()));
      metrics_.observe("attend_batch_requests", static_cast<double>(batch.size()));
      std::size_t source_tokens = 0, output_tokens = 0;
      for (const auto& t : all) {
        source_tokens += t.source_tokens.size();
        output_tokens += t.tokens.size();
      }
      metrics_.add("attend_decoded_lines_total", {{"model", model.name}}, static_cast<double>(lines.size()));
      metrics_.add("attend_source_tokens_total", {{"model", model.name}}, static_cast<double>(source_tokens));
      metrics_.add("attend_decoded_tokens_total", {{"model", model.name}}, static_cast<double>(output_tokens));
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
  const auto describe = [](const Translator& tr, const std::string& path, const std::string& summary) {
    const ModelBundle& b = tr.bundle();
    nlohmann::json config = nlohmann::json::object();
    for (const auto& [key, value] : tr.model().config().to_map()) config[key] = value;
    return nlohmann::json{{"path", path},
                          {"file", file_name(path)},
                          {"summary", summary},
                          {"config", std::move(config)},
                          {"tokenizer", tokenizer_name(b.tokenizer)},
                          {"src_vocab", b.src_vocab.size()},
                          {"tgt_vocab", b.tgt_vocab.size()}};
  };
  for (const auto& model : snapshot()) {
    const ServedModel& m = *model;
    // An ensemble: the first member's facts (it turns the output into text), the joined files
    // and the ensemble's summary, then each member's own.
    nlohmann::json one = describe(m.models.first(), m.paths().front(), served_model_summary(m));
    one["name"] = m.name;
    if (m.ensemble()) {
      one["path"] = joined(m.paths(), false);
      one["file"] = joined(m.paths(), true);
      one["ensemble"] = {{"combine", ensemble_combine_name(m.models.options().combine)},
                         {"weights", m.models.options().weights}};
      nlohmann::json members = nlohmann::json::array();
      for (std::size_t k = 0; k < m.models.size(); ++k)
        members.push_back(describe(m.models.members()[k], m.paths()[k],
                                   model_summary(m.models.members()[k].model().config())));
      one["members"] = std::move(members);
    }
    out.push_back(std::move(one));
  }
  return nlohmann::json({{"models", std::move(out)}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string TranslationService::health_json() const {
  const ServiceStats s = stats();
  return nlohmann::json({{"status", "ok"},
                         {"models", names_.size()},
                         {"queued", queued()},
                         {"requests", s.requests},
                         {"lines", s.lines},
                         {"batches", s.batches},
                         {"batching", options_.batching},
                         {"workers", options_.workers}})
      .dump();
}

}  // namespace attend
