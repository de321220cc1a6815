// `attend train`: generate a toy task, build the vocabularies and the model, train with a live
// progress line, report held-out metrics with example attention maps, save the model. On parallel
// text files it is one call of the library's train_on_files (experiment/run.hpp). Under mpirun
// every rank runs it with the same options and rank 0 alone reports and writes (distributed.hpp).
#include <attend/core/blas_threads.hpp>
#include <attend/core/error.hpp>
#include <attend/eval/metrics_json.hpp>
#include <attend/text/tasks.hpp>
#include <attend/train/distributed.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.hpp"

namespace attend::cli {

namespace {

// What the options of `attend train` bind to: the library's own structs. The file run's
// training options, threads and model path serve a task as well.
struct TrainArgs {
  TaskOptions task;
  ModelConfig model = cli_model_config();
  FileRunOptions run;
  std::string metrics_json, config_file;
  bool quiet = false;
  TrainArgs() { run.train = cli_train_options(); }
  // Rank 0 of an mpirun job, or a process alone: the one that prints, saves and writes metrics.
  bool writes() const { return !run.train.ranks || run.train.ranks->root(); }
};

po::options_description file_options(TrainArgs& a) {
  po::options_description d("Parallel text files (instead of --task; plain or .gz UTF-8, one sentence per line)");
  add_text_pipeline_options(d, a.run.text, "test sources (optional; BLEU at the end)");
  add_file_run_options(d, &a.run.bleu_every, &a.run.train.max_seconds, &a.run.test_search.beam,
                       &a.run.test_search.length_penalty);
  add_resume_options(d, a.run);
  return d;
}

po::options_description model_options(TrainArgs& a) {
  po::options_description d("Model");
  add_model_options(d, a.model);
  return d;
}

po::options_description training_options(TrainArgs& a) {
  po::options_description d("Training");
  add_optimization_options(d, a.run.train);
  add_run_control_options(d, a.run);
  return d;
}

po::options_description output_options(TrainArgs& a) {
  po::options_description d("Output");
  add_run_output_options(d, a.run, a.metrics_json);
  d.add_options()
      ("config", po::value<std::string>(&a.config_file),
       "read options from this file (`name = value` lines); the command line wins")
      ("quiet,q", flag(&a.quiet), "no progress line and no examples")
      ("help,h", "show this help");
  return d;
}

// Fills a from the command line and the optional --config file; false for --help.
bool parse_args(const std::vector<std::string>& args, TrainArgs& a, po::variables_map& vm) {
  po::options_description all;
  all.add(task_options(a.task)).add(file_options(a)).add(model_options(a)).add(training_options(a))
      .add(output_options(a));
  const char* usage =
      "usage: attend train [options]\n"
      "       attend train --train-src F --train-tgt F --valid-src F --valid-tgt F [options]\n\n"
      "Trains a model on a built-in toy task (default: dates -> ISO 8601) or on parallel text files\n"
      "and saves it.";
  if (!parse_command_line(args, all, usage, vm)) return false;
  if (vm.count("config")) store_config_file(vm["config"].as<std::string>(), all, vm);
  po::notify(vm);
  apply_decoder_defaults(a.model, vm);
  finish_train_options(a.run.train);
  a.task.seed = a.run.text.subword.seed = a.run.train.seed;
  return true;
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

std::string fixed(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

std::string percent(double x) { return fixed(100 * x, 2) + "%"; }

std::string budget(const TrainOptions& o) {
  return (o.steps ? std::to_string(o.steps) + " steps" : std::to_string(o.epochs) + " epochs") +
         " of batch " + std::to_string(o.batch);
}

std::string model_line(const ModelBundle& b) {
  const ModelConfig& c = b.model->config();
  const std::string encoder =
      c.encoder == "rnn" ? ""
                         : c.encoder + " encoder (" + std::to_string(c.self_layers) + " self-attention layer" +
                               (c.self_layers == 1 ? "" : "s") + ") + ";
  std::string decoder;
  if (c.style() == DecoderStyle::Transformer) {
    const std::size_t L = c.transformer_decoder_layers();
    decoder = (c.encoder == "transformer" ? "" : c.cell + " + ") + "transformer decoder (" + std::to_string(L) +
              " layer" + (L == 1 ? "" : "s") + ", " + c.attention + " cross-attention)";
  } else {
    decoder = c.cell + " + " + c.attention + " attention (" + c.decoder_style() + " decoder)";
  }
  return "model: " + encoder + decoder + ", hidden " + std::to_string(c.hidden) + ", " +
         format_thousands(double(b.model->params().size())) + " parameters; ";
}

// TrainResult::diagnostics as {"step": [...], "saturation": {group: [...]}, ...}: one array per
// series, aligned with "step" (a group missing at a step, which cannot happen within one run, would be null).
nlohmann::json diagnostics_json(const std::vector<DiagnosticsPoint>& points) {
  nlohmann::json j = {{"step", nlohmann::json::array()}, {"attention_entropy", nlohmann::json::array()},
                      {"uniform_entropy", nlohmann::json::array()}, {"saturation", nlohmann::json::object()},
                      {"grad_norm", nlohmann::json::object()}};
  for (std::size_t i = 0; i < points.size(); ++i) {
    const DiagnosticsPoint& p = points[i];
    j["step"].push_back(p.step);
    j["attention_entropy"].push_back(p.attention_entropy < 0 ? nlohmann::json() : nlohmann::json(p.attention_entropy));
    j["uniform_entropy"].push_back(p.uniform_entropy < 0 ? nlohmann::json() : nlohmann::json(p.uniform_entropy));
    for (const auto& [group, share] : p.saturation) j["saturation"][group][i] = share;
    for (const auto& [group, norm] : p.grad_norm) j["grad_norm"][group][i] = norm;
  }
  return j;
}

// What the experiment layer's JSON does not carry: the schedule and the diagnostics.
void add_training_extras(nlohmann::json& j, const TrainOptions& o, const TrainResult& t) {
  j["train"]["warmup"] = o.lr_schedule.warmup;
  j["train"]["lr_schedule"] = to_string(o.lr_schedule.schedule);
  j["train"]["diagnostics_every"] = o.diagnostics_every;
  if (!t.diagnostics.empty()) j["diagnostics"] = diagnostics_json(t.diagnostics);
}

void write_metrics(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
  std::cout << "metrics written to " << path << "\n";
}

void report_outcome(const TrainResult& t) {
  if (t.stopped_early)
    std::cerr << "stopped early after " << t.steps << " steps (best validation at step "
              << t.best_step << ")\n";
}

// ---- a built-in task ----------------------------------------------------------------------------

std::vector<std::vector<std::string>> sides(const std::vector<Example>& examples, bool source) {
  std::vector<std::vector<std::string>> out;
  for (const auto& e : examples) out.push_back(source ? e.src : e.tgt);
  return out;
}

std::size_t longest_source(const TaskData& data) {
  std::size_t n = 0;
  for (const auto* split : {&data.train, &data.valid, &data.test})
    for (const auto& e : *split) n = std::max(n, e.src.size());
  return n;
}

void print_example(const Example& e, const Hypothesis& h, const ModelBundle& b) {
  const auto out = b.tgt_vocab.decode(h.tokens);
  const bool ok = h.finished && out == e.tgt;
  std::cout << "\n" << detokenize(e.src, b.tokenizer) << "  \u2192  " << detokenize(out, b.tokenizer)
            << (ok ? "  (correct)" : "  (expected " + detokenize(e.tgt, b.tokenizer) + ")") << "\n"
            << attention_map(e.src, out, h.attention);
}

void print_test_report(const EvalResult& r, const TaskData& data, const ModelBundle& b, bool quiet) {
  std::cout << "test (" << r.examples << " examples): exact match " << percent(r.exact_match)
            << "  token accuracy " << percent(r.token_accuracy) << "  perplexity " << fixed(r.perplexity, 4)
            << "\n";
  if (quiet) return;
  for (std::size_t i = 0; i < 3 && i < data.test.size(); ++i) print_example(data.test[i], r.hypotheses[i], b);
  std::cout << "\n";
}

int train_on_task(TrainArgs& a, const po::variables_map& vm) {
  if (vm.count("tokenizer") && a.run.text.tokenizer != "char")
    throw Error("--tokenizer applies to training on files (--train-src ...); built-in tasks use char");
  for (const char* name : {"average-last", "average-best"})
    if (!vm[name].defaulted())
      throw Error(std::string("--") + name + " applies to training on files (--train-src ...); average task models with `attend average`");
  ModelConfig config = a.model;
  config.validate();  // fail before generating data
  set_blas_threads(a.run.threads);

  const TaskData data = make_task(a.task);
  ModelBundle b;
  b.tokenizer = Tokenizer::Char;
  b.src_vocab = Vocab::build(sides(data.train, true));
  b.tgt_vocab = Vocab::build(sides(data.train, false));
  config.fit_to_vocabularies(b.src_vocab.size(), b.tgt_vocab.size(), false);  // a task has two vocabularies
  config.fit_to_data(longest_source(data), !vm["max-src-len"].defaulted());
  b.model = std::make_unique<Seq2Seq<float>>(config, a.run.train.seed);

  TrainOptions o = a.run.train;
  o.threads = training_shards(a.run.threads);
  if (!a.quiet)
    std::cerr << "task " << a.task.name << ": " << data.train.size() << " train, " << data.valid.size()
              << " valid, " << data.test.size() << " test examples; vocabularies " << b.src_vocab.size()
              << " -> " << b.tgt_vocab.size() << "\n"
              << model_line(b) << budget(o) << "\n";
  ProgressPrinter printer(a.quiet);
  const TrainResult t = [&] {
    TrainingThreads threads(a.run.threads);
    return train(*b.model, encode_examples(data.train, b.src_vocab, b.tgt_vocab),
                 encode_examples(data.valid, b.src_vocab, b.tgt_vocab), o, std::ref(printer));
  }();
  printer.finish();
  report_outcome(t);
  // Every rank holds the same parameters now: rank 0 alone decodes the test set and saves.
  if (!a.writes()) return 0;

  SearchOptions search;
  search.keep_attention = !a.quiet;
  const EvalResult r = evaluate(*b.model, encode_examples(data.test, b.src_vocab, b.tgt_vocab), 128, true, search);
  print_test_report(r, data, b, a.quiet);

  const TaskOptions& task = a.task;
  b.info = {{"task", task.name},
            {"seed", std::to_string(task.seed)},
            {"steps", std::to_string(t.steps)},
            {"seconds", std::to_string(t.seconds)},
            {"test-exact-match", std::to_string(r.exact_match)}};
  for (const TaskField& f : task_fields()) b.info[f.option] = f.get(task);
  save_model(a.run.model_path, b);
  std::cout << "model saved to " << a.run.model_path << "\n";
  if (!a.metrics_json.empty()) {
    nlohmann::json j = {{"config", config_json(config)},
                   {"train", train_options_json(task, o, a.run.threads)},
                   {"steps", t.steps},
                   {"seconds", t.seconds},
                   {"tokens_per_s", t.seconds > 0 ? t.tokens / t.seconds : 0.0},
                   {"test", evaluation_json(r)},
                   {"loss_curve", curve_json(t.train_loss)},
                   {"valid_curve", curve_json(t.valid_loss)},
                   {"diverged", false},  // a diverging run ends in TrainingDiverged, before any metrics
                   {"stopped_early", t.stopped_early},
                   {"best_step", t.best_step}};
    add_training_extras(j, o, t);
    write_metrics(a.metrics_json, j);
  }
  return 0;
}

// ---- parallel text files ------------------------------------------------------------------------

void check_file_args(const TrainArgs& a, const po::variables_map& vm) {
  for (const char* name : {"train-src", "train-tgt", "valid-src", "valid-tgt"})
    if (!vm.count(name)) throw Error(std::string("--") + name + " is required when training on files");
  if (!vm["task"].defaulted()) throw Error("give either --task or --train-src/--train-tgt files, not both");
  a.run.test_search.validate();
}

int train_on_files(TrainArgs& a, const po::variables_map& vm) {
  FileRunOptions& run = a.run;
  if (!run.resume.empty() && vm["model"].defaulted()) run.model_path = run.resume;
  const bool any = vm.count("train-src") || vm.count("train-tgt") || vm.count("valid-src") || vm.count("valid-tgt");
  if (any) check_file_args(a, vm);

  ProgressPrinter printer(a.quiet);
  const bool lowercase = run.text.text.lowercase;
  FileRunHooks hooks;
  hooks.warn = [](const std::string& w) { std::cerr << "attend: warning: " << w << "\n"; };
  hooks.ready = [&](const PreparedCorpus& d, const ModelBundle& b, const TrainOptions& o) {
    if (a.quiet) return;
    std::cerr << "data: " << d.tokens.train.size() << " training pairs";
    if (d.filtered) std::cerr << " (" << d.filtered << " longer than the length filter dropped)";
    std::cerr << ", " << d.tokens.valid.size() << " valid, " << d.tokens.test.size() << " test; tokenizer "
              << tokenizer_name(b.tokenizer) << "; vocabularies " << b.src_vocab.size() << " -> "
              << b.tgt_vocab.size() << (run.text.shared_vocab ? " (shared)" : "") << "\n"
              << model_line(b) << budget(o);
    if (o.max_seconds > 0) std::cerr << ", at most " << format_duration(o.max_seconds);
    if (o.resume) std::cerr << "; resuming " << run.resume << " at step " << o.resume->step;
    std::cerr << "\n";
  };
  hooks.progress = std::ref(printer);
  hooks.validated = [&](std::size_t step, double valid_loss, double bleu, bool saved) {
    printer.finish();
    if (a.quiet) return;
    std::cerr << "validation at step " << step << ": perplexity " << fixed(std::exp(valid_loss), 3) << "  BLEU "
              << fixed(bleu, 2) << " (greedy" << (lowercase ? ", lower-cased text" : "") << ")\n";
    if (saved) std::cerr << "  new best: saved " << run.model_path << "\n";
  };
  const FileRunResult r = attend::train_on_files(run, a.model, !vm["max-src-len"].defaulted(), hooks);
  if (!a.writes()) return 0;
  printer.finish();
  report_outcome(r.train);
  if (r.train.time_limit_reached && !a.quiet)
    std::cerr << "time limit reached after " << r.train.steps << " steps (" << format_duration(r.train.seconds)
              << ")\n";

  std::cout << "valid (" << r.valid.examples << " pairs): perplexity " << fixed(r.valid.perplexity, 3);
  if (r.best_valid_bleu) std::cout << "  best greedy BLEU " << fixed(*r.best_valid_bleu, 2);
  std::cout << "\n";
  if (r.test_pairs) {
    std::cout << "test (" << r.test_pairs << " pairs, beam " << run.test_search.beam
              << (lowercase ? ", lower-cased text" : "") << "): " << r.test_bleu.format() << "  perplexity "
              << fixed(r.test_perplexity, 3) << "\n";
    if (!a.quiet)
      for (std::size_t i = 0; i < 3 && i < r.test_hypotheses.size(); ++i)
        std::cout << "\n  " << r.data.test.src[i] << "\n  \u2192 " << r.test_hypotheses[i]
                  << "\n    (reference: " << r.data.test.tgt[i] << ")\n";
  }
  std::cout << "model saved to " << run.model_path << "\n";
  for (const AveragedCheckpoint& avg : r.averages) {
    std::cout << "average of the " << avg.kind << " " << avg.steps.size() << " validation"
              << (avg.steps.size() == 1 ? "" : "s") << " (steps";
    for (std::size_t i = 0; i < avg.steps.size(); ++i) std::cout << (i ? ", " : " ") << avg.steps[i];
    std::cout << "): greedy valid BLEU " << fixed(avg.valid_bleu, 2) << ", saved to " << avg.path << "\n";
  }
  if (!a.metrics_json.empty()) {
    nlohmann::json j = file_run_json(run, a.task, r);
    add_training_extras(j, run.train, r.train);
    write_metrics(a.metrics_json, j);
  }
  return 0;
}

int train_here(TrainArgs& a, const po::variables_map& vm) {
  if (vm.count("train-src") || vm.count("train-tgt") || vm.count("valid-src") || vm.count("valid-tgt") ||
      vm.count("resume"))
    return train_on_files(a, vm);
  return train_on_task(a, vm);
}

}  // namespace

int run_train(const std::vector<std::string>& args) {
  TrainArgs a;
  po::variables_map vm;
  if (!parse_args(args, a, vm)) return 0;
  const std::unique_ptr<Communicator> world = join_launched_world();
  if (world->size() == 1) return train_here(a, vm);
  a.run.train.ranks = world.get();
  if (!world->root()) a.quiet = true;
  SilentUnless silent(world->root());
  try {
    return train_here(a, vm);
  } catch (const std::exception& e) {
    abort_all_ranks(*world, silent, e);
  }
}

}  // namespace attend::cli
