#include "common.hpp"
#include "attend/nn/attention_fn.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <cctype>
#include <iostream>
#include <sstream>
#include <type_traits>
#include <variant>

#include <attend/core/blas_threads.hpp>
#include <attend/text/corpus.hpp>
#include <attend/text/normalize.hpp>
#include <attend/core/error.hpp>
#include <attend/text/utf8.hpp>

namespace attend::cli {

// ---- options --------------------------------------------------------------------------------

std::string show(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

void validate(boost::any& v, const std::vector<std::string>& tokens, Count*, int) {
  po::validators::check_first_occurrence(v);
  const std::string& s = po::validators::get_single_string(tokens);
  const bool digits = !s.empty() && s.size() <= 18 &&
                      std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) throw po::invalid_option_value(s);
  v = Count{static_cast<std::size_t>(std::stoull(s))};
}

std::ostream& operator<<(std::ostream& out, const Count& c) { return out << c.value; }

po::typed_value<Count>* count_value(std::size_t* field) {
  return po::value<Count>()->notifier([field](const Count& c) { *field = c.value; });
}

po::typed_value<Count>* count_option(std::size_t* field) {
  return count_value(field)->default_value(Count{*field});
}

namespace {

// Boost.Program_options (1.74) builds its error messages by replacing %value%, %option% and the
// like until none is left, so a value that itself holds such a token loops forever (found by
// fuzz/fuzz_config). Such text is refused before Boost sees it.
void refuse_placeholders(const std::string& text, const std::string& where) {
  for (std::size_t open = text.find('%'); open != std::string::npos; open = text.find('%', open + 1)) {
    std::size_t end = open + 1;
    while (end < text.size() && (std::islower(static_cast<unsigned char>(text[end])) || text[end] == '_')) ++end;
    if (end > open + 1 && end < text.size() && text[end] == '%')
      throw Error(where + ": '" + text.substr(open, end - open + 1) +
                  "' cannot appear in an option (Boost.Program_options would misreport it)");
  }
}

}  // namespace

bool parse_command_line(const std::vector<std::string>& args, const po::options_description& desc,
                        const std::string& usage, po::variables_map& vm) {
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const auto& arg : rest) refuse_placeholders(arg, "command line");
  po::store(po::command_line_parser(rest).options(desc).run(), vm);
  if (!vm.count("help")) return true;
  std::cout << usage << "\n" << desc << "\n";
  return false;
}

void store_config_file(const std::string& path, const po::options_description& desc,
                       po::variables_map& vm) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw Error("config file '" + path + "': no such file");
  if (!std::filesystem::is_regular_file(status))
    throw Error("config file '" + path + "': not a regular file (a directory, FIFO or device)");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error("cannot read config file '" + path + "'");
  std::ostringstream text;
  text << file.rdbuf();
  store_config_text(text.str(), path, desc, vm);
}

void store_config_text(const std::string& text, const std::string& path, const po::options_description& desc,
                       po::variables_map& vm) {
  std::istringstream lines(text);
  std::string line;
  for (std::size_t number = 1; std::getline(lines, line); ++number)
    refuse_placeholders(line, "config file '" + path + "', line " + std::to_string(number));
  std::istringstream in(text);
  try {
    po::store(po::parse_config_file(in, desc, /*allow_unregistered=*/false), vm);
  } catch (const po::error& e) {
    throw Error("config file '" + path + "': " + e.what());
  }
}

void require(const po::variables_map& vm, const std::string& name, const std::string& command) {
  if (!vm.count(name))
    throw Error("--" + name + " is required for `attend " + command + "` (see attend " + command +
                " --help)");
}

po::typed_value<Count>* opt(std::size_t* field) { return count_option(field); }

po::typed_value<double>* opt(double* field) {
  return po::value<double>(field)->default_value(*field, show(*field));
}

po::typed_value<bool>* flag(bool* field) {
  return po::value<bool>(field)->default_value(*field)->implicit_value(true);
}

// ---- option groups shared by train and compare ----------------------------------------------

namespace {
constexpr std::size_t kDefaultSteps = 1500;  // updates when neither --steps nor --epochs is given
}

ModelConfig cli_model_config() {
  ModelConfig c;
  c.emb = 32;  // sized for the toy tasks, which the command line defaults to; the library keeps 64
  return c;
}

TrainOptions cli_train_options() {
  TrainOptions o;
  o.optimizer.lr = 0.003;  // the rate the toy-task defaults were measured with; the library keeps Adam's 1e-3
  o.epochs = 0;            // --steps 0 --epochs 0 means kDefaultSteps (finish_train_options)
  return o;
}

po::options_description task_options(TaskOptions& t) {
  po::options_description d("Task (0 = the task's default)");
  d.add_options()
      ("task", opt(&t.name), "copy | reverse | sort | add | dates (see `attend tasks`)");
  for (const TaskField& f : task_fields())
    std::visit([&](auto member) { d.add_options()(f.option, opt(&(t.*member)), f.help); }, f.member);
  return d;
}

void add_model_options(po::options_description& d, ModelConfig& c, const std::vector<std::string>& except) {
  for (const ModelField& f : model_fields()) {
    if (!*f.option || std::find(except.begin(), except.end(), f.key) != except.end()) continue;
    const std::string help = f.describe();
    std::visit(
        [&](auto member) {
          auto* field = &(c.*member);
          using V = std::remove_pointer_t<decltype(field)>;
          if constexpr (std::is_same_v<V, bool>) d.add_options()(f.option, flag(field), help.c_str());
          else d.add_options()(f.option, opt(field), help.c_str());
        },
        f.member);
  }
}

void apply_decoder_defaults(ModelConfig& c, const po::variables_map& vm) {
  if (vm.count("attention") && !vm["attention"].defaulted()) return;
  if (!decoder_known(c.decoder)) return;  // validate() names the valid decoders
  const std::string fallback = decoder_traits(c.decoder).default_attention;
  if (!fallback.empty()) c.attention = fallback;
}

void add_optimization_options(po::options_description& d, TrainOptions& o) {
  d.add_options()
      ("optimizer", opt(&o.optimizer.kind), "adam | sgd")
      ("lr", opt(&o.optimizer.lr), "learning rate")
      ("momentum", opt(&o.optimizer.momentum), "SGD momentum")
      ("clip", opt(&o.clip), "global gradient-norm clipping (0 = off)")
      ("teacher-forcing", opt(&o.teacher_forcing), "probability of feeding the reference token")
      ("label-smoothing", opt(&o.label_smoothing), "label smoothing")
      ("flush-denormals", flag(&o.flush_denormals),
       "train with subnormal floats flushed to zero; --flush-denormals=0 keeps them (IEEE "
       "arithmetic, as PyTorch by default; up to 3x slower when a softmax saturates)")
      ("batch", opt(&o.batch), "examples per batch")
      ("steps", opt(&o.steps), ("updates (0 with --epochs 0: " + std::to_string(kDefaultSteps) + ")").c_str())
      ("epochs", opt(&o.epochs), "epochs when --steps is 0")
      ("eval-every", opt(&o.eval_every), "steps between validations (0 = once per epoch)")
      ("patience", opt(&o.patience), "stop after this many validations without improvement (0 = never)")
      ("lr-decay", opt(&o.lr_decay), "learning-rate factor when validation does not improve")
      ("warmup", opt(&o.lr_schedule.warmup),
       "steps of linear learning-rate warmup: lr/N at step 1 rising to lr at step N (0 = none)")
      ("lr-schedule",
       po::value<std::string>()
           ->default_value(to_string(o.lr_schedule.schedule))
           ->notifier([&o](const std::string& name) { o.lr_schedule.schedule = parse_lr_schedule(name); }),
       ("after the warmup: " + lr_schedule_help() +
        " (inverse-sqrt: lr * sqrt(max(warmup, 1) / step)); --lr-decay multiplies on top").c_str())
      ("hard-estimator",
       po::value<std::string>()
           ->default_value(to_string(o.hard.estimator))
           ->notifier([&o](const std::string& name) { o.hard.estimator = parse_hard_estimator(name); }),
       ("--attention-fn hard: the score's gradient while training, " + hard_estimator_help() +
        " (REINFORCE with a moving-average baseline, or straight-through Gumbel-softmax)").c_str())
      ("reinforce-reward",
       po::value<std::string>()
           ->default_value(to_string(o.hard.reward))
           ->notifier([&o](const std::string& name) { o.hard.reward = parse_hard_reward(name); }),
       ("--hard-estimator reinforce: the negative log-likelihood the reward of step t's draw sums, " +
        hard_reward_help() + " (the whole target, as Xu et al., or its tokens from t on)").c_str())
      ("gumbel-tau", opt(&o.hard.gumbel_tau), "--hard-estimator gumbel: temperature of the backward's softmax")
      ("baseline-decay", opt(&o.hard.baseline_decay),
       "--hard-estimator reinforce: decay of the baseline's moving average of the NLL per token")
      ("entropy-weight", opt(&o.hard.entropy_weight),
       "--hard-estimator reinforce: weight of the entropy bonus on the attention distribution");
}

void finish_train_options(TrainOptions& o) {
  attend::validate(o);
  if (o.steps == 0 && o.epochs == 0) o.steps = kDefaultSteps;
}

void add_text_pipeline_options(po::options_description& d, TextPipelineOptions& t,
                               const std::string& test_help) {
  CorpusFiles& f = t.files;
  d.add_options()
      ("train-src", po::value<std::string>(&f.train_src), "training sources")
      ("train-tgt", po::value<std::string>(&f.train_tgt), "training targets")
      ("valid-src", po::value<std::string>(&f.valid_src), "validation sources")
      ("valid-tgt", po::value<std::string>(&f.valid_tgt), "validation targets")
      ("test-src", po::value<std::string>(&f.test_src), test_help.c_str())
      ("test-tgt", po::value<std::string>(&f.test_tgt), "test targets")
      // No default shown: a task is always char, files default to the pipeline's space.
      ("tokenizer", po::value<std::string>(&t.tokenizer), "space | char | spm (default: char for a task, space for files)")
      ("spm-vocab", opt(&t.subword.vocab_size), "SentencePiece pieces per model (--tokenizer spm)")
      ("spm-type", opt(&t.subword.model_type), "SentencePiece model: bpe | unigram")
      ("shared-vocab", flag(&t.shared_vocab), "one vocabulary (and one SentencePiece model) for both sides")
      ("min-freq", opt(&t.min_freq), "keep tokens seen at least this often in training")
      ("max-vocab", opt(&t.max_vocab), "largest vocabulary, the 4 specials included (0 = no limit)")
      ("max-src-tokens", opt(&t.max_src_tokens),
       "length filter: drop training pairs whose source has more tokens (0 = keep all)")
      ("max-tgt-tokens", opt(&t.max_tgt_tokens),
       "length filter: drop training pairs whose target has more tokens (0 = keep all)")
      ("max-line-tokens", opt(&t.max_line_tokens),
       "a line with more tokens (words for spm) in any file is a bad line (0 = no limit)")
      ("lowercase", flag(&t.text.lowercase), "lower-case all text")
      ("normalize",
       po::value<std::string>()->implicit_value("1")->notifier([&t](const std::string& spec) { set_normalization(t.text, spec); }),
       normalization_help().c_str())
      ("skip-bad-lines", flag(&t.skip_bad_lines),
       "drop pairs with empty, over-long or invalid UTF-8 lines with a warning instead of failing");
}

void set_normalization(TextOptions& text, const std::string& spec) {
  // The spellings of the older boolean --normalize (also in config files): whitespace only.
  if (spec == "1" || spec == "true" || spec == "yes" || spec == "on") {
    text.normalize = true;
    return;
  }
  if (spec == "0" || spec == "false" || spec == "no" || spec == "off") return;
  text.steps = Normalizer::parse(spec);
}

void add_file_run_options(po::options_description& d, std::size_t* bleu_every, double* time_limit,
                          std::size_t* beam, double* length_penalty) {
  d.add_options()
      ("bleu-every", opt(bleu_every), "validate (perplexity and greedy BLEU) every N steps (0 = --eval-every)")
      ("time-limit", opt(time_limit), "stop training after this many seconds (0 = no limit)")
      ("beam", opt(beam), "beam width for the test set at the end")
      ("length-penalty", opt(length_penalty), "GNMT length penalty for the test set at the end");
}

void add_resume_options(po::options_description& d, FileRunOptions& run) {
  d.add_options()
      ("resume", po::value<std::string>(&run.resume), "continue the run saved in this checkpoint")
      ("average-last", opt(&run.average_last),
       "keep the parameters of the last N validations and write their average to MODEL.avg-last at the end (0 = off)")
      ("average-best", opt(&run.average_best),
       "keep the parameters of the N validations of best BLEU and write their average to MODEL.avg-best at the end (0 = off)");
}

void add_run_control_options(po::options_description& d, FileRunOptions& run) {
  d.add_options()
      ("seed", opt(&run.train.seed), "seed of the data, the initial weights and the batch order")
      ("diagnostics-every", opt(&run.train.diagnostics_every),
       "every N steps, record unit saturation, attention entropy and gradient norms per parameter "
       "group in the --metrics-json output (0 = never)")
      ("threads", opt(&run.threads), "training: this many data-parallel shards with one BLAS thread each; "
                                     "decoding: this many BLAS threads (0 = one per core)");
}

void add_run_output_options(po::options_description& d, FileRunOptions& run, std::string& metrics_json) {
  d.add_options()
      ("model", opt(&run.model_path), "where to save the trained model")
      ("metrics-json", po::value<std::string>(&metrics_json), "write the run's metrics as JSON here");
}

std::vector<std::string> corpus_options_given(const po::variables_map& vm) {
  static const char* kNames[] = {"train-src", "train-tgt", "valid-src", "valid-tgt", "test-src",
                                 "test-tgt", "tokenizer", "spm-vocab", "spm-type", "shared-vocab",
                                 "min-freq", "max-vocab", "max-src-tokens", "max-tgt-tokens",
                                 "max-line-tokens", "lowercase", "normalize", "skip-bad-lines",
                                 "bleu-every", "time-limit", "beam", "length-penalty"};
  std::vector<std::string> given;
  for (const char* name : kNames)
    if (vm.count(name) && !vm[name].defaulted()) given.push_back(std::string("--") + name);
  return given;
}

void add_model_options(po::options_description& desc, ModelOptions& o) {
  desc.add_options()
      ("model,m", po::value<std::string>(&o.model), "model file written by `attend train` (required)")
      ("normalize", po::value<std::string>(&o.normalize),
       "the model's normalisation (attend train --normalize): given anyway, it must be the same; for a model "
       "that records none (trained on text normalised beforehand) it is applied to the input")
      ("threads", count_option(&o.threads),
       "BLAS threads (0 = the library default)");
}

void apply_normalize_option(ModelBundle& b, const std::string& spec, const std::string& path) {
  TextOptions given;
  set_normalization(given, spec);
  const std::string recorded = describe_text_options(text_options_from_info(b.info));
  const std::string wanted = describe_text_options(given);
  if (recorded.empty()) {  // a model trained on text normalised beforehand: apply it from now on
    b.info["normalize"] = given.normalize ? "1" : "0";
    if (!given.steps.empty()) b.info["normalization"] = given.steps.spec();
    return;
  }
  if (recorded != wanted)
    throw Error("--normalize '" + spec + "'" +
                (wanted == spec ? std::string() : " (" + (wanted.empty() ? std::string("no step") : wanted) + ")") +
                " contradicts the normalisation '" + recorded + "' that '" + path +
                "' was trained with; leave --normalize out to use the model's");
}

ModelBundle load_model_for(const ModelOptions& o, const po::variables_map& vm,
                           const std::string& command) {
  require(vm, "model", command);
  set_blas_threads(o.threads);
  ModelBundle b = load_model(o.model);
  if (vm.count("normalize")) apply_normalize_option(b, o.normalize, o.model);
  return b;
}

// ---- text -------------------------------------------------------------------------------------

void chomp(std::string& line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

namespace {

// How a token appears in a map: a space as '␣', at most 8 code points.
std::string label(const std::string& token) {
  if (token == " ") return "\u2423";
  return utf8_prefix(token, 8);
}

std::string pad(const std::string& s, std::size_t width) {
  const std::size_t w = code_points(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

char shade(float weight) {
  static const char kShades[] = " .:-=+*#%@";
  const int i = static_cast<int>(std::floor(double(weight) * 10));
  return kShades[std::clamp(i, 0, 9)];
}

}  // namespace

std::string attention_map(const std::vector<std::string>& src, const std::vector<std::string>& out,
                          const std::vector<std::vector<float>>& weights) {
  std::vector<std::string> cols;
  std::size_t col_width = 1;
  for (const auto& t : src) {
    cols.push_back(label(t));
    col_width = std::max(col_width, code_points(cols.back()));
  }
  const std::string sep = col_width > 1 ? " " : "";
  std::size_t row_width = 1;
  for (const auto& t : out) row_width = std::max(row_width, code_points(label(t)));

  std::ostringstream s;
  s << std::string(row_width, ' ') << " |";
  for (std::size_t j = 0; j < cols.size(); ++j) s << (j ? sep : "") << pad(cols[j], col_width);
  s << "|\n";
  const std::size_t S = src.size();
  for (std::size_t i = 0; i < out.size() && i < weights.size(); ++i) {
    s << pad(label(out[i]), row_width) << " |";
    for (std::size_t j = 0; j < S; ++j) {
      const float w = j < weights[i].size() ? weights[i][j] : 0.0f;
      s << (j ? sep : "") << std::string(col_width, shade(w));
    }
    s << "|\n";
  }
  return s.str();
}

// ---- progress ---------------------------------------------------------------------------------

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const long long s = std::llround(seconds);
  char buf[48];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s % 3600 / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

std::string format_thousands(double value) {
  const std::string digits = std::to_string(std::llround(std::max(0.0, value)));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string format_progress(const TrainProgress& p) {
  char loss[32], lr[32];
  std::snprintf(loss, sizeof loss, "%.4f", p.loss);
  std::snprintf(lr, sizeof lr, "%.3g", p.lr);  // the step's scheduled rate (warmup shows here)
  return "step " + std::to_string(p.step) + "/" + std::to_string(p.total_steps) + "  epoch " +
         std::to_string(p.epoch) + "  loss " + loss + "  lr " + lr + "  " + format_thousands(p.tokens_per_s) +
         " tok/s  elapsed " + format_duration(p.elapsed_s) + "  ETA " + format_duration(p.eta_s);
}

bool stderr_is_tty() { return isatty(STDERR_FILENO) == 1; }
bool stdin_is_tty() { return isatty(STDIN_FILENO) == 1; }

SilentUnless::SilentUnless(bool speaks) {
  if (speaks) return;
  out_ = std::cout.rdbuf(nullptr);
  err_ = std::cerr.rdbuf(nullptr);
}

void SilentUnless::restore() {
  if (out_) std::cout.rdbuf(out_);
  if (err_) std::cerr.rdbuf(err_);
  std::cout.clear();
  std::cerr.clear();
  out_ = err_ = nullptr;
}

void abort_all_ranks(Communicator& world, SilentUnless& silent, const std::exception& e) {
  silent.restore();
  std::cout.flush();
  std::cerr << "attend: error: rank " << world.rank() << " of " << world.size() << ": " << e.what() << std::endl;
  world.abort(2);
  std::_Exit(2);  // abort() does not return; the compiler cannot see that through the virtual call
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

std::vector<double> parse_number_list(const std::string& option, const std::string& text) {
  std::vector<double> out;
  for (const auto& item : split_list(text)) {
    try {
      std::size_t used = 0;
      out.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw Error(option + ": '" + item + "' is not a number");
    }
  }
  return out;
}

}  // namespace attend::cli
