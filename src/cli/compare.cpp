// `attend compare`: train every cell × attention × decoder style × seed on the same data, with a
// live display, resumable under --out, then print and write the comparison reports.
#include <attend/experiment/compare.hpp>
#include <attend/core/error.hpp>
#include <attend/experiment/report.hpp>
#include <attend/nn/encoder.hpp>
#include <attend/train/distributed.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "common.hpp"
#include "compare.hpp"

namespace attend::cli {

namespace {

// What the options of `attend compare` bind to: the library's CompareOptions (the grid, the model
// and training shared by every run, the corpus evaluation), the task and the text pipeline. The
// grid axes (grid_axes()) are comma-separated lists by model field key, split after parsing.
struct CompareArgs {
  CompareOptions grid;
  std::map<std::string, std::string> axis_lists;
  TaskOptions task;
  TextPipelineOptions text;
  bool quiet = false;
  std::string config_file;
  std::string budget, lr_grid;
  std::vector<std::string> rules;  // --for, in order
  std::vector<std::string> only;   // --only selectors
  std::size_t max_steps = 20000, estimate_steps = 20;
  CompareArgs() {
    grid.model = cli_model_config();
    grid.train = cli_train_options();
    for (const GridAxis& axis : grid_axes())
      if (const auto* values = axis_values(grid, axis)) axis_lists[axis.field] = join(*values);
  }
  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  }
};

// The axis option's help: its own words, then the field's valid values.
std::string field_help(const GridAxis& axis) {
  for (const ModelField& f : model_fields())
    if (f.key == std::string(axis.field) && f.choices) return std::string(axis.help) + ": " + f.choices();
  return axis.help;
}

po::options_description all_options(CompareArgs& a) {
  CompareOptions& g = a.grid;
  po::options_description grid("Grid (comma-separated lists)");
  std::vector<std::string> axis_fields;  // the model options the grid's lists replace
  for (const GridAxis& axis : grid_axes()) {
    std::string* list = &a.axis_lists[axis.field];
    const auto* values = axis_values(g, axis);
    const std::string help = field_help(axis);
    if (values) {
      grid.add_options()(axis.option, opt(list), help.c_str());
    } else {  // a width: one value is the shared model's option, whose default it shows
      std::string dflt;
      for (const ModelField& f : model_fields())
        if (f.key == std::string(axis.field)) dflt = f.get(g.model);
      grid.add_options()(axis.option, po::value<std::string>(list)->default_value(dflt), help.c_str());
    }
    axis_fields.push_back(axis.field);
  }
  grid.add_options()
      ("seeds", opt(&g.seeds), "seeds per variant: --seed, --seed+1, ...")
      ("out,o", po::value<std::string>(&g.out_dir),
       "directory for the runs (checkpoint, metrics, log each) and the reports (required)")
      ("jobs,j", opt(&g.jobs), "trainings at once (BLAS threads are divided between them)")
      ("force", flag(&g.force), "retrain every run even if --out holds results (of this or another grid)")
      ("heatmaps", opt(&g.heatmap_sentences), "test sentences whose attention the HTML report shows")
      ("budget", po::value<std::string>(&a.budget),
       "how long each run trains: steps:N (N updates; the default, steps:--steps) or converge (until the "
       "validation metric has not improved for --patience validations, every --eval-every steps, at most "
       "--max-steps; defaults there: patience 5, eval every 100)")
      ("max-steps", opt(&a.max_steps), "--budget converge: the most updates a run may take")
      ("lr-grid", po::value<std::string>(&a.lr_grid),
       "learning rates, e.g. 0.001,0.003,0.01: every variant at each on the first seed, the other seeds at "
       "the variant's best by validation (replaces --lr)")
      ("for", po::value<std::vector<std::string>>(&a.rules)->composing(), train_rule_help().c_str())
      ("only", po::value<std::vector<std::string>>(&a.only)->composing(),
       "keep only the variants of the axes' product that match one of these selectors (repeatable), e.g. "
       "'cell=gru attention=bahdanau decoder=auto encoder=rnn'")
      ("diagnostics-every", opt(&g.diagnostics_every),
       "steps between training diagnostics (saturation, attention entropy, gradient norms); 0 = at every validation")
      ("estimate-steps", opt(&a.estimate_steps),
       "steps per variant timed before the grid starts, for the time estimate (0 = no estimate)");
  po::options_description files(
      "Parallel text files (instead of --task; plain or .gz UTF-8, one sentence per line; the text side "
      "is built once for the whole grid)");
  add_text_pipeline_options(files, a.text, "test sources (required with files: BLEU is measured on them)");
  add_file_run_options(files, &g.bleu_every, &g.time_limit, &g.beam, &g.length_penalty);
  files.add_options()
      ("lc", flag(&g.bleu_lowercase), "lower-cased BLEU (sacreBLEU -lc), for validation and test");
  po::options_description model("Model (shared by every variant)");
  add_model_options(model, g.model, axis_fields);
  po::options_description train("Training (shared by every run)");
  add_optimization_options(train, g.train);
  train.add_options()
      ("seed", opt(&g.first_seed), "first seed (data, initial weights and batch order of a run)")
      ("threads", opt(&g.threads), "BLAS threads in total (0 = all cores; under mpirun, the cores divided by the "
                                   "ranks on the machine), divided by --jobs");
  po::options_description output("Output");
  output.add_options()
      ("config", po::value<std::string>(&a.config_file),
       "read options from this file (`name = value` lines); the command line wins")
      ("quiet,q", flag(&a.quiet), "no live display")
      ("help,h", "show this help");
  po::options_description all;
  all.add(grid).add(task_options(a.task)).add(files).add(model).add(train).add(output);
  return all;
}

bool on_files(const po::variables_map& vm) {
  for (const char* name : {"train-src", "train-tgt", "valid-src", "valid-tgt", "test-src", "test-tgt"})
    if (vm.count(name)) return true;
  return false;
}

// The data of the grid: parallel files (read, tokenised and turned into vocabularies here, once)
// or a built-in task. Bad files throw Error naming file and line (exit status 2).
DataSource data_source(const CompareArgs& a, const po::variables_map& vm) {
  if (!on_files(vm)) {
    std::vector<std::string> given = corpus_options_given(vm);
    if (vm.count("lc") && !vm["lc"].defaulted()) given.push_back("--lc");
    given.erase(std::remove(given.begin(), given.end(), std::string("--tokenizer")), given.end());
    if (vm.count("tokenizer") && a.text.tokenizer != "char")
      throw Error("--tokenizer applies to a grid on files (--train-src ...); built-in tasks use char");
    if (!given.empty())
      throw Error(given[0] + " applies to a grid on parallel files (--train-src ...), not to a built-in task");
    return task_source(a.task);
  }
  if (!vm["task"].defaulted()) throw Error("give either --task or --train-src/--train-tgt files, not both");
  if (!a.quiet) std::cerr << "reading the corpus and building the vocabularies (once for the whole grid)\n";
  DataSource source = corpus_source(a.text);
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

// --budget, --max-steps and --lr-grid onto the grid's options. `--steps N` alone stays the fixed
// budget it always was.
void apply_budget(CompareArgs& a, const po::variables_map& vm) {
  CompareOptions& g = a.grid;
  const bool steps_given = vm.count("steps") && !vm["steps"].defaulted();
  const std::string b = a.budget;
  if (b.empty() || b.rfind("steps:", 0) == 0) {
    if (vm.count("max-steps") && !vm["max-steps"].defaulted())
      throw Error("--max-steps applies to --budget converge; a fixed budget is --budget steps:N");
    if (!b.empty()) {
      const std::string n = b.substr(6);
      std::size_t steps = 0;
      try {
        std::size_t used = 0;
        steps = std::stoul(n, &used);
        if (used != n.size() || n.empty() || n[0] == '-') throw std::invalid_argument(n);
      } catch (const std::exception&) {
        throw Error("--budget steps:N needs a whole number of steps (got '" + b + "')");
      }
      if (steps == 0) throw Error("--budget steps:N needs N >= 1");
      if (steps_given && g.train.steps != steps)
        throw Error("--steps " + std::to_string(g.train.steps) + " contradicts --budget " + b + "; give one of them");
      g.train.steps = steps;
    }
    g.budget = Budget::Steps;
  } else if (b == "converge") {
    if (steps_given)
      throw Error("--steps is the fixed budget; with --budget converge the most steps a run may take is --max-steps");
    if (a.max_steps == 0) throw Error("--max-steps must be at least 1");
    g.budget = Budget::Converge;
    g.train.steps = a.max_steps;
    if (vm["patience"].defaulted()) g.train.patience = 5;
    if (vm["eval-every"].defaulted()) g.train.eval_every = 100;
  } else {
    throw Error("unknown --budget '" + b + "' (valid: converge, steps:N)");
  }
  if (!a.lr_grid.empty()) {
    if (!vm["lr"].defaulted()) throw Error("give either --lr or --lr-grid, not both");
    g.lr_grid = parse_number_list("--lr-grid", a.lr_grid);
  }
}

void print_estimate(const GridEstimate& e) {
  std::cerr << "estimate: " << e.runs_to_train << " of " << e.runs << " runs to train, about "
            << format_duration(e.seconds) << (e.upper_bound ? " at most (every run to --max-steps)" : "")
            << "; from " << e.calibration_steps << " timed steps per variant (" << format_duration(e.calibration_seconds)
            << "):";
  for (const auto& v : e.variants) {
    char buf[120];
    std::snprintf(buf, sizeof buf, " %s %.2f ms/step, %.1f ms/validation;", v.name.c_str(), 1000 * v.step_seconds,
                  1000 * v.validation_seconds);
    std::cerr << buf;
  }
  std::cerr << " not included: the test decoding and (on files) the BLEU validations\n";
}

// The grid once the options are parsed: on this process, or on each rank of an mpirun job (rank 0
// displays, reports and writes; the others are quiet).
int compare_here(const CompareArgs& a, const po::variables_map& vm) {
  const CompareOptions& o = a.grid;
  const DataSource source = data_source(a, vm);
  const bool reports = !o.ranks || o.ranks->root();

  const std::size_t runs = planned_runs(o);
  const std::size_t variants = grid_variants(o).size();
  if (!a.quiet) {
    std::cerr << "grid: " << variants << " variants x ";
    if (!o.rules.empty())
      std::cerr << o.seeds << " seeds, rates per variant as --for sets them = " << runs << " runs";
    else if (o.lr_grid.empty())
      std::cerr << o.seeds << " seeds = " << runs << " runs";
    else
      std::cerr << o.lr_grid.size() << " rates on seed " << o.first_seed << " + " << variants << " variants x "
                << (o.seeds - 1) << " more seeds at the chosen rate = " << runs << " runs";
    std::cerr << ", budget " << budget_text(o) << ", on " << source.name << ", " << o.jobs << " at a time";
    if (o.ranks) std::cerr << " on each of " << o.ranks->size() << " ranks";
    std::cerr << "; results in " << o.out_dir << "\n";
  }
  if (!a.quiet)
    for (const TrainRule& rule : o.rules) {
      std::string names;
      for (const Variant& v : grid_variants(o))
        if (rule_matches(o, rule, v)) names += (names.empty() ? "" : ", ") + v.name();
      std::cerr << "--for '" << rule.text << "' applies to " << names << "\n";
    }
  if (!a.quiet && !source.description.empty()) std::cerr << "data: " << source.description << "\n";
  if (!a.quiet && reports)
    for (const auto& change : grid_axis_changes(o, source))
      if (change.rfind("grid.for:", 0) == 0)
        std::cerr << "grid: the --for rules differ from the last run in " << o.out_dir << " (" << change.substr(10)
                  << "); the variants whose training settings changed retrain, the others keep their runs\n";
      else
        std::cerr << "grid: " << change << " since " << o.out_dir
                  << " was last run; the runs both grids have are reused\n";
  if (!a.quiet && a.estimate_steps > 0) print_estimate(estimate_grid(o, source, a.estimate_steps));
  GridDisplay display(a.quiet);
  GridProgressFn progress;
  if (reports) progress = std::ref(display);
  const CompareResult result = attend::run_compare(o, source, progress);
  display.finish();

  const CompareSummary summary = summarize(result);
  if (!reports) return summary.failures.empty() ? 0 : 1;
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

}  // namespace

int run_compare_command(const std::vector<std::string>& args) {
  CompareArgs a;
  po::variables_map vm;
  const auto desc = all_options(a);
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
  apply_budget(a, vm);
  finish_train_options(a.grid.train);
  for (const auto& rule : a.rules) a.grid.rules.push_back(parse_train_rule(rule));
  for (const auto& sel : a.only) a.grid.only.push_back(parse_variant_selector(sel));
  for (const GridAxis& axis : grid_axes()) {
    if (!vm.count(axis.option) || vm[axis.option].defaulted()) continue;
    std::vector<std::string> values = split_list(a.axis_lists[axis.field]);
    // An axis kept outside CompareOptions' members (a width) with one value is the shared
    // model's option, as it was before it became an axis: the grid's names and signature stay.
    if (!axis.values && values.size() == 1) apply_axis(axis, a.grid.model, values[0]);
    else set_axis_values(a.grid, axis, std::move(values));
  }
  a.grid.max_src_len_given = !vm["max-src-len"].defaulted();
  a.text.subword.seed = a.grid.first_seed;
  validate_grid(a.grid);
  const std::unique_ptr<Communicator> world = join_launched_world();
  if (world->size() == 1) return compare_here(a, vm);
  a.grid.ranks = world.get();
  // --threads 0 means this machine's cores, shared by the ranks on it.
  if (a.grid.threads == 0)
    a.grid.threads = std::max<std::size_t>(1, std::max(1u, std::thread::hardware_concurrency()) / launched_local_size());
  if (!world->root()) a.quiet = true;
  SilentUnless silent(world->root());
  try {
    return compare_here(a, vm);
  } catch (const GridRefused& e) {
    // Every rank has the verdict: rank 0 says why and all end with status 2, only once it has
    // said it (mpirun ends the other ranks as soon as one exits with an error status).
    if (world->root()) std::cerr << "attend: error: " << e.what() << std::endl;
    std::string done;
    world->broadcast(done);
    return 2;
  } catch (const std::exception& e) {
    abort_all_ranks(*world, silent, e);
  }
}

}  // namespace attend::cli
