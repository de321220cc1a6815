#include "common.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <attend/text/corpus.hpp>
#include <attend/core/error.hpp>

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

bool parse_command_line(const std::vector<std::string>& args, const po::options_description& desc,
                        const std::string& usage, po::variables_map& vm) {
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  po::store(po::command_line_parser(rest).options(desc).run(), vm);
  if (!vm.count("help")) return true;
  std::cout << usage << "\n" << desc << "\n";
  return false;
}

void store_config_file(const std::string& path, const po::options_description& desc,
                       po::variables_map& vm) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read config file '" + path + "'");
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

po::options_description task_options(TaskSettings& s) {
  po::options_description d("Task (0 = the task's default)");
  d.add_options()
      ("task", opt(&s.task), "copy | reverse | sort | add | dates (see `attend tasks`)")
      ("train-size", opt(&s.train_size), "training examples")
      ("valid-size", opt(&s.valid_size), "validation examples")
      ("test-size", opt(&s.test_size), "test examples")
      ("min-len", opt(&s.min_len), "shortest train/valid input")
      ("max-len", opt(&s.max_len), "longest train/valid input")
      ("test-min-len", opt(&s.test_min_len), "shortest test input (0 = --min-len)")
      ("test-max-len", opt(&s.test_max_len), "longest test input (0 = --max-len)");
  return d;
}

TaskOptions task_options_of(const TaskSettings& s) {
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

void add_architecture_options(po::options_description& d, ArchitectureSettings& s) {
  d.add_options()
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
}

void apply_architecture(const ArchitectureSettings& s, ModelConfig& c) {
  c.score = s.score;
  c.bridge = parse_bridge(s.bridge);
  c.layers = s.layers;
  c.bidirectional = s.bidirectional;
  c.emb = s.emb;
  c.hidden = s.hidden;
  c.dropout = s.dropout;
  c.window = s.window;
  c.heads = s.heads;
  c.max_src_len = s.max_src_len;
  c.reverse_source = s.reverse_source;
}

void add_optimization_options(po::options_description& d, OptimizationSettings& s) {
  d.add_options()
      ("optimizer", opt(&s.optimizer), "adam | sgd")
      ("lr", opt(&s.lr), "learning rate")
      ("momentum", opt(&s.momentum), "SGD momentum")
      ("clip", opt(&s.clip), "global gradient-norm clipping (0 = off)")
      ("teacher-forcing", opt(&s.teacher_forcing), "probability of feeding the reference token")
      ("label-smoothing", opt(&s.label_smoothing), "label smoothing")
      ("batch", opt(&s.batch), "examples per batch")
      ("steps", opt(&s.steps), ("updates (0 with --epochs 0: " + std::to_string(kDefaultSteps) + ")").c_str())
      ("epochs", opt(&s.epochs), "epochs when --steps is 0")
      ("eval-every", opt(&s.eval_every), "steps between validations (0 = once per epoch)")
      ("patience", opt(&s.patience), "stop after this many validations without improvement (0 = never)")
      ("lr-decay", opt(&s.lr_decay), "learning-rate factor when validation does not improve");
}

void check_optimization(const OptimizationSettings& s) {
  if (s.optimizer != "adam" && s.optimizer != "sgd")
    throw Error("unknown optimizer '" + s.optimizer + "' (valid: adam, sgd)");
  if (!(s.lr > 0)) throw Error("--lr must be positive");
  if (s.batch == 0) throw Error("--batch must be at least 1");
  if (s.teacher_forcing < 0 || s.teacher_forcing > 1) throw Error("--teacher-forcing must be in [0, 1]");
  if (s.label_smoothing < 0 || s.label_smoothing >= 1) throw Error("--label-smoothing must be in [0, 1)");
}

TrainOptions to_train_options(const OptimizationSettings& s) {
  TrainOptions o;
  o.optimizer.name = s.optimizer;
  o.optimizer.lr = s.lr;
  o.optimizer.momentum = s.momentum;
  o.clip = s.clip;
  o.batch = s.batch;
  o.steps = s.steps;
  o.epochs = s.epochs;
  if (s.steps == 0 && s.epochs == 0) o.steps = kDefaultSteps;
  o.teacher_forcing = s.teacher_forcing;
  o.label_smoothing = s.label_smoothing;
  o.eval_every = s.eval_every;
  o.patience = s.patience;
  o.lr_decay = s.lr_decay;
  return o;
}

void add_corpus_options(po::options_description& d, CorpusSettings& s, const std::string& test_help) {
  d.add_options()
      ("train-src", po::value<std::string>(&s.train_src), "training sources")
      ("train-tgt", po::value<std::string>(&s.train_tgt), "training targets")
      ("valid-src", po::value<std::string>(&s.valid_src), "validation sources")
      ("valid-tgt", po::value<std::string>(&s.valid_tgt), "validation targets")
      ("test-src", po::value<std::string>(&s.test_src), test_help.c_str())
      ("test-tgt", po::value<std::string>(&s.test_tgt), "test targets")
      ("tokenizer", po::value<std::string>(&s.tokenizer), "space | char | spm (default: char for a task, space for files)")
      ("spm-vocab", opt(&s.spm_vocab), "SentencePiece pieces per model (--tokenizer spm)")
      ("spm-type", opt(&s.spm_type), "SentencePiece model: bpe | unigram")
      ("shared-vocab", flag(&s.shared_vocab), "one vocabulary (and one SentencePiece model) for both sides")
      ("min-freq", opt(&s.min_freq), "keep tokens seen at least this often in training")
      ("max-vocab", opt(&s.max_vocab), "largest vocabulary, the 4 specials included (0 = no limit)")
      ("max-src-tokens", opt(&s.max_src_tokens),
       "length filter: drop training pairs whose source has more tokens (0 = keep all)")
      ("max-tgt-tokens", opt(&s.max_tgt_tokens),
       "length filter: drop training pairs whose target has more tokens (0 = keep all)")
      ("max-line-tokens", opt(&s.max_line_tokens),
       "a line with more tokens (words for spm) in any file is a bad line (0 = no limit)")
      ("lowercase", flag(&s.lowercase), "lower-case all text")
      ("normalize", flag(&s.normalize), "collapse runs of whitespace and trim lines")
      ("skip-bad-lines", flag(&s.skip_bad_lines),
       "drop pairs with empty, over-long or invalid UTF-8 lines with a warning instead of failing")
      ("bleu-every", opt(&s.bleu_every), "validate (perplexity and greedy BLEU) every N steps (0 = --eval-every)")
      ("time-limit", opt(&s.time_limit), "stop training after this many seconds (0 = no limit)")
      ("beam", opt(&s.beam), "beam width for the test set at the end")
      ("length-penalty", opt(&s.length_penalty), "GNMT length penalty for the test set at the end");
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
      ("threads", count_option(&o.threads),
       "BLAS threads (0 = the library default)");
}

ModelBundle load_model_for(const ModelOptions& o, const po::variables_map& vm,
                           const std::string& command) {
  require(vm, "model", command);
  set_blas_threads(o.threads);
  return load_model(o.model);
}

// ---- text -------------------------------------------------------------------------------------

void chomp(std::string& line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read '" + path + "'");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    chomp(line);
    lines.push_back(std::move(line));
  }
  if (in.bad()) throw Error("error while reading '" + path + "'");
  return lines;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error("cannot write '" + tmp + "'");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("cannot rename '" + tmp + "' to '" + path + "'");
  }
}

std::vector<int> encode_source(const ModelBundle& bundle, const std::string& line,
                               const std::string& where) {
  std::vector<int> ids = bundle.src_vocab.encode(bundle.tokenize_source(line));
  const std::size_t limit = bundle.model->config().source_limit();
  if (limit && ids.size() > limit)
    throw Error(where + ": the source has " + std::to_string(ids.size()) +
                " tokens but this model's location attention handles at most --max-src-len " +
                std::to_string(limit) + "; shorten the line or train with a larger --max-src-len");
  return ids;
}

std::string prepare_input(const ModelBundle& bundle, const std::string& line) {
  TextOptions t;
  const auto flag = [&](const char* key) {
    const auto it = bundle.info.find(key);
    return it != bundle.info.end() && it->second == "1";
  };
  t.lowercase = flag("lowercase");
  t.normalize = flag("normalize");
  return apply_text_options(line, t);
}

std::vector<std::string> translate_encoded(const ModelBundle& b, const std::vector<EncodedPair>& pairs,
                                           const SearchOptions& opt) {
  std::vector<std::string> out(pairs.size());
  if (pairs.empty()) return out;
  if (opt.beam <= 1) {
    const EvalResult r = evaluate(*b.model, pairs, 128, true, opt);
    for (std::size_t i = 0; i < pairs.size(); ++i)
      out[i] = b.detokenize_target(b.tgt_vocab.decode(r.hypotheses[i].tokens));
    return out;
  }
  Workspace<float> ws;
  SearchOptions one = opt;
  one.nbest = 1;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto h = beam_search(*b.model, pairs[i].src, one, ws);
    out[i] = h.empty() ? "" : b.detokenize_target(b.tgt_vocab.decode(h[0].tokens));
  }
  return out;
}

namespace {

std::size_t utf8_width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The first n code points of s.
std::string utf8_prefix(const std::string& s, std::size_t n) {
  std::size_t i = 0;
  for (std::size_t seen = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && seen++ == n) break;
  return s.substr(0, i);
}

// How a token appears in a map: a space as '␣', at most 8 code points.
std::string label(const std::string& token) {
  if (token == " ") return "\u2423";
  return utf8_prefix(token, 8);
}

std::string pad(const std::string& s, std::size_t width) {
  const std::size_t w = utf8_width(s);
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
    col_width = std::max(col_width, utf8_width(cols.back()));
  }
  const std::string sep = col_width > 1 ? " " : "";
  std::size_t row_width = 1;
  for (const auto& t : out) row_width = std::max(row_width, utf8_width(label(t)));

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
  char loss[32];
  std::snprintf(loss, sizeof loss, "%.4f", p.loss);
  return "step " + std::to_string(p.step) + "/" + std::to_string(p.total_steps) + "  epoch " +
         std::to_string(p.epoch) + "  loss " + loss + "  " + format_thousands(p.tokens_per_s) +
         " tok/s  elapsed " + format_duration(p.elapsed_s) + "  ETA " + format_duration(p.eta_s);
}

bool stderr_is_tty() { return isatty(STDERR_FILENO) == 1; }
bool stdin_is_tty() { return isatty(STDIN_FILENO) == 1; }

}  // namespace attend::cli
