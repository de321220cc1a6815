#include "attend/core/blas_threads.hpp"
#include "attend/decode/translate_encoded.hpp"
#include "attend/eval/greedy_bleu.hpp"
#include "attend/experiment/run.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <thread>

#include "attend/core/error.hpp"
#include "attend/io/average.hpp"
#include "attend/train/distributed.hpp"

namespace attend {

using json = nlohmann::json;

// ---- metrics files ------------------------------------------------------------------------------

json config_json(const ModelConfig& c) {
  json j = json::object();
  for (const auto& [key, value] : c.to_map()) {
    const json number = json::parse(value, nullptr, /*allow_exceptions=*/false);
    j[key] = number.is_number() ? number : json(value);
  }
  j["decoder_style"] = c.decoder_style();
  return j;
}

json curve_json(const std::vector<CurvePoint>& curve) {
  json a = json::array();
  for (const auto& p : curve) a.push_back({p.step, std::isfinite(p.value) ? json(p.value) : json(nullptr)});
  return a;
}

json train_options_json(const TaskOptions& t, const TrainOptions& o, std::size_t threads) {
  json j = {{"task", t.name},
            {"optimizer", to_string(o.optimizer.kind)},                 {"lr", o.optimizer.lr},
          {"momentum", o.optimizer.momentum},                         {"clip", o.clip},
          {"teacher_forcing", o.teacher_forcing},                     {"label_smoothing", o.label_smoothing},
          {"batch", o.batch},         {"steps", o.steps},             {"epochs", o.epochs},
          {"eval_every", o.eval_every},                               {"patience", o.patience},
          {"lr_decay", o.lr_decay},   {"seed", o.seed},               {"threads", threads}};
  for (const TaskField& f : task_fields()) std::visit([&](auto m) { j[f.key] = t.*m; }, f.member);
  return j;
}

// ---- threads ------------------------------------------------------------------------------------

std::size_t training_shards(std::size_t threads) {
  return threads ? threads : std::max(1u, std::thread::hardware_concurrency());
}

TrainingThreads::TrainingThreads(std::size_t threads) : threads_(threads) {
  set_blas_threads(training_shards(threads) > 1 ? 1 : threads);
}

TrainingThreads::~TrainingThreads() { set_blas_threads(threads_); }

// ---- one run on files ---------------------------------------------------------------------------

namespace {

// The parameters after one validation, for checkpoint averaging.
struct Snapshot {
  std::size_t step = 0;
  double score = 0;
  std::vector<float> values;
};

// The last `last` and the best `best` validations' parameters (ties: the earlier step stays).
class SnapshotKeeper {
 public:
  SnapshotKeeper(std::size_t last, std::size_t best) : last_n_(last), best_n_(best) {}
  bool active() const { return last_n_ || best_n_; }
  void add(std::size_t step, double score, const Col<float>& values) {
    if (!active()) return;
    Snapshot s{step, score, std::vector<float>(values.begin(), values.end())};
    if (best_n_) {
      auto at = std::find_if(best_.begin(), best_.end(), [&](const Snapshot& b) { return score > b.score; });
      if (std::size_t(at - best_.begin()) < best_n_) {
        best_.insert(at, s);
        if (best_.size() > best_n_) best_.pop_back();
      }
    }
    if (last_n_) {
      last_.push_back(std::move(s));
      if (last_.size() > last_n_) last_.erase(last_.begin());
    }
  }
  const std::vector<Snapshot>& last() const { return last_; }
  const std::vector<Snapshot>& best() const { return best_; }

 private:
  std::size_t last_n_, best_n_;
  std::vector<Snapshot> last_, best_;
};

}  // namespace

namespace {

// Saves the average of each kept set next to the model (no training state: it is not a point of
// the run to resume from) with its greedy validation BLEU; the model keeps its own parameters.
void write_averages(FileRunResult& r, const SnapshotKeeper& snapshots, const std::vector<EncodedPair>& valid_pairs,
                    const std::string& model_path) {
  ModelBundle& b = r.bundle;
  auto& P = b.model->params();
  const Col<float> kept = P.values();
  const std::optional<TrainState> state = b.train_state;
  const std::map<std::string, std::string> info = b.info;
  for (const char* kind : {"last", "best"}) {
    const std::vector<Snapshot>& set = std::string(kind) == "last" ? snapshots.last() : snapshots.best();
    if (set.empty()) continue;
    AveragedCheckpoint a;
    a.kind = kind;
    a.path = model_path + ".avg-" + kind;
    std::vector<const std::vector<float>*> values;
    for (const Snapshot& s : set) {
      values.push_back(&s.values);
      a.steps.push_back(s.step);
    }
    std::sort(a.steps.begin(), a.steps.end());
    const std::vector<float> mean = average_values(values);
    P.assign(Col<float>(mean));
    a.valid_bleu = greedy_bleu(b, valid_pairs, r.data.valid.tgt);
    b.train_state.reset();
    b.info = info;
    b.info.erase("test-bleu");
    std::string steps;
    for (std::size_t s : a.steps) steps += (steps.empty() ? "" : ",") + std::to_string(s);
    b.info["averaged-steps"] = steps;
    b.info["averaged-from"] = std::to_string(set.size());
    b.info["valid-bleu"] = std::to_string(a.valid_bleu);
    save_model(a.path, b);
    r.averages.push_back(a);
  }
  P.assign(kept);
  b.train_state = state;
  b.info = info;
}

}  // namespace

FileRunResult train_on_files(const FileRunOptions& opt, ModelConfig config, bool max_src_len_given,
                             const FileRunHooks& hooks) {
  validate(opt.train);
  opt.test_search.validate();
  FileRunResult r;
  ModelBundle& b = r.bundle;
  TextPipelineOptions text = opt.text;
  std::string model_path = opt.model_path;
  if (!opt.resume.empty()) {
    b = load_model(opt.resume);
    if (!b.train_state)
      throw Error("'" + opt.resume + "' holds no training state to resume (it was not saved by a training run on files)");
    r.resumed_from = b.train_state;
    // The vocabularies were built from text normalised as the checkpoint says; other text
    // options would feed the resumed run different tokens.
    const std::string recorded = describe_text_options(text_options_from_info(b.info));
    if (b.info.count("task") && b.info.at("task") == "files" && recorded != describe_text_options(text.text))
      throw Error("'" + opt.resume + "' was trained with the normalisation '" + recorded + "' but this run gives '" +
                  describe_text_options(text.text) + "'; resume with the same --normalize and --lowercase");
    config = b.model->config();
    text.tokenizer = tokenizer_name(b.tokenizer);
  } else {
    config.validate();
  }
  check_text_pipeline(text);
  set_blas_threads(opt.threads);

  if (r.resumed_from) {
    TextSide side{b.tokenizer, b.src_subword, b.tgt_subword};
    r.data = prepare_corpus(text, side, VocabPair{b.src_vocab, b.tgt_vocab}, hooks.warn);
  } else {
    r.data = prepare_corpus(text, hooks.warn);
    b.tokenizer = r.data.side.tokenizer;
    b.src_subword = r.data.side.src_subword;
    b.tgt_subword = r.data.side.tgt_subword;
    b.src_vocab = r.data.src_vocab;
    b.tgt_vocab = r.data.tgt_vocab;
    config.fit_to_vocabularies(b.src_vocab.size(), b.tgt_vocab.size(), text.shared_vocab);
    std::size_t longest = 0;
    for (const auto* split : {&r.data.tokens.train, &r.data.tokens.valid, &r.data.tokens.test})
      for (const auto& e : *split) longest = std::max(longest, e.src.size());
    config.fit_to_data(longest, max_src_len_given);
    b.model = std::make_unique<Seq2Seq<float>>(config, opt.train.seed);
  }
  const auto train_pairs = encode_examples(r.data.tokens.train, b.src_vocab, b.tgt_vocab);
  const auto valid_pairs = encode_examples(r.data.tokens.valid, b.src_vocab, b.tgt_vocab);
  const auto test_pairs = encode_examples(r.data.tokens.test, b.src_vocab, b.tgt_vocab);
  r.train_pairs = train_pairs.size();
  r.valid_pairs = valid_pairs.size();
  r.test_pairs = test_pairs.size();
  const std::size_t limit = config.source_limit();
  for (const auto* split : {&valid_pairs, &test_pairs})
    for (const auto& p : *split)
      if (limit && p.src.size() > limit)
        throw Error("a source has " + std::to_string(p.src.size()) + " tokens, more than the model's --max-src-len " +
                    std::to_string(limit));

  // Every checkpoint written during training (the best one, the .last one) records the text
  // options, so that translate normalises its input as the training data were.
  for (const auto& [key, value] : corpus_info(text)) b.info[key] = value;

  TrainOptions o = opt.train;
  o.threads = training_shards(opt.threads);
  if (opt.bleu_every) o.eval_every = opt.bleu_every;
  if (r.resumed_from) o.resume = &*r.resumed_from;
  if (hooks.ready) hooks.ready(r.data, b, o);

  std::optional<TrainState> best_state;
  SnapshotKeeper snapshots(opt.average_last, opt.average_best);
  double last_bleu = 0;
  std::size_t last_step = 0;
  double last_loss = 0;
  o.validate = [&](std::size_t step, double valid_loss) {
    last_bleu = greedy_bleu(b, valid_pairs, r.data.valid.tgt);
    last_step = step;
    last_loss = valid_loss;
    r.valid_bleu.push_back({step, last_bleu});
    return last_bleu;
  };
  o.after_validation = [&](const TrainState& st, bool improved) {
    b.train_state = st;
    b.info["steps"] = std::to_string(st.step);
    if (improved) {
      best_state = st;
      save_model(model_path, b);
    }
    save_model(model_path + ".last", b);
    snapshots.add(st.step, last_bleu, b.model->params().values());
    if (hooks.validated) hooks.validated(last_step, last_loss, last_bleu, improved);
  };
  {
    TrainingThreads threads(opt.threads);
    r.train = train(*b.model, train_pairs, valid_pairs, o, hooks.progress);
  }
  // Under mpirun every rank now holds the same parameters; rank 0 alone evaluates, decodes the
  // test set and saves.
  if (opt.train.ranks && !opt.train.ranks->root()) return r;

  // The model now holds the best parameters (keep_best); evaluate them.
  r.valid = evaluate(*b.model, valid_pairs, 128, false);
  for (const auto& [key, value] : corpus_info(text)) b.info[key] = value;
  b.info["seconds"] = std::to_string(r.train.seconds);
  b.info["best-step"] = std::to_string(r.train.best_step);
  b.info["valid-perplexity"] = std::to_string(r.valid.perplexity);
  if (!r.valid_bleu.empty()) {
    double best = -1;
    for (const auto& p : r.valid_bleu) best = std::max(best, p.value);
    b.info["valid-bleu"] = std::to_string(best);
    r.best_valid_bleu = std::stod(b.info["valid-bleu"]);
  }
  if (!test_pairs.empty()) {
    r.test_hypotheses = translate_encoded(b, test_pairs, opt.test_search);
    r.test_bleu = corpus_bleu(r.test_hypotheses, {r.data.test.tgt});
    r.test_perplexity = evaluate(*b.model, test_pairs, 128, false).perplexity;
    b.info["test-bleu"] = std::to_string(r.test_bleu.score);
  }
  b.train_state = best_state ? best_state : std::optional<TrainState>(r.train.state);
  save_model(model_path, b);
  if (snapshots.active()) write_averages(r, snapshots, valid_pairs, model_path);
  return r;
}

namespace {
json averages_json(const std::vector<AveragedCheckpoint>& averages) {
  json a = json::array();
  for (const auto& x : averages)
    a.push_back({{"kind", x.kind}, {"path", x.path}, {"steps", x.steps}, {"valid_bleu", x.valid_bleu}});
  return a;
}
}  // namespace

json file_run_json(const FileRunOptions& opt, const TaskOptions& task, const FileRunResult& r) {
  const TrainResult& t = r.train;
  TrainOptions o = opt.train;
  if (opt.bleu_every) o.eval_every = opt.bleu_every;
  json test = nullptr;
  if (r.test_pairs)
    test = {{"bleu", r.test_bleu.score}, {"bleu_line", r.test_bleu.format()}, {"perplexity", r.test_perplexity},
            {"beam", opt.test_search.beam}, {"examples", r.test_pairs}};
  json j = {{"config", config_json(r.bundle.model->config())},
          {"train", train_options_json(task, o, opt.threads)},
          {"data", {{"train", r.train_pairs}, {"valid", r.valid_pairs}, {"test", r.test_pairs},
                    {"filtered", r.data.filtered}, {"skipped", r.data.skipped()},
                    {"tokenizer", tokenizer_name(r.bundle.tokenizer)}}},
          {"steps", t.steps},
          {"seconds", t.seconds},
          {"tokens_per_s", t.seconds > 0 ? t.tokens / t.seconds : 0.0},
          {"valid", {{"perplexity", r.valid.perplexity}}},
          {"valid_bleu_curve", curve_json(r.valid_bleu)},
          {"test", test},
          {"loss_curve", curve_json(t.train_loss)},
          {"valid_curve", curve_json(t.valid_loss)},
          {"diverged", false},  // a diverging run ends in TrainingDiverged, before any metrics
          {"stopped_early", t.stopped_early},
          {"time_limit_reached", t.time_limit_reached},
          {"best_step", t.best_step}};
  if (!r.averages.empty()) j["averages"] = averages_json(r.averages);
  return j;
}

}  // namespace attend
