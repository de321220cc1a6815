// `attend compare`: train every cell × attention × decoder style × seed on the same data, with a
// live display, resumable under --out, then print and write the comparison reports.
#include <attend/compare.hpp>
#include <attend/error.hpp>
#include <attend/report.hpp>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <sstream>

#include "common.hpp"
#include "compare.hpp"

namespace attend::cli {

namespace {

// Defaults: the same option names and defaults as `attend train` (src/cli/train.cpp), plus the
// grid axes. Kept here so that compare does not depend on train.cpp's internals.
struct CompareSettings {
  // task
  std::string task = "dates";
  std::size_t train_size = 0, valid_size = 0, test_size = 0;
  int min_len = 0, max_len = 0, test_min_len = 0, test_max_len = 0;
  // grid
  std::string cells = "gru";
  std::string attention = "none,bahdanau";
  std::string decoder = "auto";
  std::size_t seeds = 3;
  std::size_t jobs = 1;
  bool force = false;
  std::string out;
  std::size_t heatmaps = 3;
  // model
  std::size_t layers = 1;
  bool bidirectional = false;
  std::size_t emb = 32;
  std::size_t hidden = 128;
  double dropout = 0.0;
  std::size_t window = 5;
  std::size_t heads = 4;
  std::string score = "general";
  std::size_t max_src_len = 64;
  std::string bridge = "copy";
  bool reverse_source = false;
  // optimisation
  std::string optimizer = "adam";
  double lr = 0.003;
  double momentum = 0.0;
  double clip = 5.0;
  double teacher_forcing = 1.0;
  double label_smoothing = 0.0;
  std::size_t batch = 64;
  std::size_t steps = 0;
  std::size_t epochs = 0;
  std::size_t eval_every = 0;
  std::size_t patience = 0;
  double lr_decay = 1.0;
  std::uint64_t seed = 1;
  std::size_t threads = 0;
  bool quiet = false;
  std::string config_file;
};

constexpr std::size_t kDefaultSteps = 1500;  // as `attend train` when neither --steps nor --epochs

po::typed_value<Count>* opt(std::size_t* field) { return count_option(field); }
template <typename T>
po::typed_value<T>* opt(T* field) {
  return po::value<T>(field)->default_value(*field);
}
po::typed_value<double>* opt(double* field) {
  return po::value<double>(field)->default_value(*field, show(*field));
}
po::typed_value<bool>* flag(bool* field) {
  return po::value<bool>(field)->default_value(*field)->implicit_value(true);
}

po::options_description all_options(CompareSettings& s) {
  po::options_description grid("Grid (comma-separated lists)");
  grid.add_options()
      ("cells", opt(&s.cells), "cells to compare: rnn, lstm, gru")
      ("attention", opt(&s.attention),
       "attention strategies: none, bahdanau, luong-dot, luong-general, luong-concat, location, "
       "scaled-dot, local-m, local-p, multihead (or a registered one)")
      ("decoder", opt(&s.decoder), "decoder styles: auto, bahdanau, luong")
      ("seeds", opt(&s.seeds), "seeds per variant: --seed, --seed+1, ...")
      ("out,o", po::value<std::string>(&s.out),
       "directory for the runs (checkpoint, metrics, log each) and the reports (required)")
      ("jobs,j", opt(&s.jobs), "trainings at once (BLAS threads are divided between them)")
      ("force", flag(&s.force), "retrain every run even if --out holds results (of this or another grid)")
      ("heatmaps", opt(&s.heatmaps), "test sentences whose attention the HTML report shows");
  po::options_description task("Task (0 = the task's default)");
  task.add_options()
      ("task", opt(&s.task), "copy | reverse | sort | add | dates (see `attend tasks`)")
      ("train-size", opt(&s.train_size), "training examples")
      ("valid-size", opt(&s.valid_size), "validation examples")
      ("test-size", opt(&s.test_size), "test examples")
      ("min-len", opt(&s.min_len), "shortest train/valid input")
      ("max-len", opt(&s.max_len), "longest train/valid input")
      ("test-min-len", opt(&s.test_min_len), "shortest test input (0 = --min-len)")
      ("test-max-len", opt(&s.test_max_len), "longest test input (0 = --max-len)");
  po::options_description model("Model (shared by every variant)");
  model.add_options()
      ("layers", opt(&s.layers), "recurrent layers in encoder and decoder")
      ("bidirectional", flag(&s.bidirectional), "bidirectional encoder (--hidden split in two)")
      ("emb", opt(&s.emb), "embedding size")
      ("hidden", opt(&s.hidden), "model width")
      ("dropout", opt(&s.dropout), "dropout on embeddings and between layers")
      ("window", opt(&s.window), "half-width D of local-m / local-p attention")
      ("heads", opt(&s.heads), "heads of multihead attention")
      ("score", opt(&s.score), "base score of local attention: dot | general | concat")
      ("max-src-len", opt(&s.max_src_len),
       "longest source of location attention (default: the longest source in the data)")
      ("bridge", opt(&s.bridge), "decoder initial state: none | copy | dense")
      ("reverse-source", flag(&s.reverse_source), "feed the source reversed");
  po::options_description train("Training (shared by every run)");
  train.add_options()
      ("optimizer", opt(&s.optimizer), "adam | sgd")
      ("lr", opt(&s.lr), "learning rate")
      ("momentum", opt(&s.momentum), "SGD momentum")
      ("clip", opt(&s.clip), "global gradient-norm clipping (0 = off)")
      ("teacher-forcing", opt(&s.teacher_forcing), "probability of feeding the reference token")
      ("label-smoothing", opt(&s.label_smoothing), "label smoothing")
      ("batch", opt(&s.batch), "examples per batch")
      ("steps", opt(&s.steps), "updates per run (0 with --epochs 0: 1500)")
      ("epochs", opt(&s.epochs), "epochs when --steps is 0")
      ("eval-every", opt(&s.eval_every), "steps between validations (0 = once per epoch)")
      ("patience", opt(&s.patience), "stop after this many validations without improvement (0 = never)")
      ("lr-decay", opt(&s.lr_decay), "learning-rate factor when validation does not improve")
      ("seed", opt(&s.seed), "first seed (data, initial weights and batch order of a run)")
      ("threads", opt(&s.threads), "BLAS threads in total (0 = all cores), divided by --jobs");
  po::options_description output("Output");
  output.add_options()
      ("config", po::value<std::string>(&s.config_file),
       "read options from this file (`name = value` lines); the command line wins")
      ("quiet,q", flag(&s.quiet), "no live display")
      ("help,h", "show this help");
  po::options_description all;
  all.add(grid).add(task).add(model).add(train).add(output);
  return all;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  auto push = [&] {
    const auto a = cur.find_first_not_of(" \t"), b = cur.find_last_not_of(" \t");
    out.push_back(a == std::string::npos ? "" : cur.substr(a, b - a + 1));
    cur.clear();
  };
  for (char c : s) {
    if (c == ',') push();
    else cur += c;
  }
  push();
  if (out.size() == 1 && out[0].empty()) out.clear();
  return out;
}

CompareOptions options_of(const CompareSettings& s, const po::variables_map& vm) {
  if (s.optimizer != "adam" && s.optimizer != "sgd")
    throw Error("unknown optimizer '" + s.optimizer + "' (valid: adam, sgd)");
  if (!(s.lr > 0)) throw Error("--lr must be positive");
  if (s.batch == 0) throw Error("--batch must be at least 1");
  if (s.teacher_forcing < 0 || s.teacher_forcing > 1) throw Error("--teacher-forcing must be in [0, 1]");
  if (s.label_smoothing < 0 || s.label_smoothing >= 1) throw Error("--label-smoothing must be in [0, 1)");
  CompareOptions o;
  o.cells = split_list(s.cells);
  o.attentions = split_list(s.attention);
  o.decoders = split_list(s.decoder);
  o.seeds = s.seeds;
  o.first_seed = s.seed;
  o.out_dir = s.out;
  o.jobs = s.jobs;
  o.threads = s.threads;
  o.force = s.force;
  o.heatmap_sentences = s.heatmaps;
  ModelConfig& c = o.model;
  c.score = s.score;
  c.bridge = s.bridge;
  c.layers = s.layers;
  c.bidirectional = s.bidirectional;
  c.emb = s.emb;
  c.hidden = s.hidden;
  c.dropout = s.dropout;
  c.window = s.window;
  c.heads = s.heads;
  c.max_src_len = s.max_src_len;
  c.reverse_source = s.reverse_source;
  o.max_src_len_given = !vm["max-src-len"].defaulted();
  TrainOptions& t = o.train;
  t.optimizer.name = s.optimizer;
  t.optimizer.lr = s.lr;
  t.optimizer.momentum = s.momentum;
  t.clip = s.clip;
  t.batch = s.batch;
  t.steps = s.steps;
  t.epochs = s.epochs;
  if (s.steps == 0 && s.epochs == 0) t.steps = kDefaultSteps;
  t.teacher_forcing = s.teacher_forcing;
  t.label_smoothing = s.label_smoothing;
  t.eval_every = s.eval_every;
  t.patience = s.patience;
  t.lr_decay = s.lr_decay;
  return o;
}

TaskOptions task_of(const CompareSettings& s) {
  TaskOptions t;
  t.name = s.task;
  t.train_size = s.train_size;
  t.valid_size = s.valid_size;
  t.test_size = s.test_size;
  t.min_len = s.min_len;
  t.max_len = s.max_len;
  t.test_min_len = s.test_min_len;
  t.test_max_len = s.test_max_len;
  return t;
}

// The live display on stderr: one line per running run plus the grid line, redrawn in place on
// a terminal; elsewhere a status block every 15 s and a line per finished run.
class GridDisplay {
 public:
  explicit GridDisplay(bool quiet) : quiet_(quiet), tty_(stderr_is_tty()) {}

  void operator()(const GridStatus& g) {
    if (quiet_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (tty_) {
      if (!g.event.empty()) {
        clear();
        std::cerr << g.event << "\n";
      }
      if (g.elapsed_s - last_ >= 0.2 || !g.event.empty() || g.finished == g.total_runs) draw(g);
    } else {
      if (!g.event.empty()) std::cerr << "[" << format_duration(g.elapsed_s) << "] " << g.event << "\n";
      if (g.elapsed_s - last_ >= 15 || first_) {
        for (const auto& line : lines(g)) std::cerr << line << "\n";
        last_ = g.elapsed_s;
        first_ = false;
      }
      std::cerr << std::flush;
    }
  }

  void finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    drawn_ = 0;
  }

 private:
  static std::vector<std::string> lines(const GridStatus& g) {
    std::vector<std::string> out;
    for (const auto& r : g.running) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%-26s ", r.name.c_str());
      out.push_back(std::string("  ") + buf + format_progress(r.progress));
    }
    std::string grid = "grid: " + std::to_string(g.finished) + "/" + std::to_string(g.total_runs) +
                       " runs done";
    if (g.skipped) grid += " (" + std::to_string(g.skipped) + " from earlier)";
    if (g.failed) grid += ", " + std::to_string(g.failed) + " failed";
    grid += ", " + std::to_string(g.running.size()) + " running, elapsed " + format_duration(g.elapsed_s) +
            ", ETA " + (g.eta_s >= 0 ? format_duration(g.eta_s) : std::string("estimating"));
    out.push_back(grid);
    return out;
  }

  void clear() {
    if (drawn_ == 0) return;
    std::cerr << "\x1b[" << drawn_ << "A\r\x1b[J";
    drawn_ = 0;
  }

  void draw(const GridStatus& g) {
    clear();
    const auto ls = lines(g);
    for (const auto& l : ls) std::cerr << l << "\x1b[K\n";
    drawn_ = ls.size();
    last_ = g.elapsed_s;
    std::cerr << std::flush;
  }

  bool quiet_, tty_, first_ = true;
  std::size_t drawn_ = 0;
  double last_ = -1;
  std::mutex mutex_;
};

}  // namespace

int run_compare_command(const std::vector<std::string>& args) {
  CompareSettings s;
  po::variables_map vm;
  const auto desc = all_options(s);
  const char* usage =
      "usage: attend compare --out DIR [--cells gru,lstm] [--attention none,bahdanau,...] "
      "[--decoder auto,luong] [--seeds N] [--jobs N] [options]\n\n"
      "Trains every cell x attention x decoder style x seed on the same data (same batches and the\n"
      "same initial values of shared parameters per seed), resumable under --out, and writes\n"
      "REPORT.md, results.csv, results.json and report.html there.";
  if (!parse_command_line(args, desc, usage, vm)) return 0;
  if (vm.count("config")) store_config_file(vm["config"].as<std::string>(), desc, vm);
  po::notify(vm);
  require(vm, "out", "compare");
  const CompareOptions o = options_of(s, vm);
  validate_grid(o);
  const DataSource source = task_source(task_of(s));

  const std::size_t runs = grid_runs(o).size();
  if (!s.quiet)
    std::cerr << "grid: " << o.cells.size() * o.attentions.size() * o.decoders.size() << " variants x "
              << o.seeds << " seeds = " << runs << " runs of " << (o.train.steps ? std::to_string(o.train.steps) + " steps" : std::to_string(o.train.epochs) + " epochs")
              << " on " << source.name << ", " << o.jobs << " at a time; results in " << o.out_dir << "\n";
  GridDisplay display(s.quiet);
  const CompareResult result = attend::run_compare(o, source, std::ref(display));
  display.finish();

  const CompareSummary summary = summarize(result);
  write_markdown(summary, std::cout);
  const auto files = write_reports(summary, result, o.out_dir);
  std::cout << "\nreports written:";
  for (const auto& f : files) std::cout << " " << f;
  std::cout << "\n";
  if (!summary.failures.empty()) {
    std::cout << "\n" << summary.failures.size() << " run" << (summary.failures.size() > 1 ? "s" : "")
              << " failed (re-run the same command to retry them):\n";
    for (const auto& [run, err] : summary.failures) std::cout << "  " << run << ": " << err << "\n";
    return 1;
  }
  return 0;
}

}  // namespace attend::cli
