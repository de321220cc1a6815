#include "attend/experiment/compare.hpp"
#include "attend/experiment/run.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "attend/eval/bleu.hpp"
#include "attend/io/checkpoint.hpp"
#include "attend/nn/encoder.hpp"
#include "attend/text/pipeline.hpp"
#include "attend/core/atomic_file.hpp"
#include "attend/core/error.hpp"
#include "attend/decode/search.hpp"

namespace attend {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- data sources -------------------------------------------------------------------------------

DataSource task_source(const TaskOptions& task) {
  DataSource s;
  s.name = "task " + task.name;
  s.signature = {{"task", task.name},
                 {"train_size", std::to_string(task.train_size)},
                 {"valid_size", std::to_string(task.valid_size)},
                 {"test_size", std::to_string(task.test_size)},
                 {"min_len", std::to_string(task.min_len)},
                 {"max_len", std::to_string(task.max_len)},
                 {"test_min_len", std::to_string(task.test_min_len)},
                 {"test_max_len", std::to_string(task.test_max_len)}};
  if (task.name == "copy" || task.name == "reverse" || task.name == "sort" || task.name == "dates")
    s.alignment = task.name;
  s.load = [task](std::uint64_t seed) {
    TaskOptions t = task;
    t.seed = seed;
    TaskData d = make_task(t);
    CompareData c;
    std::vector<std::vector<std::string>> src, tgt;
    for (const auto& e : d.train) src.push_back(e.src), tgt.push_back(e.tgt);
    c.src_vocab = Vocab::build(src);
    c.tgt_vocab = Vocab::build(tgt);
    c.train = std::move(d.train);
    c.valid = std::move(d.valid);
    c.test = std::move(d.test);
    return c;
  };
  return s;
}

DataSource corpus_source(const TextPipelineOptions& o) {
  const CorpusFiles& f = o.files;
  const std::pair<const char*, const std::string*> files[] = {
      {"train-src", &f.train_src}, {"train-tgt", &f.train_tgt}, {"valid-src", &f.valid_src},
      {"valid-tgt", &f.valid_tgt}, {"test-src", &f.test_src},   {"test-tgt", &f.test_tgt}};
  for (const auto& [option, path] : files)
    if (path->empty())
      throw Error(std::string("--") + option + " is required for a grid on files (the test pair is what BLEU is measured on)");

  DataSource s;
  // The text side, once for the whole grid.
  PreparedCorpus p = prepare_corpus(o, [&](const std::string& w) { s.warnings.push_back(w); });
  auto d = std::make_shared<CompareData>();
  d->train = std::move(p.tokens.train);
  d->valid = std::move(p.tokens.valid);
  d->test = std::move(p.tokens.test);
  for (std::size_t i = 0; i < p.train.size(); ++i) {
    const int words = static_cast<int>(count_words(p.train.src[i]));
    d->train_min_words = i == 0 ? words : std::min(d->train_min_words, words);
    d->train_max_words = std::max(d->train_max_words, words);
  }
  d->src_vocab = std::move(p.src_vocab);
  d->tgt_vocab = std::move(p.tgt_vocab);
  d->tokenizer = p.side.tokenizer;
  d->src_subword = p.side.src_subword;
  d->tgt_subword = p.side.tgt_subword;
  d->valid_ref_text = p.valid.tgt;
  d->test_src_text = p.test.src;
  d->test_ref_text = p.test.tgt;
  d->info = corpus_info(o);

  s.name = "corpus " + fs::path(f.train_src).filename().string() + " \u2192 " +
           fs::path(f.train_tgt).filename().string();
  s.corpus = true;
  s.signature = corpus_signature(o);

  std::ostringstream desc;
  desc << d->train.size() << " training pairs";
  if (p.filtered) desc << " (" << p.filtered << " longer than the length filter dropped)";
  desc << ", " << d->valid.size() << " validation, " << d->test.size() << " test; tokenizer " << o.tokenizer;
  if (d->tokenizer == Tokenizer::Spm)
    desc << " (" << o.subword.model_type << ", " << d->src_subword->size() << " pieces"
         << (o.shared_vocab ? ", shared" : "") << ")";
  desc << "; vocabularies " << d->src_vocab.size() << " \u2192 " << d->tgt_vocab.size()
       << (o.shared_vocab ? " (shared)" : "");
  s.description = desc.str();
  std::shared_ptr<const CompareData> shared = d;
  s.shared = shared;
  s.load = [shared](std::uint64_t) { return *shared; };
  return s;
}

// ---- the grid -----------------------------------------------------------------------------------

std::string Variant::name() const {
  return cell + "+" + attention + (decoder == "auto" || decoder.empty() ? "" : "/" + decoder) +
         (luong_output == "tanh" || luong_output.empty() ? "" : "+" + luong_output) +
         (encoder == "rnn" || encoder.empty() ? "" : "@" + encoder);
}

namespace {

std::string rate_text(double lr) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%g", lr);
  return buf;
}

}  // namespace

std::string RunSpec::name() const {
  std::string n = variant.name() + (lr > 0 ? "-lr" + rate_text(lr) : "") + "-s" + std::to_string(seed);
  std::replace(n.begin(), n.end(), '/', '_');  // a directory name
  return n;
}

std::vector<Variant> grid_variants(const CompareOptions& o) {
  std::vector<Variant> variants;
  for (const auto& encoder : o.encoders)
    for (const auto& cell : o.cells)
      for (const auto& attention : o.attentions)
        for (const auto& decoder : o.decoders) {
          ModelConfig c = o.model;
          c.cell = cell;
          c.attention = attention;
          c.decoder = parse_decoder_style(decoder);
          // Only the luong style has an output nonlinearity: other styles appear once.
          if (c.style() != DecoderStyle::Luong) {
            variants.push_back({cell, attention, decoder, "tanh", encoder});
            continue;
          }
          for (const auto& output : o.luong_outputs)
            variants.push_back({cell, attention, decoder, output, encoder});
        }
  return variants;
}

std::vector<RunSpec> grid_runs(const CompareOptions& o) {
  std::vector<RunSpec> runs;
  for (const Variant& v : grid_variants(o)) {
    if (!o.lr_grid.empty()) {
      for (double lr : o.lr_grid) runs.push_back({v, o.first_seed, lr});
      continue;
    }
    for (std::size_t i = 0; i < o.seeds; ++i) runs.push_back({v, o.first_seed + i});
  }
  return runs;
}

std::size_t planned_runs(const CompareOptions& o) {
  const std::size_t variants = grid_variants(o).size();
  if (o.lr_grid.empty()) return variants * o.seeds;
  return variants * o.lr_grid.size() + variants * (o.seeds ? o.seeds - 1 : 0);
}

std::string budget_text(const CompareOptions& o) {
  const TrainOptions& t = o.train;
  if (o.budget == Budget::Converge)
    return "converge (patience " + std::to_string(t.patience) + ", validation every " +
           std::to_string(t.eval_every) + " steps, at most " + std::to_string(t.steps) + " steps)";
  return t.steps ? "steps:" + std::to_string(t.steps) : "epochs:" + std::to_string(t.epochs);
}

namespace {

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

void check_axis(const std::vector<std::string>& axis, const std::string& option) {
  if (axis.empty()) throw Error("the grid is empty: " + option + " names no value");
  std::set<std::string> seen;
  for (const auto& v : axis) {
    if (v.empty()) throw Error(option + " has an empty name (check for a stray comma)");
    if (!seen.insert(v).second) throw Error(option + " names '" + v + "' twice");
  }
}

ModelConfig config_of(const CompareOptions& o, const Variant& v) {
  ModelConfig c = o.model;
  c.cell = v.cell;
  c.attention = v.attention;
  c.decoder = parse_decoder_style(v.decoder);
  c.luong_output = parse_luong_output(v.luong_output.empty() ? "tanh" : v.luong_output);
  c.encoder = v.encoder.empty() ? "rnn" : v.encoder;
  // In a grid across encoders, --bidirectional means "the recurrent encoders are bidirectional":
  // an encoder without a direction (transformer: each position attends to both sides) ignores it.
  if (encoder_known(c.encoder) && !encoder_traits(c.encoder).has_direction) c.bidirectional = false;
  return c;
}

}  // namespace

void validate_grid(const CompareOptions& o) {
  check_axis(o.cells, "--cells");
  check_axis(o.attentions, "--attention");
  check_axis(o.decoders, "--decoder");
  check_axis(o.luong_outputs, "--luong-output");
  check_axis(o.encoders, "--encoder");
  for (const auto& output : o.luong_outputs) parse_luong_output(output);
  for (const auto& decoder : o.decoders) parse_decoder_style(decoder);
  if (o.seeds == 0) throw Error("the grid is empty: --seeds must be at least 1");
  if (o.jobs == 0) throw Error("--jobs must be at least 1");
  if (o.out_dir.empty()) throw Error("--out is required: the directory for the runs and the report");
  if (o.budget == Budget::Converge) {
    if (o.train.steps == 0) throw Error("--budget converge needs --max-steps (the most steps a run may take)");
    if (o.train.patience == 0)
      throw Error("--budget converge needs --patience N >= 1 (validations without improvement before a run stops)");
    if (o.train.eval_every == 0)
      throw Error("--budget converge needs --eval-every N >= 1 (steps between validations)");
  }
  std::set<double> rates;
  for (double lr : o.lr_grid) {
    if (!(lr > 0) || !std::isfinite(lr)) throw Error("--lr-grid: every rate must be positive (got " + rate_text(lr) + ")");
    if (!rates.insert(lr).second) throw Error("--lr-grid names " + rate_text(lr) + " twice");
  }
  for (const Variant& v : grid_variants(o)) {
    ModelConfig c = config_of(o, v);
    c.src_vocab = c.tgt_vocab = 8;  // the data is not known yet
    try {
      c.validate();
    } catch (const Error& e) {
      throw Error("variant " + v.name() + ": " + e.what());
    }
  }
}

std::map<std::string, std::string> grid_signature(const CompareOptions& o, const DataSource& source) {
  std::map<std::string, std::string> s;
  s["grid.cells"] = join(o.cells, ",");
  s["grid.attention"] = join(o.attentions, ",");
  s["grid.decoder"] = join(o.decoders, ",");
  // Absent for the default, so grids from before the axis existed keep their signature.
  if (o.luong_outputs != std::vector<std::string>{"tanh"}) s["grid.luong_output"] = join(o.luong_outputs, ",");
  if (o.encoders != std::vector<std::string>{"rnn"}) s["grid.encoder"] = join(o.encoders, ",");
  s["grid.seeds"] = std::to_string(o.seeds);
  s["grid.first_seed"] = std::to_string(o.first_seed);
  for (const auto& [k, v] : o.model.to_map()) {
    if (k == "cell" || k == "attention" || k == "decoder" || k == "src_vocab" || k == "tgt_vocab" ||
        k == "luong_output" || k == "encoder")
      continue;
    if (k == "max_src_len" && !o.max_src_len_given) continue;
    s["model." + k] = v;
  }
  const TrainOptions& t = o.train;
  auto num = [](double x) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", x);
    return std::string(buf);
  };
  s["train.optimizer"] = t.optimizer.name;
  s["train.lr"] = num(t.optimizer.lr);
  s["train.momentum"] = num(t.optimizer.momentum);
  s["train.clip"] = num(t.clip);
  s["train.batch"] = std::to_string(t.batch);
  s["train.steps"] = std::to_string(t.steps);
  s["train.epochs"] = std::to_string(t.epochs);
  s["train.teacher_forcing"] = num(t.teacher_forcing);
  s["train.label_smoothing"] = num(t.label_smoothing);
  s["train.eval_every"] = std::to_string(t.eval_every);
  s["train.patience"] = std::to_string(t.patience);
  s["train.lr_decay"] = num(t.lr_decay);
  // Absent for a fixed budget at one rate, so grids written before these existed still resume.
  if (o.budget == Budget::Converge) s["grid.budget"] = "converge";
  if (!o.lr_grid.empty()) {
    std::vector<std::string> rates;
    for (double lr : o.lr_grid) rates.push_back(num(lr));
    s["grid.lr_grid"] = join(rates, ",");
    s.erase("train.lr");
  }
  if (source.corpus) {
    // Only a corpus grid has these; a toy grid's signature stays as it was.
    s["train.bleu_every"] = std::to_string(o.bleu_every);
    s["train.time_limit"] = num(o.time_limit);
    s["eval.beam"] = std::to_string(o.beam);
    s["eval.length_penalty"] = num(o.length_penalty);
    s["eval.bleu_lowercase"] = o.bleu_lowercase ? "1" : "0";
  }
  s["data.source"] = source.name;
  for (const auto& [k, v] : source.signature) s["data." + k] = v;
  return s;
}

std::vector<std::string> signature_differences(const std::map<std::string, std::string>& stored,
                                               const std::map<std::string, std::string>& current) {
  std::vector<std::string> diff;
  std::set<std::string> keys;
  for (const auto& kv : stored) keys.insert(kv.first);
  for (const auto& kv : current) keys.insert(kv.first);
  for (const auto& k : keys) {
    auto a = stored.find(k), b = current.find(k);
    const std::string va = a == stored.end() ? "(absent)" : a->second;
    const std::string vb = b == current.end() ? "(absent)" : b->second;
    if (va != vb) diff.push_back(k + ": " + va + " \u2192 " + vb);
  }
  return diff;
}

bool is_grid_axis(const std::string& key) {
  static const std::set<std::string> axes = {"grid.cells",         "grid.attention", "grid.decoder",
                                             "grid.luong_output", "grid.encoder",   "grid.seeds"};
  return axes.count(key) > 0;
}

namespace {

std::map<std::string, std::string> read_grid_file(const fs::path& file) {
  try {
    std::ifstream in(file);
    return json::parse(in).at("signature").get<std::map<std::string, std::string>>();
  } catch (const std::exception& e) {
    throw Error("'" + file.string() + "' is damaged (" + e.what() +
                "); remove it or pass --force to start this grid afresh");
  }
}

// The differences, axes (first) and the rest (second), each as "key: old → new".
std::pair<std::vector<std::string>, std::vector<std::string>> split_differences(
    const std::map<std::string, std::string>& stored, const std::map<std::string, std::string>& current) {
  std::pair<std::vector<std::string>, std::vector<std::string>> out;
  for (const auto& d : signature_differences(stored, current))
    (is_grid_axis(d.substr(0, d.find(':'))) ? out.first : out.second).push_back(d);
  return out;
}

}  // namespace

std::vector<std::string> grid_axis_changes(const CompareOptions& o, const DataSource& source) {
  const fs::path file = fs::path(o.out_dir) / "grid.json";
  if (o.force || !fs::exists(file)) return {};
  try {
    auto diff = split_differences(read_grid_file(file), grid_signature(o, source));
    return diff.second.empty() ? diff.first : std::vector<std::string>{};  // else run_compare refuses
  } catch (const Error&) {
    return {};  // damaged: run_compare refuses it with the reason
  }
}

// ---- alignment ----------------------------------------------------------------------------------

std::vector<int> gold_alignment(const std::string& alignment, const std::vector<std::string>& src,
                                const std::vector<std::string>& out) {
  const int S = static_cast<int>(src.size());
  std::vector<int> gold(out.size(), -1);
  if (alignment == "copy") {
    for (int i = 0; i < static_cast<int>(out.size()) && i < S; ++i) gold[i] = i;
  } else if (alignment == "reverse") {
    for (int i = 0; i < static_cast<int>(out.size()) && i < S; ++i) gold[i] = S - 1 - i;
  } else if (alignment == "sort") {
    // Output i is the source position of that character, first unused occurrence.
    std::vector<bool> used(src.size(), false);
    for (std::size_t i = 0; i < out.size(); ++i)
      for (int j = 0; j < S; ++j)
        if (!used[j] && src[j] == out[i]) {
          used[j] = true;
          gold[i] = j;
          break;
        }
  } else if (alignment == "dates") {
    // Only the year is aligned: the four output digits YYYY with the source's four-digit year
    // (the formats with a two-digit year have no gold position).
    if (out.size() < 4) return gold;
    for (int j = 0; j + 4 <= S; ++j) {
      bool match = true;
      for (int k = 0; k < 4; ++k) match = match && src[j + k] == out[k];
      const bool left_ok = j == 0 || !(src[j - 1].size() == 1 && std::isdigit(static_cast<unsigned char>(src[j - 1][0])));
      const bool right_ok = j + 4 == S || !(src[j + 4].size() == 1 && std::isdigit(static_cast<unsigned char>(src[j + 4][0])));
      if (match && left_ok && right_ok) {
        for (int k = 0; k < 4; ++k) gold[k] = j + k;
        break;
      }
    }
  }
  return gold;
}

// ---- results on disk ----------------------------------------------------------------------------

namespace {

std::vector<CurvePoint> curve_from(const json& a) {
  std::vector<CurvePoint> c;
  for (const auto& p : a)
    c.push_back({p.at(0).get<std::size_t>(), p.at(1).is_null() ? NAN : p.at(1).get<double>()});
  return c;
}

json num_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }
double num_from(const json& j, const char* key, double fallback = NAN) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  return j.at(key).get<double>();
}

json diagnostics_json(const std::vector<DiagnosticsPoint>& points) {
  json a = json::array();
  for (const auto& p : points)
    a.push_back({{"step", p.step},
                 {"saturation", p.saturation},
                 {"attention_entropy", num_or_null(p.attention_entropy)},
                 {"uniform_entropy", num_or_null(p.uniform_entropy)},
                 {"grad_norm", p.grad_norm}});
  return a;
}

std::vector<DiagnosticsPoint> diagnostics_from(const json& a) {
  std::vector<DiagnosticsPoint> out;
  for (const auto& x : a) {
    DiagnosticsPoint p;
    p.step = x.at("step").get<std::size_t>();
    // A value that was not finite was written as null.
    auto groups = [](const json& m) {
      std::map<std::string, double> g;
      for (const auto& [k, v] : m.items()) g[k] = v.is_null() ? NAN : v.get<double>();
      return g;
    };
    p.saturation = groups(x.at("saturation"));
    p.attention_entropy = num_from(x, "attention_entropy", -1);
    p.uniform_entropy = num_from(x, "uniform_entropy", -1);
    p.grad_norm = groups(x.at("grad_norm"));
    out.push_back(std::move(p));
  }
  return out;
}

json to_json(const RunResult& r) {
  json samples = json::array();
  for (const auto& s : r.samples) {
    json x = {{"index", s.index}, {"src", s.src}, {"out", s.out}, {"ref", s.ref},
              {"weights", s.weights}, {"correct", s.correct}};
    if (r.corpus) x["text"] = {{"src", s.src_text}, {"out", s.out_text}, {"ref", s.ref_text}};
    samples.push_back(x);
  }
  json j = {{"complete", true},
          {"run", r.spec.name()},
          {"cell", r.spec.variant.cell},
          {"attention", r.spec.variant.attention},
          {"decoder", r.spec.variant.decoder},
          {"luong_output", r.spec.variant.luong_output},
          {"encoder", r.spec.variant.encoder},
          {"seed", r.spec.seed},
          {"status", r.status},
          {"error", r.error},
          {"test", {{"exact_match", num_or_null(r.exact_match)},
                    {"token_accuracy", num_or_null(r.token_accuracy)},
                    {"perplexity", num_or_null(r.perplexity)}}},
          {"parameters", r.parameters},
          {"steps", r.steps},
          {"train_tokens", r.train_tokens},
          {"seconds", r.seconds},
          {"tokens_per_s", r.tokens_per_s},
          {"train_min_len", r.train_min_len},
          {"train_max_len", r.train_max_len},
          {"loss_curve", curve_json(r.train_loss)},
          {"valid_curve", curve_json(r.valid_loss)},
          {"test_correct", r.test_correct},
          {"test_src_len", r.test_src_len},
          {"attention_entropy", r.attention_entropy},
          {"uniform_entropy", r.uniform_entropy},
          {"gold_mass", r.gold_mass},
          {"samples", samples},
          {"lr", r.spec.lr},
          {"best_step", r.best_step},
          {"best_seconds", r.best_seconds},
          {"stopped_early", r.stopped_early},
          {"diagnostics", diagnostics_json(r.diagnostics)}};
  if (r.corpus) {
    // Per test sentence: clipped matches of orders 1-4, hypothesis n-grams of orders 1-4,
    // hypothesis length, reference length.
    json stats = json::array();
    for (const auto& b : r.test_bleu)
      stats.push_back({b.counts[0], b.counts[1], b.counts[2], b.counts[3], b.totals[0], b.totals[1],
                       b.totals[2], b.totals[3], b.hyp_len, b.ref_len});
    j["corpus"] = true;
    j["test"]["bleu"] = num_or_null(r.bleu);
    j["test"]["bleu_line"] = r.bleu_line;
    j["test_bleu_stats"] = stats;
    j["valid_bleu_curve"] = curve_json(r.valid_bleu);
    j["time_limit_reached"] = r.time_limit_reached;
  }
  return j;
}

RunResult from_json(const json& j, const RunSpec& spec) {
  RunResult r;
  r.spec = spec;
  r.status = j.at("status").get<std::string>();
  r.error = j.value("error", "");
  const json& t = j.at("test");
  r.exact_match = num_from(t, "exact_match");
  r.token_accuracy = num_from(t, "token_accuracy");
  r.perplexity = num_from(t, "perplexity");
  r.parameters = j.at("parameters").get<std::size_t>();
  r.steps = j.at("steps").get<std::size_t>();
  r.train_tokens = j.at("train_tokens").get<std::size_t>();
  r.seconds = j.at("seconds").get<double>();
  r.tokens_per_s = j.at("tokens_per_s").get<double>();
  r.train_min_len = j.at("train_min_len").get<int>();
  r.train_max_len = j.at("train_max_len").get<int>();
  r.train_loss = curve_from(j.at("loss_curve"));
  r.valid_loss = curve_from(j.at("valid_curve"));
  r.test_correct = j.at("test_correct").get<std::vector<int>>();
  r.test_src_len = j.at("test_src_len").get<std::vector<int>>();
  // Written as raw numbers: null is a value that was not finite.
  r.attention_entropy = num_from(j, "attention_entropy");
  r.uniform_entropy = num_from(j, "uniform_entropy");
  r.gold_mass = num_from(j, "gold_mass");
  for (const auto& s : j.at("samples")) {
    AttentionSample a;
    a.index = s.at("index").get<std::size_t>();
    a.src = s.at("src").get<std::vector<std::string>>();
    a.out = s.at("out").get<std::vector<std::string>>();
    a.ref = s.at("ref").get<std::vector<std::string>>();
    a.weights = s.at("weights").get<std::vector<std::vector<float>>>();
    a.correct = s.at("correct").get<bool>();
    if (s.contains("text")) {
      a.src_text = s.at("text").at("src").get<std::string>();
      a.out_text = s.at("text").at("out").get<std::string>();
      a.ref_text = s.at("text").at("ref").get<std::string>();
    }
    r.samples.push_back(std::move(a));
  }
  if (j.value("corpus", false)) {
    r.corpus = true;
    r.bleu = num_from(t, "bleu");
    r.bleu_line = t.value("bleu_line", "");
    for (const auto& x : j.at("test_bleu_stats")) {
      BleuStats b;
      for (std::size_t n = 0; n < 4; ++n) {
        b.counts[n] = x.at(n).get<std::size_t>();
        b.totals[n] = x.at(4 + n).get<std::size_t>();
      }
      b.hyp_len = x.at(8).get<std::size_t>();
      b.ref_len = x.at(9).get<std::size_t>();
      r.test_bleu.push_back(b);
    }
    r.valid_bleu = curve_from(j.at("valid_bleu_curve"));
    r.time_limit_reached = j.value("time_limit_reached", false);
  }
  r.best_step = j.value("best_step", std::size_t(0));
  r.best_seconds = j.value("best_seconds", 0.0);
  r.stopped_early = j.value("stopped_early", false);
  if (j.contains("diagnostics")) r.diagnostics = diagnostics_from(j.at("diagnostics"));
  r.resumed = true;
  return r;
}

// A finished run's results, or false when the run must (re)train.
bool read_finished(const fs::path& dir, const RunSpec& spec, RunResult& r) {
  const fs::path file = dir / "metrics.json";
  if (!fs::exists(file)) return false;
  try {
    std::ifstream in(file);
    const json j = json::parse(in);
    if (!j.value("complete", false)) return false;
    const std::string status = j.at("status").get<std::string>();
    if (status != "ok" && status != "diverged") return false;
    r = from_json(j, spec);
    r.run_dir = dir.string();
    return true;
  } catch (const std::exception&) {
    return false;  // damaged: train again
  }
}

// ---- one run ------------------------------------------------------------------------------------

std::size_t longest_source(const CompareData& d) {
  std::size_t n = 0;
  for (const auto* split : {&d.train, &d.valid, &d.test})
    for (const auto& e : *split) n = std::max(n, e.src.size());
  return n;
}

// Test sentences whose attention the report shows: spread over the source lengths of the
// candidates.
std::vector<std::size_t> spread_by_length(const std::vector<Example>& test, std::vector<std::size_t> order,
                                          std::size_t k) {
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return test[a].src.size() < test[b].src.size(); });
  std::vector<std::size_t> picks;
  if (order.empty() || k == 0) return picks;
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t pos = k == 1 ? order.size() / 2 : (order.size() - 1) * (2 * i + 1) / (2 * k);
    if (std::find(picks.begin(), picks.end(), order[pos]) == picks.end()) picks.push_back(order[pos]);
  }
  return picks;
}

std::vector<std::size_t> sample_indices(const std::vector<Example>& test, std::size_t k) {
  std::vector<std::size_t> order(test.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  return spread_by_length(test, order, k);
}

// A corpus: heatmaps stay legible up to about 30 tokens a side, so the picks are spread over the
// sentences of 3-30 tokens (all sentences when there are none).
std::vector<std::size_t> corpus_sample_indices(const std::vector<Example>& test, std::size_t k) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < test.size(); ++i)
    if (test[i].src.size() >= 3 && test[i].src.size() <= 30 && test[i].tgt.size() <= 30) order.push_back(i);
  if (order.empty()) return sample_indices(test, k);
  return spread_by_length(test, order, k);
}

void alignment_statistics(RunResult& r, const std::vector<Example>& test,
                          const std::vector<Hypothesis>& hyps, const std::string& alignment,
                          std::size_t max_sentences) {
  double entropy = 0, uniform = 0, gold = 0;
  std::size_t steps = 0, gold_steps = 0;
  for (std::size_t i = 0; i < test.size() && i < max_sentences && i < hyps.size(); ++i) {
    const auto& att = hyps[i].attention;
    if (att.empty()) continue;
    const auto g = gold_alignment(alignment, test[i].src, test[i].tgt);
    for (std::size_t t = 0; t < att.size(); ++t) {
      double h = 0;
      for (float a : att[t])
        if (a > 0) h -= double(a) * std::log(double(a));
      entropy += h;
      uniform += std::log(double(std::max<std::size_t>(1, att[t].size())));
      ++steps;
      if (t < g.size() && g[t] >= 0 && static_cast<std::size_t>(g[t]) < att[t].size()) {
        gold += att[t][g[t]];
        ++gold_steps;
      }
    }
  }
  if (steps) {
    r.attention_entropy = entropy / steps;
    r.uniform_entropy = uniform / steps;
  }
  if (gold_steps) r.gold_mass = gold / gold_steps;
}

std::string format_line(const RunSpec& spec, const TrainProgress& p) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s step %zu/%zu loss %.4f %.0f tok/s elapsed %.1fs", spec.name().c_str(),
                p.step, p.total_steps, p.loss, p.tokens_per_s, p.elapsed_s);
  return buf;
}

}  // namespace

std::unique_ptr<Seq2Seq<float>> build_model(const CompareOptions& o, const Variant& v,
                                            std::uint64_t seed, const CompareData& data) {
  ModelConfig c = config_of(o, v);
  c.src_vocab = data.src_vocab.size();
  c.tgt_vocab = data.tgt_vocab.size();
  c.fit_to_data(longest_source(data), o.max_src_len_given);
  return std::make_unique<Seq2Seq<float>>(c, seed);
}

// ---- the estimate -------------------------------------------------------------------------------

GridEstimate estimate_grid(const CompareOptions& o, const DataSource& source, std::size_t calibration_steps) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  const auto start = Clock::now();
  GridEstimate e;
  e.runs = planned_runs(o);
  e.calibration_steps = calibration_steps;
  e.upper_bound = o.budget == Budget::Converge;
  const CompareData data = source.shared ? *source.shared : source.load(o.first_seed);
  const auto train_data = encode_examples(data.train, data.src_vocab, data.tgt_vocab);
  const auto valid_data = encode_examples(data.valid, data.src_vocab, data.tgt_vocab);
  const std::size_t jobs = std::max<std::size_t>(1, o.jobs);
  const std::size_t threads = o.threads ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  set_blas_threads(std::max<std::size_t>(1, threads / jobs));
  const std::size_t batches_per_epoch = (train_data.size() + o.train.batch - 1) / std::max<std::size_t>(1, o.train.batch);
  const std::size_t steps = o.train.steps ? o.train.steps : o.train.epochs * batches_per_epoch;
  const std::size_t eval_every = o.train.eval_every ? o.train.eval_every : std::max<std::size_t>(1, batches_per_epoch);
  const std::size_t validations = steps / eval_every + 1;
  const fs::path out(o.out_dir);
  double total = 0;
  for (const Variant& v : grid_variants(o)) {
    GridEstimate::PerVariant pv;
    pv.name = v.name();
    if (calibration_steps > 0) {
      auto model = build_model(o, v, o.first_seed, data);
      TrainOptions t = o.train;
      t.steps = calibration_steps;
      t.patience = 0;
      t.validate = nullptr;
      t.max_seconds = 0;
      t.diagnostics_every = 0;
      t.seed = o.first_seed;
      // Untimed first: the first steps and the first pass allocate the workspaces.
      TrainOptions warm = t;
      warm.steps = std::max<std::size_t>(2, calibration_steps / 4);
      train(*model, train_data, {}, warm);
      if (!valid_data.empty()) teacher_forced_loss(*model, valid_data, 256);
      const auto t0 = Clock::now();
      train(*model, train_data, {}, t);
      pv.step_seconds = since(t0) / calibration_steps;
      const auto t1 = Clock::now();
      if (!valid_data.empty()) teacher_forced_loss(*model, valid_data, 256);
      pv.validation_seconds = since(t1);
    }
    // The runs of this variant still to train (a second-stage run counts as done when a run
    // of that seed exists at any rate of the grid).
    std::size_t todo = 0;
    auto finished = [&](const RunSpec& spec) {
      RunResult ignored;
      return !o.force && read_finished(out / spec.name(), spec, ignored);
    };
    if (o.lr_grid.empty()) {
      for (std::size_t i = 0; i < o.seeds; ++i) todo += !finished({v, o.first_seed + i});
    } else {
      for (double lr : o.lr_grid) todo += !finished({v, o.first_seed, lr});
      for (std::size_t i = 1; i < o.seeds; ++i) {
        bool done = false;
        for (double lr : o.lr_grid) done = done || finished({v, o.first_seed + i, lr});
        todo += !done;
      }
    }
    e.runs_to_train += todo;
    total += todo * (steps * pv.step_seconds + validations * pv.validation_seconds);
    e.variants.push_back(pv);
  }
  const std::size_t at_once = jobs * (o.ranks ? o.ranks->size() : 1);
  e.seconds = total / double(std::min(at_once, std::max<std::size_t>(1, e.runs_to_train)));
  e.calibration_seconds = since(start);
  return e;
}

// ---- learning rates -----------------------------------------------------------------------------

double validation_score(const RunResult& r) {
  double best = -INFINITY;
  if (r.status != "ok") return best;
  if (r.corpus) {
    for (const auto& p : r.valid_bleu)
      if (std::isfinite(p.value)) best = std::max(best, p.value);
    return best;
  }
  for (const auto& p : r.valid_loss)
    if (std::isfinite(p.value)) best = std::max(best, -p.value);
  return best;
}

std::map<std::string, double> choose_rates(const std::vector<RunResult>& first_stage) {
  std::map<std::string, std::pair<double, double>> best;  // variant -> (score, rate)
  for (const auto& r : first_stage) {
    const double score = validation_score(r);
    if (!std::isfinite(score)) continue;
    const std::string v = r.spec.variant.name();
    auto it = best.find(v);
    if (it == best.end() || score > it->second.first ||
        (score == it->second.first && r.spec.lr < it->second.second))
      best[v] = {score, r.spec.lr};
  }
  std::map<std::string, double> rates;
  for (const auto& [v, x] : best) rates[v] = x.second;
  return rates;
}

std::vector<RunSpec> second_stage_runs(const CompareOptions& o, const std::map<std::string, double>& rates) {
  std::vector<RunSpec> runs;
  for (const Variant& v : grid_variants(o)) {
    auto it = rates.find(v.name());
    if (it == rates.end()) continue;
    for (std::size_t i = 1; i < o.seeds; ++i) runs.push_back({v, o.first_seed + i, it->second});
  }
  return runs;
}

// ---- the runner ---------------------------------------------------------------------------------

namespace {

class Runner {
 public:
  Runner(const CompareOptions& o, const DataSource& s, const GridProgressFn& f)
      : opt_(o), source_(s), progress_(f), ranks_(o.ranks ? *o.ranks : alone_) {}

  CompareResult run() {
    validate_grid(opt_);
    if (!source_.load && !source_.shared) throw Error("the data source has no loader");
    if (opt_.beam == 0) throw Error("--beam must be at least 1");
    if (!source_.corpus && (opt_.beam != 1 || opt_.length_penalty != 0 || opt_.bleu_lowercase ||
                            opt_.bleu_every != 0 || opt_.time_limit != 0))
      throw Error("--beam, --length-penalty, --lc, --bleu-every and --time-limit apply to a grid on "
                  "files (--train-src ...), not to a built-in task");
    const fs::path out(opt_.out_dir);
    // Rank 0 alone creates the directory and checks and writes grid.json; under mpirun the other
    // ranks wait for its verdict and for the directory their claims go to.
    std::string refusal;
    if (ranks_.root()) {
      try {
        std::error_code ec;
        fs::create_directories(out, ec);
        if (ec) throw Error("cannot create the output directory '" + out.string() + "': " + ec.message());
        check_grid_file(out);
        if (spread()) claims_ = make_claims_dir(out);
      } catch (const std::exception& e) {
        if (!spread()) throw;
        refusal = e.what();
      }
    }
    if (spread()) {
      ranks_.broadcast(refusal);
      if (!refusal.empty()) throw GridRefused(refusal);
      std::string claims = claims_.string();
      ranks_.broadcast(claims);
      claims_ = claims;
    }

    status_.total_runs = planned_runs(opt_);
    start_ = Clock::now();
    const std::size_t threads = opt_.threads ? opt_.threads : std::max(1u, std::thread::hardware_concurrency());
    std::vector<RunResult> runs = run_all(grid_runs(opt_), out, threads);
    std::map<std::string, double> chosen;
    if (!opt_.lr_grid.empty()) {
      chosen = choose_rates(runs);
      const auto second = second_stage_runs(opt_, chosen);
      {
        // A variant without a successful first-stage run has no rate for its other seeds.
        std::lock_guard<std::mutex> lock(status_mutex_);
        status_.total_runs = runs.size() + second.size();
      }
      std::vector<RunResult> more = run_all(second, out, threads);
      // Grid order: each variant's first-stage runs, then its other seeds.
      std::vector<RunResult> ordered;
      for (auto& r : runs) {
        const std::string v = r.spec.variant.name();
        const bool last_of_variant = &r == &runs.back() || (&r + 1)->spec.variant.name() != v;
        ordered.push_back(std::move(r));
        if (last_of_variant)
          for (auto& m : more)
            if (m.spec.variant.name() == v) ordered.push_back(std::move(m));
      }
      runs = std::move(ordered);
    }
    // Every rank has made its last claim and written its last marker (the gather is behind them).
    if (spread() && ranks_.root()) {
      std::error_code ignored;
      fs::remove_all(claims_, ignored);
    }
    CompareResult r;
    r.runs = std::move(runs);
    r.alignment = source_.alignment;
    r.data_name = source_.name;
    r.seconds = seconds();
    r.corpus = source_.corpus;
    r.data_description = source_.description;
    r.bleu_lowercase = opt_.bleu_lowercase;
    r.beam = opt_.beam;
    r.budget = budget_text(opt_);
    r.converge = opt_.budget == Budget::Converge;
    r.lr_grid = opt_.lr_grid;
    r.chosen_lr = chosen;
    return r;
  }

  // Trains (or reads back) the runs of `specs`, opt_.jobs at a time; under mpirun the ranks share
  // them out and every rank returns all of them.
  std::vector<RunResult> run_all(const std::vector<RunSpec>& specs, const fs::path& out, std::size_t threads) {
    std::vector<RunResult> results(specs.size());
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      results[i].spec = specs[i];
      results[i].run_dir = (out / specs[i].name()).string();
    }
    if (ranks_.root())
      for (std::size_t i = 0; i < specs.size(); ++i)
        if (opt_.force || !read_finished(results[i].run_dir, specs[i], results[i])) todo.push_back(i);
    if (spread()) share_finished(specs, results, todo);
    {
      std::lock_guard<std::mutex> lock(status_mutex_);
      const std::size_t skipped = specs.size() - todo.size();
      status_.skipped += skipped;
      status_.finished += skipped;
      notify("");
    }
    const std::size_t jobs = std::max<std::size_t>(1, std::min(opt_.jobs, std::max<std::size_t>(1, todo.size())));
    set_blas_threads(std::max<std::size_t>(1, threads / jobs));
    std::vector<char> trained_here(todo.size(), 0);
    std::atomic<std::size_t> next{0};
    std::mutex claim_mutex;
    std::string claim_error;
    // Every rank and thread walks the same list in order and trains each run it claims first, so a
    // rank that finishes a run takes the next one nobody has.
    auto worker = [&] {
      for (std::size_t k; (k = next++) < todo.size();) {
        try {
          if (spread() && !claim(specs[todo[k]])) continue;
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(claim_mutex);
          claim_error = e.what();
          return;
        }
        trained_here[k] = 1;
        execute(results[todo[k]]);
      }
    };
    if (jobs == 1) {
      worker();
    } else {
      std::vector<std::thread> pool;
      for (std::size_t j = 0; j < jobs; ++j) pool.emplace_back(worker);
      for (auto& t : pool) t.join();
    }
    if (!claim_error.empty()) throw Error(claim_error);
    if (spread()) {
      gather_trained(specs, todo, trained_here, results);
      std::lock_guard<std::mutex> lock(status_mutex_);
      peers_read_at_ = -1;  // every rank's runs of this stage are done: count them afresh
      notify("");
    }
    return results;
  }

 private:
  using Clock = std::chrono::steady_clock;

  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  bool spread() const { return ranks_.size() > 1; }

  // OUT/.claims-<random id>: this job's claims, apart from those an interrupted job left behind.
  static fs::path make_claims_dir(const fs::path& out) {
    std::random_device device;
    for (int attempt = 0; attempt < 100; ++attempt) {
      const std::uint64_t id = (std::uint64_t(device()) << 32) ^ device() ^
                               std::uint64_t(Clock::now().time_since_epoch().count());
      char name[40];
      std::snprintf(name, sizeof name, ".claims-%016llx", static_cast<unsigned long long>(id));
      std::error_code ec;
      if (fs::create_directory(out / name, ec)) return out / name;
      if (ec) throw Error("cannot create '" + (out / name).string() + "': " + ec.message());
    }
    throw Error("cannot find an unused claims directory name under '" + out.string() + "'");
  }

  static std::string host_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) return "?";
    return host;
  }

  std::string rank_text() const {
    return "rank " + std::to_string(ranks_.rank()) + " of " + std::to_string(ranks_.size()) + " on " + host_name();
  }

  // Whether this rank trains the run: the rank that creates its claim file first. O_CREAT | O_EXCL
  // is atomic on a local filesystem and on NFS from version 3 on, so exactly one rank succeeds
  // without any rank waiting for another (rank 0 is training while the others claim).
  bool claim(const RunSpec& spec) const {
    const std::string path = (claims_ / spec.name()).string();
    const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) {
      if (errno == EEXIST) return false;
      throw Error("cannot create the claim file '" + path + "': " + std::strerror(errno));
    }
    const std::string who = rank_text() + "\n";
    const bool written = ::write(fd, who.data(), who.size()) == static_cast<ssize_t>(who.size());
    ::close(fd);
    if (!written) throw Error("cannot write the claim file '" + path + "'");
    return true;
  }

  // Rank 0's view of the finished runs, sent to every rank: their results and the runs to train.
  // Every rank (rank 0 too) takes the results from the message, so all hold the same values.
  void share_finished(const std::vector<RunSpec>& specs, std::vector<RunResult>& results,
                      std::vector<std::size_t>& todo) {
    std::string message;
    if (ranks_.root()) {
      json finished = json::array();
      std::size_t k = 0;
      for (std::size_t i = 0; i < specs.size(); ++i) {
        if (k < todo.size() && todo[k] == i) {
          ++k;
          continue;
        }
        finished.push_back({i, to_json(results[i])});
      }
      message = json{{"finished", finished}, {"todo", todo}}.dump();
    }
    ranks_.broadcast(message);
    const json j = json::parse(message);
    todo = j.at("todo").get<std::vector<std::size_t>>();
    for (const auto& x : j.at("finished")) {
      const std::size_t i = x.at(0).get<std::size_t>();
      const std::string dir = results[i].run_dir;
      results[i] = from_json(x.at(1), specs[i]);
      results[i].run_dir = dir;
    }
  }

  // The runs each rank trained, to every rank, which all read them back the same way.
  void gather_trained(const std::vector<RunSpec>& specs, const std::vector<std::size_t>& todo,
                      const std::vector<char>& trained_here, std::vector<RunResult>& results) {
    json mine = json::array();
    for (std::size_t k = 0; k < todo.size(); ++k)
      if (trained_here[k]) mine.push_back({todo[k], to_json(results[todo[k]])});
    const std::vector<std::string> all = ranks_.all_gather(mine.dump());
    for (std::size_t rank = 0; rank < all.size(); ++rank)
      for (const auto& x : json::parse(all[rank])) {
        const std::size_t i = x.at(0).get<std::size_t>();
        try {
          const std::string dir = results[i].run_dir;
          results[i] = from_json(x.at(1), specs[i]);
          results[i].run_dir = dir;
          results[i].resumed = false;
        } catch (const std::exception& e) {
          throw Error("the results of run " + specs[i].name() + " from rank " + std::to_string(rank) +
                      " cannot be read back: " + e.what());
        }
      }
  }

  void check_grid_file(const fs::path& out) {
    const auto current = grid_signature(opt_, source_);
    const fs::path file = out / "grid.json";
    if (fs::exists(file) && !opt_.force) {
      // Grown or narrowed axes are the same grid; any other setting makes every run different.
      const auto diff = split_differences(read_grid_file(file), current).second;
      if (!diff.empty()) {
        std::string msg = "'" + out.string() + "' holds the results of a different grid (" +
                          std::to_string(diff.size()) + (diff.size() > 1 ? " settings differ):" : " setting differs):");
        for (const auto& d : diff) msg += "\n  " + d;
        msg += "\nuse another --out directory, or --force to retrain every run of this grid there (the axes "
               "--cells, --attention, --decoder, --luong-output, --encoder and --seeds may change freely)";
        throw Error(msg);
      }
    }
    write_file_atomic(file.string(), json{{"signature", current}}.dump(2) + "\n");
  }

  std::shared_ptr<const CompareData> data_for(std::uint64_t seed) {
    if (source_.shared) return source_.shared;
    std::lock_guard<std::mutex> lock(data_mutex_);
    auto it = data_.find(seed);
    if (it != data_.end()) return it->second;
    auto d = std::make_shared<const CompareData>(source_.load(seed));
    data_[seed] = d;
    return d;
  }

  void notify(const std::string& event) {
    // Called with status_mutex_ held or before the workers start.
    if (!progress_) return;
    GridStatus s = status_;
    s.running.clear();
    for (const auto& kv : running_) s.running.push_back(kv.second);
    s.elapsed_s = seconds();
    s.event = event;
    if (spread()) {
      // The whole grid's counts; the running lines are this rank's own runs. The ETA is the
      // job's pace in runs so far.
      std::size_t finished = 0, failed = 0;
      peer_counts(finished, failed);
      s.finished = std::min(s.total_runs, status_.skipped + finished);
      s.failed = failed;
      const std::size_t done_here = s.finished - status_.skipped;
      s.eta_s = done_here ? (s.total_runs - s.finished) * s.elapsed_s / double(done_here) : -1;
      if (s.finished == s.total_runs) s.eta_s = 0;
      progress_(s);
      return;
    }
    // ETA from the steps done in this invocation.
    std::size_t done = done_steps_, remaining = 0;
    const std::size_t per_run = expected_steps_ ? expected_steps_ : opt_.train.steps;
    for (const auto& kv : running_) {
      done += kv.second.progress.step;
      remaining += kv.second.progress.total_steps - kv.second.progress.step;
    }
    const std::size_t pending = status_.total_runs - status_.finished - running_.size();
    remaining += pending * per_run;
    if (done > 0 && per_run > 0 && s.elapsed_s > 0) {
      s.eta_s = remaining * (s.elapsed_s / double(done));
    }
    if (status_.finished == status_.total_runs) s.eta_s = 0;
    progress_(s);
  }

  void execute(RunResult& r) {
    const RunSpec spec = r.spec;
    const std::string name = spec.name();
    const fs::path dir(r.run_dir);
    {
      std::lock_guard<std::mutex> lock(status_mutex_);
      GridStatus::Running run;
      run.name = name;
      run.progress.total_steps = opt_.train.steps;
      running_[name] = run;
      notify("");
    }
    std::string event;
    try {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) throw Error("cannot create '" + dir.string() + "': " + ec.message());
      std::ofstream log(dir / "train.log", std::ios::trunc);
      if (spread()) log << "trained by " << rank_text() << "\n";
      train_one(r, log);
      std::lock_guard<std::mutex> lock(status_mutex_);
      done_steps_ += r.steps;
      event = name + (r.status == "diverged" ? " diverged (NaN or infinite loss)" : " finished");
    } catch (const std::exception& e) {
      r.status = "failed";
      r.error = e.what();
      event = name + " failed: " + r.error;
      std::ofstream(dir / "error.txt", std::ios::trunc) << r.error << "\n";
    }
    if (spread()) {
      // For rank 0's display of the whole grid (peer_counts).
      std::ofstream((claims_ / (name + ".done")).string(), std::ios::trunc) << r.status << "\n";
    }
    std::lock_guard<std::mutex> lock(status_mutex_);
    running_.erase(name);
    ++status_.finished;
    if (r.status == "failed") ++status_.failed;
    notify(event);
  }

  // Under mpirun: the runs every rank has finished in this job and those that failed, from the
  // markers under the claims directory, read at most once a second.
  void peer_counts(std::size_t& finished, std::size_t& failed) {
    if (seconds() - peers_read_at_ >= 1.0 || peers_read_at_ < 0) {
      peers_finished_ = peers_failed_ = 0;
      std::error_code ec;
      for (fs::directory_iterator it(claims_, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string n = it->path().filename().string();
        if (n.size() < 5 || n.compare(n.size() - 5, 5, ".done") != 0) continue;
        ++peers_finished_;
        std::ifstream in(it->path());
        std::string status;
        in >> status;
        peers_failed_ += status == "failed";
      }
      peers_read_at_ = seconds();
    }
    finished = peers_finished_;
    failed = peers_failed_;
  }

  void train_one(RunResult& r, std::ostream& log) {
    const RunSpec& spec = r.spec;
    const auto data = data_for(spec.seed);
    ModelBundle b;
    b.src_vocab = data->src_vocab;
    b.tgt_vocab = data->tgt_vocab;
    b.tokenizer = data->tokenizer;
    b.src_subword = data->src_subword;
    b.tgt_subword = data->tgt_subword;
    b.model = build_model(opt_, spec.variant, spec.seed, *data);
    const ModelConfig& c = b.model->config();
    r.parameters = b.model->params().size();
    r.train_min_len = r.train_max_len = 0;
    for (const auto& e : data->train) {
      const int n = static_cast<int>(e.src.size());
      r.train_min_len = r.train_min_len == 0 ? n : std::min(r.train_min_len, n);
      r.train_max_len = std::max(r.train_max_len, n);
    }
    if (source_.corpus) r.train_min_len = data->train_min_words, r.train_max_len = data->train_max_words;
    log << "run " << spec.name() << ": " << c.cell << " + " << c.attention << " ("
        << c.decoder_style() << " decoder), seed " << spec.seed << ", " << r.parameters
        << " parameters; " << data->train.size() << " train, " << data->valid.size() << " valid, "
        << data->test.size() << " test examples\n";

    TrainOptions o = opt_.train;
    o.seed = spec.seed;
    o.ranks = nullptr;  // a run trains in one process, as in a local grid
    if (spec.lr > 0) o.optimizer.lr = spec.lr;
    log << "learning rate " << o.optimizer.lr << "; budget " << budget_text(opt_) << "\n";
    const auto train_data = encode_examples(data->train, b.src_vocab, b.tgt_vocab);
    const auto valid_data = encode_examples(data->valid, b.src_vocab, b.tgt_vocab);
    const auto test_data = encode_examples(data->test, b.src_vocab, b.tgt_vocab);
    const std::string name = spec.name();
    std::size_t last_logged = 0;
    auto on_progress = [&](const TrainProgress& p) {
      if (p.step - last_logged >= 100 || p.step == p.total_steps || last_logged == 0) {
        log << format_line(spec, p) << std::endl;  // flushed, so train.log can be followed while the run trains
        last_logged = p.step;
      }
      std::lock_guard<std::mutex> lock(status_mutex_);
      if (!expected_steps_) expected_steps_ = p.total_steps;
      running_[name].progress = p;
      notify("");
    };
    r.corpus = source_.corpus;
    if (source_.corpus) {
      // As `attend train` on files: greedy BLEU on the validation lines decides the kept parameters.
      if (opt_.bleu_every) o.eval_every = opt_.bleu_every;
      o.max_seconds = opt_.time_limit;
      o.validate = [&](std::size_t step, double valid_loss) {
        const double bleu = greedy_bleu(b, valid_data, data->valid_ref_text, opt_.bleu_lowercase);
        r.valid_bleu.push_back({step, bleu});
        char buf[160];
        std::snprintf(buf, sizeof buf, "validation at step %zu: loss %.4f greedy BLEU %.2f", step, valid_loss, bleu);
        log << buf << std::endl;
        return bleu;
      };
    }
    o.diagnostics_every = opt_.diagnostics_every;
    if (o.diagnostics_every == 0)
      o.diagnostics_every = o.eval_every ? o.eval_every : std::max<std::size_t>(1, o.steps / 50);
    TrainResult t;
    std::string diverged;  // TrainingDiverged's message: which step and batch, what was not finite
    try {
      t = train(*b.model, train_data, valid_data, o, on_progress);
    } catch (const TrainingDiverged& e) {
      diverged = e.what();
      t.steps = e.step() - 1;
    }
    r.time_limit_reached = t.time_limit_reached;
    r.steps = t.steps;
    r.train_tokens = t.tokens;
    r.seconds = t.seconds;
    r.tokens_per_s = t.seconds > 0 ? t.tokens / t.seconds : 0;
    r.train_loss = t.train_loss;
    r.valid_loss = t.valid_loss;
    r.best_step = t.best_step;
    r.best_seconds = t.best_seconds;
    r.stopped_early = t.stopped_early;
    r.diagnostics = t.diagnostics;
    r.test_src_len.clear();
    for (std::size_t i = 0; i < data->test.size(); ++i)
      r.test_src_len.push_back(static_cast<int>(source_.corpus ? count_words(data->test_src_text[i])
                                                                : data->test[i].src.size()));

    if (!diverged.empty()) {
      r.status = "diverged";
      r.exact_match = r.token_accuracy = r.perplexity = NAN;
      log << "diverged: " << diverged << "\n";
    } else if (source_.corpus) {
      score_corpus(r, b, *data, test_data, log);
    } else {
      SearchOptions search;
      search.keep_attention = true;
      const EvalResult e = evaluate(*b.model, test_data, 128, true, search);
      r.exact_match = e.exact_match;
      r.token_accuracy = e.token_accuracy;
      r.perplexity = e.perplexity;
      r.test_correct.resize(test_data.size());
      for (std::size_t i = 0; i < test_data.size(); ++i)
        r.test_correct[i] = e.hypotheses[i].finished && e.hypotheses[i].tokens == test_data[i].tgt;
      alignment_statistics(r, data->test, e.hypotheses, source_.alignment, opt_.alignment_sentences);
      for (std::size_t i : sample_indices(data->test, opt_.heatmap_sentences)) {
        AttentionSample s;
        s.index = i;
        s.src = data->test[i].src;
        s.ref = data->test[i].tgt;
        s.out = b.tgt_vocab.decode(e.hypotheses[i].tokens);
        s.weights = e.hypotheses[i].attention;
        s.correct = r.test_correct[i] != 0;
        r.samples.push_back(std::move(s));
      }
      r.status = std::isfinite(e.perplexity) ? "ok" : "diverged";
      char buf[160];
      std::snprintf(buf, sizeof buf, "test: exact match %.4f token accuracy %.4f perplexity %.4f",
                    r.exact_match, r.token_accuracy, r.perplexity);
      log << buf << "\n";
    }
    b.info = data->info;
    b.info["compare-run"] = spec.name();
    b.info["seed"] = std::to_string(spec.seed);
    b.info["steps"] = std::to_string(r.steps);
    b.info["status"] = r.status;
    b.info["lr"] = rate_text(o.optimizer.lr);
    if (r.corpus && std::isfinite(r.bleu)) b.info["test-bleu"] = std::to_string(r.bleu);
    save_model((fs::path(r.run_dir) / "model.safetensors").string(), b);
    write_file_atomic((fs::path(r.run_dir) / "metrics.json").string(), to_json(r).dump(1) + "\n");
    log << "saved " << (fs::path(r.run_dir) / "model.safetensors").string() << "\n";
  }

  // The test figures of a corpus run: detokenised BLEU (greedy or beam) with per-sentence
  // statistics, token accuracy and perplexity of the references (teacher-forced), attention
  // entropy and a few attention samples with their text.
  void score_corpus(RunResult& r, const ModelBundle& b, const CompareData& data,
                    const std::vector<EncodedPair>& test_data, std::ostream& log) const {
    SearchOptions search;
    search.keep_attention = true;
    EvalResult e = evaluate(*b.model, test_data, 128, true, search);
    search.beam = opt_.beam;
    search.length_penalty = opt_.length_penalty;
    std::vector<Hypothesis> hyps = opt_.beam > 1 ? best_hypotheses(*b.model, test_data, search) : std::move(e.hypotheses);
    r.token_accuracy = e.token_accuracy;
    r.perplexity = e.perplexity;
    std::vector<std::string> texts(hyps.size());
    BleuStats total;
    r.test_bleu.resize(hyps.size());
    r.test_correct.resize(hyps.size());
    std::size_t exact = 0;
    for (std::size_t i = 0; i < hyps.size(); ++i) {
      texts[i] = output_text(b, hyps[i]);
      r.test_bleu[i] = bleu_stats(texts[i], data.test_ref_text[i], opt_.bleu_lowercase);
      total += r.test_bleu[i];
      r.test_correct[i] = hyps[i].finished && hyps[i].tokens == test_data[i].tgt;
      exact += r.test_correct[i];
    }
    r.exact_match = hyps.empty() ? 0 : double(exact) / hyps.size();
    r.bleu = bleu_score(total);
    r.bleu_line = bleu_from_counts(total.counts, total.totals, total.hyp_len, total.ref_len).format();
    alignment_statistics(r, data.test, hyps, "", opt_.alignment_sentences);
    for (std::size_t i : corpus_sample_indices(data.test, opt_.heatmap_sentences)) {
      AttentionSample s;
      s.index = i;
      s.src = data.test[i].src;
      s.ref = data.test[i].tgt;
      s.out = b.tgt_vocab.decode(hyps[i].tokens);
      s.weights = hyps[i].attention;
      s.correct = r.test_correct[i] != 0;
      s.src_text = data.test_src_text[i];
      s.ref_text = data.test_ref_text[i];
      s.out_text = texts[i];
      r.samples.push_back(std::move(s));
    }
    r.status = std::isfinite(e.perplexity) ? "ok" : "diverged";
    char buf[160];
    std::snprintf(buf, sizeof buf, "test (%zu pairs, %s%s): ", hyps.size(),
                  opt_.beam > 1 ? ("beam " + std::to_string(opt_.beam)).c_str() : "greedy",
                  opt_.bleu_lowercase ? ", lower-cased BLEU" : "");
    log << buf << r.bleu_line;
    std::snprintf(buf, sizeof buf, "; token accuracy %.4f perplexity %.4f", r.token_accuracy, r.perplexity);
    log << buf << "\n";
  }

  const CompareOptions& opt_;
  const DataSource& source_;
  GridProgressFn progress_;
  SingleProcess alone_;
  Communicator& ranks_;
  fs::path claims_;  // under mpirun: OUT/.claims-<id>, this job's claim files and finished markers
  double peers_read_at_ = -1;
  std::size_t peers_finished_ = 0, peers_failed_ = 0;
  std::mutex data_mutex_, status_mutex_;
  std::map<std::uint64_t, std::shared_ptr<const CompareData>> data_;
  std::map<std::string, GridStatus::Running> running_;
  GridStatus status_;
  std::size_t done_steps_ = 0, expected_steps_ = 0;
  Clock::time_point start_ = Clock::now();
};

}  // namespace

CompareResult run_compare(const CompareOptions& options, const DataSource& source,
                          const GridProgressFn& progress) {
  Runner runner(options, source, progress);
  return runner.run();
}

}  // namespace attend
