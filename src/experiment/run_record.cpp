#include "run_record.hpp"

#include <cmath>
#include <filesystem>
#include <ostream>
#include <fstream>
#include <map>

#include "attend/experiment/grid_axis.hpp"
#include "attend/experiment/run.hpp"

namespace attend {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string to_string(RunStatus status) {
  switch (status) {
    case RunStatus::Ok: return "ok";
    case RunStatus::Diverged: return "diverged";
    case RunStatus::Failed: return "failed";
  }
  return "?";
}

RunStatus parse_run_status(const std::string& name) {
  for (RunStatus s : {RunStatus::Ok, RunStatus::Diverged, RunStatus::Failed})
    if (to_string(s) == name) return s;
  throw Error("unknown run status '" + name + "' (valid: ok, diverged, failed)");
}

std::ostream& operator<<(std::ostream& out, RunStatus status) { return out << to_string(status); }

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

}  // namespace

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
          {"seed", r.spec.seed},
          {"status", to_string(r.status)},
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
          {"attention_zero_share", r.attention_zero_share},
          {"attention_support", r.attention_support},
          {"samples", samples},
          {"lr", r.spec.lr},
          {"best_step", r.best_step},
          {"best_seconds", r.best_seconds},
          {"stopped_early", r.stopped_early},
          {"diagnostics", diagnostics_json(r.diagnostics)}};
  for (const GridAxis& axis : grid_axes())
    if (const std::string* value = axis_value(r.spec.variant, axis)) j[axis.field] = *value;
  if (!r.training.empty()) j["training"] = r.training;  // absent without --for, as before rules existed
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
    if (!r.test_chrf.empty()) {
      // Per test sentence, per chrF order (characters 1-6): hypothesis n-grams, reference
      // n-grams, matches, flattened.
      json chrf = json::array();
      for (const auto& sentence : r.test_chrf) {
        json flat = json::array();
        for (const auto& o : sentence) flat.push_back(o[0]), flat.push_back(o[1]), flat.push_back(o[2]);
        chrf.push_back(flat);
      }
      j["test"]["chrf"] = num_or_null(r.chrf);
      j["test_chrf_stats"] = chrf;
    }
    j["valid_bleu_curve"] = curve_json(r.valid_bleu);
    j["time_limit_reached"] = r.time_limit_reached;
  }
  return j;
}

RunResult from_json(const json& j, const RunSpec& spec) {
  RunResult r;
  r.spec = spec;
  r.status = parse_run_status(j.at("status").get<std::string>());
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
  // Recorded since the normalizer choice (issue 28); older runs have neither.
  r.attention_zero_share = num_from(j, "attention_zero_share", -1);
  r.attention_support = num_from(j, "attention_support", -1);
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
    if (j.contains("test_chrf_stats")) {
      r.chrf = num_from(t, "chrf");
      for (const auto& x : j.at("test_chrf_stats")) {
        ChrfStatistics st(x.size() / 3);
        for (std::size_t o = 0; o < st.size(); ++o)
          for (std::size_t c = 0; c < 3; ++c) st[o][c] = x.at(3 * o + c).get<std::size_t>();
        r.test_chrf.push_back(std::move(st));
      }
    }
    r.valid_bleu = curve_from(j.at("valid_bleu_curve"));
    r.time_limit_reached = j.value("time_limit_reached", false);
  }
  r.best_step = j.value("best_step", std::size_t(0));
  r.best_seconds = j.value("best_seconds", 0.0);
  r.stopped_early = j.value("stopped_early", false);
  if (j.contains("diagnostics")) r.diagnostics = diagnostics_from(j.at("diagnostics"));
  if (j.contains("training")) r.training = j.at("training").get<std::map<std::string, std::string>>();
  r.resumed = true;
  return r;
}

bool read_finished(const fs::path& dir, const RunSpec& spec, RunResult& r,
                   const std::map<std::string, std::string>& training) {
  const fs::path file = dir / "metrics.json";
  if (!fs::exists(file)) return false;
  try {
    std::ifstream in(file);
    const json j = json::parse(in);
    if (!j.value("complete", false)) return false;
    if (parse_run_status(j.at("status").get<std::string>()) == RunStatus::Failed) return false;
    const auto recorded = j.contains("training") ? j.at("training").get<std::map<std::string, std::string>>()
                                                 : std::map<std::string, std::string>{};
    if (recorded != training) return false;  // the --for rules give this variant other settings now
    r = from_json(j, spec);
    r.run_dir = dir.string();
    return true;
  } catch (const std::exception&) {
    return false;  // damaged: train again
  }
}

}  // namespace attend
