#include "attend/core/blas_threads.hpp"
#include "attend/decode/translate_encoded.hpp"
#include "attend/eval/greedy_bleu.hpp"
#include "attend/experiment/run.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <thread>

#include "attend/core/error.hpp"
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
  return r;
}

json file_run_json(const FileRunOptions& opt, const TaskOptions& task, const FileRunResult& r) {
  const TrainResult& t = r.train;
  TrainOptions o = opt.train;
  if (opt.bleu_every) o.eval_every = opt.bleu_every;
  json test = nullptr;
  if (r.test_pairs)
    test = {{"bleu", r.test_bleu.score}, {"bleu_line", r.test_bleu.format()}, {"perplexity", r.test_perplexity},
            {"beam", opt.test_search.beam}, {"examples", r.test_pairs}};
  return {{"config", config_json(r.bundle.model->config())},
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
}

}  // namespace attend
