// `attend train`: generate a toy task, build the vocabularies and the model, train with a live
// progress line, report held-out metrics with example attention maps, save the model.
#include <attend/eval/bleu.hpp>
#include <attend/text/corpus.hpp>
#include <attend/core/error.hpp>
#include <attend/text/subword.hpp>
#include <attend/text/tasks.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common.hpp"

namespace attend::cli {

// =================================================================================================
// DEFAULTS OF `attend train` — the defaults of the options `attend compare` shares (task, model
// shape, optimisation, parallel files) are in common.hpp; those of train's own options are here.
// --help shows them all.
// =================================================================================================
struct TrainSettings : TaskSettings, ArchitectureSettings, OptimizationSettings, CorpusSettings {
  // model
  std::string cell = "gru";
  std::string attention = "bahdanau";
  std::string decoder = "auto";
  // training
  std::uint64_t seed = 1;
  std::size_t threads = 0;     // shards while training, BLAS threads for decoding; 0 = one per core
  std::string resume;
  // output
  std::string model = "attend-model.h5";
  std::string metrics_json;
  std::string config_file;
  bool quiet = false;
};
// =================================================================================================

namespace {

po::options_description file_options(TrainSettings& s) {
  po::options_description d("Parallel text files (instead of --task; plain or .gz UTF-8, one sentence per line)");
  add_corpus_options(d, s, "test sources (optional; BLEU at the end)");
  d.add_options()
      ("resume", po::value<std::string>(&s.resume), "continue the run saved in this checkpoint");
  return d;
}

po::options_description model_options(TrainSettings& s) {
  po::options_description d("Model");
  d.add_options()
      ("cell", opt(&s.cell), "rnn | lstm | gru")
      ("attention", opt(&s.attention),
       "none | bahdanau | luong-dot | luong-general | luong-concat | location | scaled-dot | "
       "local-m | local-p | multihead")
      ("decoder", opt(&s.decoder), "auto | bahdanau | luong");
  add_architecture_options(d, s);
  return d;
}

po::options_description training_options(TrainSettings& s) {
  po::options_description d("Training");
  add_optimization_options(d, s);
  d.add_options()
      ("seed", opt(&s.seed), "seed of the data, the initial weights and the batch order")
      ("threads", opt(&s.threads), "training: this many data-parallel shards with one BLAS thread each; "
                                   "decoding: this many BLAS threads (0 = one per core)");
  return d;
}

po::options_description output_options(TrainSettings& s) {
  po::options_description d("Output");
  d.add_options()
      ("model", opt(&s.model), "where to save the trained model")
      ("metrics-json", po::value<std::string>(&s.metrics_json), "write the run's metrics as JSON here")
      ("config", po::value<std::string>(&s.config_file),
       "read options from this file (`name = value` lines); the command line wins")
      ("quiet,q", flag(&s.quiet), "no progress line and no examples")
      ("help,h", "show this help");
  return d;
}

// Fills s from the command line and the optional --config file; false for --help.
bool parse_settings(const std::vector<std::string>& args, TrainSettings& s, po::variables_map& vm) {
  po::options_description all;
  all.add(task_options(s)).add(file_options(s)).add(model_options(s)).add(training_options(s))
      .add(output_options(s));
  const char* usage =
      "usage: attend train [options]\n"
      "       attend train --train-src F --train-tgt F --valid-src F --valid-tgt F [options]\n\n"
      "Trains a model on a built-in toy task (default: dates -> ISO 8601) or on parallel text files\n"
      "and saves it.";
  if (!parse_command_line(args, all, usage, vm)) return false;
  if (vm.count("config")) store_config_file(vm["config"].as<std::string>(), all, vm);
  po::notify(vm);
  return true;
}

TaskOptions task_of(const TrainSettings& s) {
  TaskOptions t = task_options_of(s);
  t.seed = s.seed;
  return t;
}

ModelConfig model_config_of(const TrainSettings& s) {
  ModelConfig c;
  c.cell = s.cell;
  c.attention = s.attention;
  c.decoder = s.decoder;
  apply_architecture(s, c);
  return c;
}

// --threads N: training runs each batch as N data-parallel shards with one BLAS thread each, so
// both cores work on everything and no BLAS worker spins between small products
// (docs/performance.md); decoding and evaluation outside the training loop use N BLAS threads.
std::size_t training_shards(const TrainSettings& s) {
  return s.threads ? s.threads : std::max(1u, std::thread::hardware_concurrency());
}

TrainOptions train_options_of(const TrainSettings& s) {
  TrainOptions o = to_train_options(s);
  o.seed = s.seed;
  o.threads = training_shards(s);
  return o;
}

// The training loop's BLAS threads: one per shard while it runs, --threads again afterwards.
struct TrainingThreads {
  explicit TrainingThreads(const TrainSettings& s) : threads(s.threads) {
    set_blas_threads(training_shards(s) > 1 ? 1 : threads);
  }
  ~TrainingThreads() { set_blas_threads(threads); }
  std::size_t threads;
};

// Checks the options the library's validate() does not see.
void check_training_settings(const TrainSettings& s) { check_optimization(s); }

std::size_t longest_source(const std::vector<Example>& examples) {
  std::size_t n = 0;
  for (const auto& e : examples) n = std::max(n, e.src.size());
  return n;
}

void fit_to_data(ModelConfig& c, const TaskData& data, bool user_set_sizes) {
  c.fit_to_data(std::max({longest_source(data.train), longest_source(data.valid),
                          longest_source(data.test)}),
                user_set_sizes);
}

std::vector<std::vector<std::string>> sides(const std::vector<Example>& examples, bool source) {
  std::vector<std::vector<std::string>> out;
  for (const auto& e : examples) out.push_back(source ? e.src : e.tgt);
  return out;
}

// Progress on stderr: one line rewritten in place on a terminal, else a line every ~2 s.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet) : quiet_(quiet), tty_(stderr_is_tty()) {}
  void operator()(const TrainProgress& p) {
    if (quiet_) return;
    const double now = p.elapsed_s;
    const bool last = p.step == p.total_steps;
    if (tty_ && (now - last_print_ >= 0.1 || last)) {
      std::cerr << "\r" << format_progress(p) << "\x1b[K" << std::flush;
      last_print_ = now;
      dirty_ = true;
    } else if (!tty_ && (now - last_print_ >= 2.0 || last)) {
      std::cerr << format_progress(p) << std::endl;
      last_print_ = now;
    }
  }
  void finish() {
    if (dirty_) std::cerr << std::endl;
    dirty_ = false;
  }

 private:
  bool quiet_, tty_, dirty_ = false;
  double last_print_ = 0;
};

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * x);
  return buf;
}

void print_header(const TrainSettings& s, const TaskData& data, const ModelBundle& b,
                  const TrainOptions& o) {
  std::cerr << "task " << s.task << ": " << data.train.size() << " train, " << data.valid.size()
            << " valid, " << data.test.size() << " test examples; vocabularies "
            << b.src_vocab.size() << " -> " << b.tgt_vocab.size() << "\n"
            << "model: " << s.cell << " + " << s.attention << " attention ("
            << b.model->config().decoder_style() << " decoder), hidden " << s.hidden << ", "
            << format_thousands(double(b.model->params().size())) << " parameters; "
            << (o.steps ? std::to_string(o.steps) + " steps" : std::to_string(o.epochs) + " epochs")
            << " of batch " << o.batch << "\n";
}

void print_example(const Example& e, const Hypothesis& h, const ModelBundle& b) {
  const auto out = b.tgt_vocab.decode(h.tokens);
  const bool ok = h.finished && out == e.tgt;
  std::cout << "\n" << detokenize(e.src, b.tokenizer) << "  \u2192  " << detokenize(out, b.tokenizer)
            << (ok ? "  (correct)" : "  (expected " + detokenize(e.tgt, b.tokenizer) + ")") << "\n"
            << attention_map(e.src, out, h.attention);
}

void print_test_report(const EvalResult& r, const TaskData& data, const ModelBundle& b,
                       bool quiet) {
  char ppl[32];
  std::snprintf(ppl, sizeof ppl, "%.4f", r.perplexity);
  std::cout << "test (" << r.examples << " examples): exact match " << percent(r.exact_match)
            << "  token accuracy " << percent(r.token_accuracy) << "  perplexity " << ppl << "\n";
  if (quiet) return;
  for (std::size_t i = 0; i < 3 && i < data.test.size(); ++i)
    print_example(data.test[i], r.hypotheses[i], b);
  std::cout << "\n";
}

nlohmann::json config_json(const ModelConfig& c) {
  return {{"cell", c.cell},       {"attention", c.attention},   {"decoder", c.decoder},
          {"decoder_style", c.decoder_style()},                 {"score", c.score},
          {"bridge", c.bridge},   {"layers", c.layers},         {"bidirectional", c.bidirectional},
          {"emb", c.emb},         {"hidden", c.hidden},         {"dropout", c.dropout},
          {"window", c.window},   {"heads", c.heads},           {"max_src_len", c.max_src_len},
          {"reverse_source", c.reverse_source},                 {"src_vocab", c.src_vocab},
          {"tgt_vocab", c.tgt_vocab}};
}

nlohmann::json options_json(const TrainSettings& s, const TrainOptions& o) {
  return {{"task", s.task},           {"train_size", s.train_size},   {"valid_size", s.valid_size},
          {"test_size", s.test_size}, {"min_len", s.min_len},         {"max_len", s.max_len},
          {"test_min_len", s.test_min_len},                           {"test_max_len", s.test_max_len},
          {"optimizer", o.optimizer.name},                            {"lr", o.optimizer.lr},
          {"momentum", o.optimizer.momentum},                         {"clip", o.clip},
          {"teacher_forcing", o.teacher_forcing},                     {"label_smoothing", o.label_smoothing},
          {"batch", o.batch},         {"steps", o.steps},             {"epochs", o.epochs},
          {"eval_every", o.eval_every},                               {"patience", o.patience},
          {"lr_decay", o.lr_decay},   {"seed", o.seed},               {"threads", s.threads}};
}

nlohmann::json curve_json(const std::vector<CurvePoint>& curve) {
  auto a = nlohmann::json::array();
  for (const auto& p : curve) a.push_back({p.step, p.value});
  return a;
}

void write_metrics(const std::string& path, const TrainSettings& s, const TrainOptions& o,
                   const ModelConfig& c, const TrainResult& t, const EvalResult& r) {
  nlohmann::json j = {
      {"config", config_json(c)},
      {"train", options_json(s, o)},
      {"steps", t.steps},
      {"seconds", t.seconds},
      {"tokens_per_s", t.seconds > 0 ? t.tokens / t.seconds : 0.0},
      {"test", {{"exact_match", r.exact_match}, {"token_accuracy", r.token_accuracy},
                {"perplexity", r.perplexity}, {"examples", r.examples}}},
      {"loss_curve", curve_json(t.train_loss)},
      {"valid_curve", curve_json(t.valid_loss)},
      {"diverged", false},  // a diverging run ends in TrainingDiverged, before any metrics
      {"stopped_early", t.stopped_early},
      {"best_step", t.best_step}};
  write_file_atomic(path, j.dump(2) + "\n");
}

void record_info(ModelBundle& b, const TrainSettings& s, const TrainResult& t, const EvalResult& r) {
  const TaskOptions task = task_of(s);
  b.info = {{"task", s.task},
            {"train-size", std::to_string(task.train_size)},
            {"valid-size", std::to_string(task.valid_size)},
            {"test-size", std::to_string(task.test_size)},
            {"min-len", std::to_string(task.min_len)},
            {"max-len", std::to_string(task.max_len)},
            {"test-min-len", std::to_string(task.test_min_len)},
            {"test-max-len", std::to_string(task.test_max_len)},
            {"seed", std::to_string(s.seed)},
            {"steps", std::to_string(t.steps)},
            {"seconds", std::to_string(t.seconds)},
            {"test-exact-match", std::to_string(r.exact_match)}};
}

void report_outcome(const TrainResult& t) {
  if (t.stopped_early)
    std::cerr << "stopped early after " << t.steps << " steps (best validation at step "
              << t.best_step << ")\n";
}

// ---- training on parallel text files ------------------------------------------------------------

std::size_t code_points(const std::string& line) {
  std::size_t n = 0;
  for (unsigned char c : line) n += (c & 0xC0) != 0x80;
  return n;
}

struct FileData {
  ParallelCorpus train, valid, test;
  std::size_t filtered = 0;  // training pairs dropped by --max-src-tokens / --max-tgt-tokens
  TaskData tokens;           // the same pairs as tokens
};

ParallelCorpus read_split(const TrainSettings& s, const std::string& src, const std::string& tgt,
                          const char* split) {
  CorpusOptions o;
  o.max_src_tokens = o.max_tgt_tokens = s.max_line_tokens;
  if (s.tokenizer == "char") o.src_length = o.tgt_length = code_points;
  o.skip_bad_lines = s.skip_bad_lines;
  o.text.lowercase = s.lowercase;
  o.text.normalize = s.normalize;
  ParallelCorpus c = read_parallel(src, tgt, o);
  if (c.skipped) {
    std::cerr << "attend: warning: skipped " << c.skipped << " bad " << split << " pair"
              << (c.skipped == 1 ? "" : "s") << " (--skip-bad-lines); first:";
    for (const auto& p : c.problems) std::cerr << "\n  " << p;
    std::cerr << "\n";
  }
  if (c.size() == 0) throw Error(std::string("no usable ") + split + " pairs in '" + src + "' / '" + tgt + "'");
  return c;
}

void check_file_settings(const TrainSettings& s, const po::variables_map& vm) {
  const bool any = !s.train_src.empty() || !s.train_tgt.empty() || !s.valid_src.empty() || !s.valid_tgt.empty();
  if (!any) return;
  for (const char* name : {"train-src", "train-tgt", "valid-src", "valid-tgt"})
    if (!vm.count(name)) throw Error(std::string("--") + name + " is required when training on files");
  if (s.test_src.empty() != s.test_tgt.empty()) throw Error("--test-src and --test-tgt go together");
  if (!vm["task"].defaulted()) throw Error("give either --task or --train-src/--train-tgt files, not both");
  if (s.tokenizer != "space" && s.tokenizer != "char" && s.tokenizer != "spm")
    throw Error("unknown tokenizer '" + s.tokenizer + "' (valid: space, char, spm)");
  if (s.beam == 0) throw Error("--beam must be at least 1");
}

// Tokenizer, SentencePiece models and vocabularies from the training side (or from the resumed
// checkpoint, which already has them).
void build_text_side(const TrainSettings& s, const ParallelCorpus& train, ModelBundle& b) {
  b.tokenizer = tokenizer_from_name(s.tokenizer);
  if (b.tokenizer == Tokenizer::Spm) {
    SubwordOptions so;
    so.vocab_size = s.spm_vocab;
    so.model_type = s.spm_type;
    so.seed = s.seed;
    const SubwordPair models = train_subword_pair(train.src, train.tgt, so, s.shared_vocab);
    b.src_subword = models.src;
    b.tgt_subword = models.tgt;
  }
}

void build_vocabularies(const TrainSettings& s, const std::vector<Example>& train, ModelBundle& b) {
  VocabPair vocabs = build_vocab_pair(sides(train, true), sides(train, false), s.shared_vocab, s.min_freq, s.max_vocab);
  b.src_vocab = std::move(vocabs.src);
  b.tgt_vocab = std::move(vocabs.tgt);
}

std::string fixed(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

int run_train_files(TrainSettings& s, const po::variables_map& vm) {
  ModelBundle b;
  ModelConfig config;
  std::optional<TrainState> resume_state;
  if (!s.resume.empty()) {
    b = load_model(s.resume);
    if (!b.train_state)
      throw Error("'" + s.resume + "' holds no training state to resume (it was not saved by a training run on files)");
    resume_state = b.train_state;
    config = b.model->config();
    s.tokenizer = tokenizer_name(b.tokenizer);
    if (vm["model"].defaulted()) s.model = s.resume;
  } else {
    if (s.tokenizer.empty()) s.tokenizer = "space";
    config = model_config_of(s);
    config.validate();
  }
  check_file_settings(s, vm);
  set_blas_threads(s.threads);

  FileData d;
  d.train = read_split(s, s.train_src, s.train_tgt, "training");
  d.valid = read_split(s, s.valid_src, s.valid_tgt, "validation");
  if (!s.test_src.empty()) d.test = read_split(s, s.test_src, s.test_tgt, "test");
  if (!resume_state) build_text_side(s, d.train, b);
  d.tokens.train = tokenize_corpus(b, d.train);
  // Length filter on the training pairs, in model tokens.
  if (s.max_src_tokens || s.max_tgt_tokens) {
    std::vector<Example> kept;
    for (auto& e : d.tokens.train) {
      const bool long_src = s.max_src_tokens && e.src.size() > s.max_src_tokens;
      const bool long_tgt = s.max_tgt_tokens && e.tgt.size() > s.max_tgt_tokens;
      if (long_src || long_tgt) ++d.filtered;
      else kept.push_back(std::move(e));
    }
    d.tokens.train.swap(kept);
    if (d.tokens.train.empty()) throw Error("the length filter (--max-src-tokens / --max-tgt-tokens) dropped every training pair");
  }
  d.tokens.valid = tokenize_corpus(b, d.valid);
  d.tokens.test = tokenize_corpus(b, d.test);
  if (!resume_state) {
    build_vocabularies(s, d.tokens.train, b);
    config.src_vocab = b.src_vocab.size();
    config.tgt_vocab = b.tgt_vocab.size();
    fit_to_data(config, d.tokens, !vm["max-src-len"].defaulted());
    b.model = std::make_unique<Seq2Seq<float>>(config, s.seed);
  }
  const auto train_pairs = encode_examples(d.tokens.train, b.src_vocab, b.tgt_vocab);
  const auto valid_pairs = encode_examples(d.tokens.valid, b.src_vocab, b.tgt_vocab);
  const auto test_pairs = encode_examples(d.tokens.test, b.src_vocab, b.tgt_vocab);
  const std::size_t limit = config.source_limit();
  for (const auto* split : {&valid_pairs, &test_pairs})
    for (const auto& p : *split)
      if (limit && p.src.size() > limit)
        throw Error("a source has " + std::to_string(p.src.size()) + " tokens, more than the model's --max-src-len " +
                    std::to_string(limit));

  TrainOptions o = train_options_of(s);
  if (s.bleu_every) o.eval_every = s.bleu_every;
  o.max_seconds = s.time_limit;
  if (resume_state) o.resume = &*resume_state;
  if (!s.quiet) {
    std::cerr << "data: " << train_pairs.size() << " training pairs";
    if (d.filtered) std::cerr << " (" << d.filtered << " longer than the length filter dropped)";
    std::cerr << ", " << valid_pairs.size() << " valid, " << test_pairs.size() << " test; tokenizer "
              << s.tokenizer << "; vocabularies " << b.src_vocab.size() << " -> " << b.tgt_vocab.size()
              << (s.shared_vocab ? " (shared)" : "") << "\n"
              << "model: " << config.cell << " + " << config.attention << " attention ("
              << config.decoder_style() << " decoder), hidden " << config.hidden << ", "
              << format_thousands(double(b.model->params().size())) << " parameters; "
              << (o.steps ? std::to_string(o.steps) + " steps" : std::to_string(o.epochs) + " epochs")
              << " of batch " << o.batch;
    if (o.max_seconds > 0) std::cerr << ", at most " << format_duration(o.max_seconds);
    if (resume_state) std::cerr << "; resuming " << s.resume << " at step " << resume_state->step;
    std::cerr << "\n";
  }

  ProgressPrinter printer(s.quiet);
  std::optional<TrainState> best_state;
  std::vector<CurvePoint> valid_bleu;
  o.validate = [&](std::size_t step, double valid_loss) {
    const auto hyps = translate_encoded(b, valid_pairs, SearchOptions{});
    const double bleu = corpus_bleu(hyps, {d.valid.tgt}).score;
    valid_bleu.push_back({step, bleu});
    printer.finish();
    if (!s.quiet)
      std::cerr << "validation at step " << step << ": perplexity " << fixed(std::exp(valid_loss), 3)
                << "  BLEU " << fixed(bleu, 2) << " (greedy" << (s.lowercase ? ", lower-cased text" : "") << ")\n";
    return bleu;
  };
  o.after_validation = [&](const TrainState& st, bool improved) {
    b.train_state = st;
    b.info["steps"] = std::to_string(st.step);
    if (improved) {
      best_state = st;
      save_model(s.model, b);
      if (!s.quiet) std::cerr << "  new best: saved " << s.model << "\n";
    }
    save_model(s.model + ".last", b);
  };

  const TrainResult t = [&] {
    TrainingThreads threads(s);
    return train(*b.model, train_pairs, valid_pairs, o, std::ref(printer));
  }();
  printer.finish();
  report_outcome(t);
  if (t.time_limit_reached && !s.quiet)
    std::cerr << "time limit reached after " << t.steps << " steps (" << format_duration(t.seconds) << ")\n";

  // The model now holds the best parameters (keep_best); evaluate them.
  const EvalResult vr = evaluate(*b.model, valid_pairs, 128, false);
  nlohmann::json test_json = nullptr;
  b.info["task"] = "files";
  b.info["lowercase"] = s.lowercase ? "1" : "0";
  b.info["normalize"] = s.normalize ? "1" : "0";
  b.info["train-src"] = s.train_src;
  b.info["train-tgt"] = s.train_tgt;
  b.info["seconds"] = std::to_string(t.seconds);
  b.info["best-step"] = std::to_string(t.best_step);
  b.info["valid-perplexity"] = std::to_string(vr.perplexity);
  if (!valid_bleu.empty()) {
    double best = -1;
    for (const auto& p : valid_bleu) best = std::max(best, p.value);
    b.info["valid-bleu"] = std::to_string(best);
  }
  std::cout << "valid (" << vr.examples << " pairs): perplexity " << fixed(vr.perplexity, 3);
  if (b.info.count("valid-bleu")) std::cout << "  best greedy BLEU " << fixed(std::stod(b.info["valid-bleu"]), 2);
  std::cout << "\n";
  if (!test_pairs.empty()) {
    SearchOptions so;
    so.beam = s.beam;
    so.length_penalty = s.length_penalty;
    const auto hyps = translate_encoded(b, test_pairs, so);
    const BleuScore bleu = corpus_bleu(hyps, {d.test.tgt});
    const EvalResult tr = evaluate(*b.model, test_pairs, 128, false);
    std::cout << "test (" << test_pairs.size() << " pairs, beam " << s.beam
              << (s.lowercase ? ", lower-cased text" : "") << "): " << bleu.format()
              << "  perplexity " << fixed(tr.perplexity, 3) << "\n";
    b.info["test-bleu"] = std::to_string(bleu.score);
    test_json = {{"bleu", bleu.score}, {"bleu_line", bleu.format()}, {"perplexity", tr.perplexity},
                 {"beam", s.beam}, {"examples", test_pairs.size()}};
    if (!s.quiet)
      for (std::size_t i = 0; i < 3 && i < hyps.size(); ++i)
        std::cout << "\n  " << d.test.src[i] << "\n  \u2192 " << hyps[i] << "\n    (reference: " << d.test.tgt[i] << ")\n";
  }
  b.train_state = best_state ? best_state : std::optional<TrainState>(t.state);
  save_model(s.model, b);
  std::cout << "model saved to " << s.model << "\n";
  if (!s.metrics_json.empty()) {
    nlohmann::json j = {{"config", config_json(config)},
                        {"train", options_json(s, o)},
                        {"data", {{"train", train_pairs.size()}, {"valid", valid_pairs.size()},
                                  {"test", test_pairs.size()}, {"filtered", d.filtered},
                                  {"skipped", d.train.skipped + d.valid.skipped + d.test.skipped},
                                  {"tokenizer", s.tokenizer}}},
                        {"steps", t.steps},
                        {"seconds", t.seconds},
                        {"tokens_per_s", t.seconds > 0 ? t.tokens / t.seconds : 0.0},
                        {"valid", {{"perplexity", vr.perplexity}}},
                        {"valid_bleu_curve", curve_json(valid_bleu)},
                        {"test", test_json},
                        {"loss_curve", curve_json(t.train_loss)},
                        {"valid_curve", curve_json(t.valid_loss)},
                        {"diverged", false},  // a diverging run ends in TrainingDiverged, before any metrics
                        {"stopped_early", t.stopped_early},
                        {"time_limit_reached", t.time_limit_reached},
                        {"best_step", t.best_step}};
    write_file_atomic(s.metrics_json, j.dump(2) + "\n");
    std::cout << "metrics written to " << s.metrics_json << "\n";
  }
  return 0;
}

}  // namespace

int run_train(const std::vector<std::string>& args) {
  TrainSettings s;
  po::variables_map vm;
  if (!parse_settings(args, s, vm)) return 0;
  check_training_settings(s);
  if (vm.count("train-src") || vm.count("train-tgt") || vm.count("valid-src") || vm.count("valid-tgt") ||
      vm.count("resume"))
    return run_train_files(s, vm);
  if (!s.tokenizer.empty() && s.tokenizer != "char")
    throw Error("--tokenizer applies to training on files (--train-src ...); built-in tasks use char");
  ModelConfig config = model_config_of(s);
  config.validate();  // fail before generating data
  set_blas_threads(s.threads);

  const TaskData data = make_task(task_of(s));
  ModelBundle b;
  b.tokenizer = Tokenizer::Char;
  b.src_vocab = Vocab::build(sides(data.train, true));
  b.tgt_vocab = Vocab::build(sides(data.train, false));
  config.src_vocab = b.src_vocab.size();
  config.tgt_vocab = b.tgt_vocab.size();
  fit_to_data(config, data, !vm["max-src-len"].defaulted());
  b.model = std::make_unique<Seq2Seq<float>>(config, s.seed);

  const TrainOptions o = train_options_of(s);
  if (!s.quiet) print_header(s, data, b, o);
  ProgressPrinter printer(s.quiet);
  const TrainResult t = [&] {
    TrainingThreads threads(s);
    return train(*b.model, encode_examples(data.train, b.src_vocab, b.tgt_vocab),
                 encode_examples(data.valid, b.src_vocab, b.tgt_vocab), o, std::ref(printer));
  }();
  printer.finish();
  report_outcome(t);

  SearchOptions search;
  search.keep_attention = !s.quiet;
  const EvalResult r =
      evaluate(*b.model, encode_examples(data.test, b.src_vocab, b.tgt_vocab), 128, true, search);
  print_test_report(r, data, b, s.quiet);

  record_info(b, s, t, r);
  save_model(s.model, b);
  std::cout << "model saved to " << s.model << "\n";
  if (!s.metrics_json.empty()) {
    write_metrics(s.metrics_json, s, o, config, t, r);
    std::cout << "metrics written to " << s.metrics_json << "\n";
  }
  return 0;
}

}  // namespace attend::cli
