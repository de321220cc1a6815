// `attend compare`: train every cell × attention × decoder style × seed on the same data, with a
// live display, resumable under --out, then print and write the comparison reports.
#include <attend/experiment/compare.hpp>
#include <attend/core/error.hpp>
#include <attend/experiment/report.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <sstream>

#include "common.hpp"
#include "compare.hpp"

namespace attend::cli {

namespace {

// The grid axes and compare's own options; the task, model, training and file options are the
// ones `attend train` has (common.hpp), with the same names and defaults.
struct CompareSettings : TaskSettings, ArchitectureSettings, OptimizationSettings, CorpusSettings {
  // grid
  std::string cells = "gru";
  std::string attention = "none,bahdanau";
  std::string decoder = "auto";
  std::size_t seeds = 3;
  std::size_t jobs = 1;
  bool force = false;
  std::string out;
  std::size_t heatmaps = 3;
  // training
  std::uint64_t seed = 1;
  std::size_t threads = 0;
  // evaluation on files
  bool lowercase_bleu = false;
  // output
  bool quiet = false;
  std::string config_file;
};

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
  po::options_description files(
      "Parallel text files (instead of --task; plain or .gz UTF-8, one sentence per line; the text side "
      "is built once for the whole grid)");
  add_corpus_options(files, s, "test sources (required with files: BLEU is measured on them)");
  files.add_options()
      ("lc", flag(&s.lowercase_bleu), "lower-cased BLEU (sacreBLEU -lc), for validation and test");
  po::options_description model("Model (shared by every variant)");
  add_architecture_options(model, s);
  po::options_description train("Training (shared by every run)");
  add_optimization_options(train, s);
  train.add_options()
      ("seed", opt(&s.seed), "first seed (data, initial weights and batch order of a run)")
      ("threads", opt(&s.threads), "BLAS threads in total (0 = all cores), divided by --jobs");
  po::options_description output("Output");
  output.add_options()
      ("config", po::value<std::string>(&s.config_file),
       "read options from this file (`name = value` lines); the command line wins")
      ("quiet,q", flag(&s.quiet), "no live display")
      ("help,h", "show this help");
  po::options_description all;
  all.add(grid).add(task_options(s)).add(files).add(model).add(train).add(output);
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
  check_optimization(s);
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
  apply_architecture(s, o.model);
  o.max_src_len_given = !vm["max-src-len"].defaulted();
  o.train = to_train_options(s);
  o.bleu_lowercase = s.lowercase_bleu;
  o.beam = s.beam;
  o.length_penalty = s.length_penalty;
  o.bleu_every = s.bleu_every;
  o.time_limit = s.time_limit;
  return o;
}

bool on_files(const po::variables_map& vm) {
  for (const char* name : {"train-src", "train-tgt", "valid-src", "valid-tgt", "test-src", "test-tgt"})
    if (vm.count(name)) return true;
  return false;
}

// The data of the grid: parallel files (read, tokenised and turned into vocabularies here, once)
// or a built-in task. Bad files throw Error naming file and line (exit status 2).
DataSource data_source(const CompareSettings& s, const po::variables_map& vm) {
  if (!on_files(vm)) {
    std::vector<std::string> given = corpus_options_given(vm);
    if (vm.count("lc") && !vm["lc"].defaulted()) given.push_back("--lc");
    given.erase(std::remove(given.begin(), given.end(), std::string("--tokenizer")), given.end());
    if (!s.tokenizer.empty() && s.tokenizer != "char")
      throw Error("--tokenizer applies to a grid on files (--train-src ...); built-in tasks use char");
    if (!given.empty())
      throw Error(given[0] + " applies to a grid on parallel files (--train-src ...), not to a built-in task");
    return task_source(task_options_of(s));
  }
  if (!vm["task"].defaulted()) throw Error("give either --task or --train-src/--train-tgt files, not both");
  if (s.beam == 0) throw Error("--beam must be at least 1");
  CorpusSourceOptions c;
  c.train_src = s.train_src;
  c.train_tgt = s.train_tgt;
  c.valid_src = s.valid_src;
  c.valid_tgt = s.valid_tgt;
  c.test_src = s.test_src;
  c.test_tgt = s.test_tgt;
  c.tokenizer = s.tokenizer.empty() ? "space" : s.tokenizer;
  c.spm_vocab = s.spm_vocab;
  c.spm_type = s.spm_type;
  c.shared_vocab = s.shared_vocab;
  c.min_freq = s.min_freq;
  c.max_vocab = s.max_vocab;
  c.max_src_tokens = s.max_src_tokens;
  c.max_tgt_tokens = s.max_tgt_tokens;
  c.max_line_tokens = s.max_line_tokens;
  c.lowercase = s.lowercase;
  c.normalize = s.normalize;
  c.skip_bad_lines = s.skip_bad_lines;
  c.seed = s.seed;
  if (!s.quiet) std::cerr << "reading the corpus and building the vocabularies (once for the whole grid)\n";
  DataSource source = corpus_source(c);
  for (const auto& w : source.warnings) std::cerr << "attend: warning: " << w << "\n";
  return source;
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
      "[--decoder auto,luong] [--seeds N] [--jobs N] [options]\n"
      "       attend compare --out DIR --train-src F --train-tgt F --valid-src F --valid-tgt F "
      "--test-src F --test-tgt F [options]\n\n"
      "Trains every cell x attention x decoder style x seed on the same data (same batches and the\n"
      "same initial values of shared parameters per seed), resumable under --out, and writes\n"
      "REPORT.md, results.csv, results.json and report.html there. On a built-in task the metric is\n"
      "exact match; on parallel files it is corpus BLEU on the test files.";
  if (!parse_command_line(args, desc, usage, vm)) return 0;
  if (vm.count("config")) store_config_file(vm["config"].as<std::string>(), desc, vm);
  po::notify(vm);
  require(vm, "out", "compare");
  const CompareOptions o = options_of(s, vm);
  validate_grid(o);
  const DataSource source = data_source(s, vm);

  const std::size_t runs = grid_runs(o).size();
  if (!s.quiet)
    std::cerr << "grid: " << o.cells.size() * o.attentions.size() * o.decoders.size() << " variants x "
              << o.seeds << " seeds = " << runs << " runs of " << (o.train.steps ? std::to_string(o.train.steps) + " steps" : std::to_string(o.train.epochs) + " epochs")
              << " on " << source.name << ", " << o.jobs << " at a time; results in " << o.out_dir << "\n";
  if (!s.quiet && !source.description.empty()) std::cerr << "data: " << source.description << "\n";
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
