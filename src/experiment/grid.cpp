#include "attend/experiment/grid.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "attend/core/error.hpp"
#include "attend/experiment/grid_axis.hpp"
#include "attend/nn/encoder.hpp"
#include "grid_file.hpp"
#include "rate_name.hpp"

namespace attend {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string Variant::name() const {
  std::string n;
  for (const GridAxis& axis : grid_axes()) {
    const std::string* value = axis_value(*this, axis);
    if (!value || (axis.unnamed && (value->empty() || *value == axis.unnamed))) continue;
    n += axis.name_prefix + *value;
  }
  return n;
}

std::string rate_name(double lr) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%g", lr);
  return buf;
}

std::string RunSpec::name() const {
  std::string n = variant.name() + (lr > 0 ? "-lr" + rate_name(lr) : "") + "-s" + std::to_string(seed);
  std::replace(n.begin(), n.end(), '/', '_');  // a directory name
  return n;
}

namespace {

// The variants below `variant` (whose axes nested outside axes[k] are set, as in `config`).
void expand(const CompareOptions& o, const std::vector<const GridAxis*>& axes, std::size_t k,
            const Variant& variant, const ModelConfig& config, std::vector<Variant>& variants) {
  if (k == axes.size()) {
    variants.push_back(variant);
    return;
  }
  const GridAxis& axis = *axes[k];
  if (axis.applies && !axis.applies(config)) {
    Variant v = variant;
    set_axis_value(v, axis, axis.unnamed ? axis.unnamed : "");
    expand(o, axes, k + 1, v, config, variants);
    return;
  }
  for (const std::string& value : *axis_values(o, axis)) {
    Variant v = variant;
    set_axis_value(v, axis, value);
    ModelConfig c = config;
    apply_axis(axis, c, value);
    expand(o, axes, k + 1, v, c, variants);
  }
}

}  // namespace

std::vector<Variant> grid_variants(const CompareOptions& o) {
  std::vector<const GridAxis*> varied;
  for (const GridAxis& axis : grid_axes())
    if (axis_values(o, axis)) varied.push_back(&axis);
  std::stable_sort(varied.begin(), varied.end(),
                   [](const GridAxis* a, const GridAxis* b) { return a->nesting < b->nesting; });
  std::vector<Variant> variants;
  expand(o, varied, 0, Variant{}, o.model, variants);
  if (o.only.empty()) return variants;
  std::vector<Variant> kept;
  for (const Variant& v : variants)
    if (std::any_of(o.only.begin(), o.only.end(), [&](const TrainRule& sel) { return rule_matches(o, sel, v); }))
      kept.push_back(v);
  return kept;
}

std::vector<RunSpec> grid_runs(const CompareOptions& o) {
  std::vector<RunSpec> runs;
  for (const Variant& v : grid_variants(o)) {
    const std::vector<double> rates = variant_training(o, v).lr_grid;
    if (!rates.empty()) {
      for (double lr : rates) runs.push_back({v, o.first_seed, lr});
      continue;
    }
    for (std::size_t i = 0; i < o.seeds; ++i) runs.push_back({v, o.first_seed + i});
  }
  return runs;
}

std::size_t planned_runs(const CompareOptions& o) {
  std::size_t runs = 0;
  for (const Variant& v : grid_variants(o)) {
    const std::size_t rates = variant_training(o, v).lr_grid.size();
    runs += rates ? rates + (o.seeds ? o.seeds - 1 : 0) : o.seeds;
  }
  return runs;
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
  for (const GridAxis& axis : grid_axes())
    if (const std::string* value = axis_value(v, axis))
      apply_axis(axis, c, value->empty() && axis.unnamed ? axis.unnamed : *value);
  // In a grid across encoders, --bidirectional means "the recurrent encoders are bidirectional":
  // an encoder without a direction (transformer: each position attends to both sides) ignores it.
  if (encoder_known(c.encoder) && !encoder_traits(c.encoder).has_direction) c.bidirectional = false;
  // Likewise across decoders: --decoder-layers and --tie-embeddings are the Transformer decoders'.
  if (decoder_known(c.decoder) && decoder_traits(c.decoder).style != DecoderStyle::Transformer) {
    c.decoder_layers = 0;
    c.tie_embeddings = false;
  }
  return c;
}

}  // namespace

bool rule_matches(const CompareOptions& o, const TrainRule& rule, const Variant& v) {
  const ModelConfig c = config_of(o, v);
  for (const auto& [field, value] : rule.match) {
    const GridAxis* axis = nullptr;
    for (const GridAxis& a : grid_axes())
      if (a.field == field) axis = &a;
    if (!axis) return false;
    if (axis->applies && !axis->applies(c)) return false;
    for (const ModelField& f : model_fields())
      if (f.key == field && f.get(c) != value) return false;
  }
  return true;
}

VariantTraining variant_training(const CompareOptions& o, const Variant& v) {
  VariantTraining t;
  t.train = o.train;
  t.lr_grid = o.lr_grid;
  for (const TrainRule& rule : o.rules) {
    if (!rule_matches(o, rule, v)) continue;
    t.rules.push_back(rule.text);
    for (const auto& [key, value] : rule.settings) {
      // lr and lr-grid are one setting, the rate: the later rule's replaces the other.
      if (key == "lr") t.settings.erase("lr-grid");
      if (key == "lr-grid") t.settings.erase("lr");
      t.settings[key] = value;
    }
  }
  TrainOptions& x = t.train;
  for (const auto& [key, value] : t.settings) {
    if (key == "lr") {
      x.optimizer.lr = std::stod(value);
      t.lr_grid.clear();
    } else if (key == "lr-grid") {
      t.lr_grid.clear();
      std::string cur;
      for (char c : value + ",")
        if (c == ',') {
          t.lr_grid.push_back(std::stod(cur));
          cur.clear();
        } else {
          cur += c;
        }
    } else if (key == "warmup") {
      x.lr_schedule.warmup = std::stoull(value);
    } else if (key == "lr-schedule") {
      x.lr_schedule.schedule = parse_lr_schedule(value);
    } else if (key == "label-smoothing") {
      x.label_smoothing = std::stod(value);
    } else if (key == "dropout") {
      t.dropout = std::stod(value);
    } else if (key == "clip") {
      x.clip = std::stod(value);
    } else if (key == "teacher-forcing") {
      x.teacher_forcing = std::stod(value);
    } else if (key == "lr-decay") {
      x.lr_decay = std::stod(value);
    } else if (key == "optimizer") {
      x.optimizer.kind = parse_optimizer(value);
    } else if (key == "momentum") {
      x.optimizer.momentum = std::stod(value);
    }
  }
  return t;
}

ModelConfig variant_config(const CompareOptions& o, const Variant& v) {
  ModelConfig c = config_of(o, v);
  const VariantTraining t = variant_training(o, v);
  if (t.dropout >= 0) c.dropout = t.dropout;
  return c;
}

SearchOptions CompareOptions::test_search() const {
  SearchOptions search;
  search.beam = beam;
  search.length_penalty = length_penalty;
  return search;
}

void validate_grid(const CompareOptions& o) {
  o.test_search().validate();
  for (const GridAxis& axis : grid_axes())
    if (const auto* values = axis_values(o, axis)) check_axis(*values, std::string("--") + axis.option);
  for (const GridAxis& axis : grid_axes())
    if (const auto* values = axis_values(o, axis))
      for (const auto& value : *values) {
        ModelConfig scratch;
        apply_axis(axis, scratch, value);
      }
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
    if (!(lr > 0) || !std::isfinite(lr)) throw Error("--lr-grid: every rate must be positive (got " + rate_name(lr) + ")");
    if (!rates.insert(lr).second) throw Error("--lr-grid names " + rate_name(lr) + " twice");
  }
  if (!o.only.empty()) {
    CompareOptions all = o;
    all.only.clear();
    const std::vector<Variant> product = grid_variants(all);
    for (const TrainRule& sel : o.only)
      if (std::none_of(product.begin(), product.end(), [&](const Variant& v) { return rule_matches(o, sel, v); })) {
        std::string names;
        for (const Variant& v : product) names += (names.empty() ? "" : ", ") + v.name();
        throw Error("--only '" + sel.text + "' matches no variant of the axes (variants: " + names + ")");
      }
  }
  for (const TrainRule& rule : o.rules) {
    bool any = false;
    for (const Variant& v : grid_variants(o)) any = any || rule_matches(o, rule, v);
    if (!any) {
      std::string names;
      for (const Variant& v : grid_variants(o)) names += (names.empty() ? "" : ", ") + v.name();
      throw Error("--for '" + rule.text + "' matches no variant of the grid (variants: " + names + ")");
    }
  }
  for (const Variant& v : grid_variants(o)) {
    const VariantTraining t = variant_training(o, v);
    try {
      validate(t.train);
    } catch (const Error& e) {
      throw Error("variant " + v.name() + (t.rules.empty() ? "" : " (with --for '" + t.rules.back() + "')") + ": " +
                  e.what());
    }
    ModelConfig c = variant_config(o, v);
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
  std::set<std::string> varied;  // the model fields the axes set per variant
  for (const GridAxis& axis : grid_axes()) {
    const auto* values = axis_values(o, axis);
    if (!values) continue;
    varied.insert(axis.field);
    if (axis.signed_when_unnamed || !axis.unnamed || *values != std::vector<std::string>{axis.unnamed})
      s[axis.signature_key] = join(*values, ",");
  }
  s["grid.seeds"] = std::to_string(o.seeds);
  s["grid.first_seed"] = std::to_string(o.first_seed);
  for (const auto& [k, v] : o.model.to_map()) {
    if (varied.count(k) || k == "src_vocab" || k == "tgt_vocab") continue;
    if (k == "max_src_len" && !o.max_src_len_given) continue;
    s["model." + k] = v;
  }
  const TrainOptions& t = o.train;
  auto num = [](double x) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", x);
    return std::string(buf);
  };
  s["train.optimizer"] = to_string(t.optimizer.kind);
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
  // Absent at their defaults, so grids written before the schedule existed still resume.
  if (t.lr_schedule.warmup) s["train.warmup"] = std::to_string(t.lr_schedule.warmup);
  if (t.lr_schedule.schedule != LrSchedule::Constant) s["train.lr_schedule"] = to_string(t.lr_schedule.schedule);
  // The --for rules: changeable like an axis (is_grid_axis); each run records the settings the
  // rules gave it and retrains when they differ, so a variant no changed rule touches keeps its runs.
  if (!o.only.empty()) {
    std::vector<std::string> only;
    for (const TrainRule& r : o.only) only.push_back(r.text);
    s["grid.only"] = join(only, " ; ");
  }
  if (!o.rules.empty()) {
    std::vector<std::string> rules;
    for (const TrainRule& r : o.rules) rules.push_back(r.text);
    s["grid.for"] = join(rules, " ; ");
  }
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
  // A grid written before a model option existed ran with its default.
  const std::map<std::string, std::string> defaults = ModelConfig().to_map();
  for (const auto& k : keys) {
    auto a = stored.find(k), b = current.find(k);
    std::string va = a == stored.end() ? "(absent)" : a->second;
    if (a == stored.end() && k.rfind("model.", 0) == 0) {
      const auto d = defaults.find(k.substr(6));
      if (d != defaults.end()) va = d->second;
    }
    const std::string vb = b == current.end() ? "(absent)" : b->second;
    if (va != vb) diff.push_back(k + ": " + va + " \u2192 " + vb);
  }
  return diff;
}

bool is_grid_axis(const std::string& key) {
  if (key == "grid.seeds" || key == "grid.for" || key == "grid.only") return true;
  for (const GridAxis& axis : grid_axes())
    if (key == axis.signature_key) return true;
  return false;
}

std::map<std::string, std::string> read_grid_file(const fs::path& file) {
  try {
    std::ifstream in(file);
    return json::parse(in).at("signature").get<std::map<std::string, std::string>>();
  } catch (const std::exception& e) {
    throw Error("'" + file.string() + "' is damaged (" + e.what() +
                "); remove it or pass --force to start this grid afresh");
  }
}

std::pair<std::vector<std::string>, std::vector<std::string>> split_differences(
    const std::map<std::string, std::string>& stored, const std::map<std::string, std::string>& current) {
  std::pair<std::vector<std::string>, std::vector<std::string>> out;
  for (const auto& d : signature_differences(stored, current))
    (is_grid_axis(d.substr(0, d.find(':'))) ? out.first : out.second).push_back(d);
  return out;
}

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

namespace {

std::size_t longest_source(const CompareData& d) {
  std::size_t n = 0;
  for (const auto* split : {&d.train, &d.valid, &d.test})
    for (const auto& e : *split) n = std::max(n, e.src.size());
  return n;
}

}  // namespace

std::unique_ptr<Seq2Seq<float>> build_model(const CompareOptions& o, const Variant& v,
                                            std::uint64_t seed, const CompareData& data) {
  ModelConfig c = variant_config(o, v);
  c.fit_to_vocabularies(data.src_vocab.size(), data.tgt_vocab.size(), data.shared_vocab);
  c.fit_to_data(longest_source(data), o.max_src_len_given);
  return std::make_unique<Seq2Seq<float>>(c, seed);
}

}  // namespace attend
