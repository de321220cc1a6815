#include "attend/experiment/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "attend/core/atomic_file.hpp"
#include "attend/core/error.hpp"
#include "length_buckets.hpp"
#include "report_text.hpp"

namespace attend {

using report::fmt;

namespace {

using json = nlohmann::json;

std::string pct(double x) { return std::isfinite(x) ? fmt("%.1f", 100 * x) : "NaN"; }

std::string pct_ms(const MeanStd& m) {
  if (m.n == 0) return "—";
  return pct(m.mean) + (m.n > 1 ? " ± " + pct(m.std) : "");
}

std::string num_ms(const MeanStd& m, const char* f = "%.3f") {
  if (m.n == 0) return "—";
  return fmt(f, m.mean) + (m.n > 1 ? " ± " + fmt(f, m.std) : "");
}

std::string p_text(const VariantSummary& v) {
  if (v.is_best) return "best";
  if (!v.compared) return "—";
  return v.vs_best.p_value < 0.001 ? "< 0.001" : fmt("%.3f", v.vs_best.p_value);
}

std::string delta_text(const VariantSummary& v) {
  if (v.is_best || !v.compared) return "—";
  return fmt("%+.1f", 100 * v.vs_best.delta);
}

std::string esc(const std::string& s) { return xml_escape(s); }

std::string joined(const std::vector<std::string>& tokens) {
  std::string s;
  for (const auto& t : tokens) s += t;
  return s;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string duration(double s) {
  if (!std::isfinite(s)) return "—";
  if (s < 60) return fmt("%.1f s", s);
  const long long t = std::llround(s);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%lld:%02lld min", t / 60, t % 60);
  return buf;
}

}  // namespace

// ---- text reports -------------------------------------------------------------------------------

namespace {

std::string bleu_ms(const MeanStd& m) { return num_ms(m, "%.2f"); }

std::string delta_bleu_text(const VariantSummary& v) {
  if (v.is_best || !v.compared) return "—";
  return fmt("%+.2f", v.vs_best.delta);
}

// What the BLEU figures are, in one sentence.
std::string bleu_definition(const CompareSummary& s) {
  return std::string("BLEU: corpus BLEU of the detokenised test outputs (") +
         (s.beam > 1 ? "beam " + std::to_string(s.beam) : std::string("greedy decoding")) +
         ") against the test references, computed as sacreBLEU does by default (13a tokenisation, "
         "exp smoothing" + (s.bleu_lowercase ? ", lower-cased" : "") + ")";
}

// The headline metric of a grid: exact match on toy tasks, corpus BLEU on parallel files. The
// Markdown and CSV writers are the same for both apart from what this names.
struct Headline {
  const char* column;     // Markdown column, e.g. "exact match"
  const char* by_length;  // prefix of the by-length columns, e.g. "EM len"
  const char* delta;      // "ΔEM vs best"
  const char* csv;        // CSV stem, e.g. "exact_match"
  const char* csv_len;    // CSV by-length stem, e.g. "em_len"
  const char* csv_delta;  // "delta_em_vs_best"
  const MeanStd VariantSummary::*value;
  std::string (*format)(const MeanStd&);
  std::string (*delta_text)(const VariantSummary&);
};

Headline headline_of(const CompareSummary& s) {
  if (s.corpus)
    return {"BLEU", "BLEU len", "\u0394BLEU vs best", "bleu", "bleu_len", "delta_bleu_vs_best",
            &VariantSummary::bleu, bleu_ms, delta_bleu_text};
  return {"exact match", "EM len", "\u0394EM vs best", "exact_match", "em_len", "delta_em_vs_best",
          &VariantSummary::exact_match, pct_ms, delta_text};
}

std::string p_value_text(double p) {
  if (std::isnan(p)) return "—";
  return p < 0.001 ? "< 0.001" : fmt("%.3f", p);
}

// The tests across seeds of a variant against the best: "n/a" with fewer than 3 paired seeds.
std::string sign_flip_text(const VariantSummary& v) {
  if (v.is_best) return "best";
  if (!v.seeds_vs_best.judged()) return "n/a";
  return p_value_text(v.seeds_vs_best.sign_flip_p);
}
std::string t_test_text(const VariantSummary& v) {
  if (v.is_best) return "best";
  if (!v.seeds_vs_best.judged()) return "n/a";
  return p_value_text(v.seeds_vs_best.t.p);
}

std::string rate_text(double lr) { return lr > 0 ? fmt("%g", lr) : "—"; }

std::string steps_ms(const MeanStd& m) { return num_ms(m, "%.0f"); }

std::string validation_text(const CompareSummary& s, double x) {
  if (!std::isfinite(x)) return "—";
  return s.corpus ? fmt("%.2f", x) : fmt("%.4f", x);
}

// What the seed tests could judge, in one sentence.
std::string seed_note(const CompareSummary& s) {
  if (s.max_seeds >= SeedTest::kMinSeeds) return "";
  return "With " + std::to_string(s.max_seeds) + " successful seed" + (s.max_seeds == 1 ? "" : "s") +
         " per variant the variance between seeds cannot be judged: the tests across seeds need at least " +
         std::to_string(SeedTest::kMinSeeds) + " (“n/a”), and the bootstrap alone covers only the "
         "sampling of test sentences.";
}

std::string budget_sentence(const CompareSummary& s) {
  if (s.budget.empty()) return "";
  if (s.converge)
    return "Budget: " + s.budget + "; each run stops when its " + s.validation_metric +
           " has not improved for that many validations and is reported at its best validation checkpoint "
           "(“best step”, “time to best”: when it reached it).";
  return "Budget: " + s.budget + " (a fixed number of steps); each run is reported at its best validation "
         "checkpoint within it.";
}

// Gold-aligned attention mass exists only for toy tasks with a known alignment.
bool has_gold(const CompareSummary& s) { return !s.corpus; }

// The groups of a diagnostics field over all runs, known ones first in reading order.
std::vector<std::string> diagnostic_groups(const CompareSummary& s,
                                           std::map<std::string, double> DiagnosticsPoint::*field,
                                           const std::vector<std::string>& preferred) {
  std::set<std::string> seen;
  for (const auto& v : s.variants)
    for (const RunResult* r : v.runs)
      for (const auto& p : r->diagnostics)
        for (const auto& kv : p.*field) seen.insert(kv.first);
  std::vector<std::string> groups;
  for (const auto& g : preferred)
    if (seen.erase(g)) groups.push_back(g);
  groups.insert(groups.end(), seen.begin(), seen.end());
  return groups;
}

double group_value(const std::map<std::string, double>& m, const std::string& g) {
  const auto it = m.find(g);
  return it == m.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
}

// "Why" in the markdown report: each variant's diagnostics at its first recorded step and at the
// budget fractions of the ranking, mean over the successful runs (each run's last point at or
// before the step), so a reader sees the saturation and attention behind a slow start.
void write_diagnostics_markdown(const CompareSummary& s, std::ostream& out) {
  std::size_t first = std::numeric_limits<std::size_t>::max();
  for (const auto& v : s.variants)
    for (const RunResult* r : v.runs)
      if (!r->diagnostics.empty()) first = std::min(first, r->diagnostics.front().step);
  if (first == std::numeric_limits<std::size_t>::max()) return;  // no run recorded any
  std::set<std::size_t> steps{first};
  for (const auto& r : s.rankings)
    if (r.step > first) steps.insert(r.step);
  const auto sat = diagnostic_groups(s, &DiagnosticsPoint::saturation,
                                     {"h~", "decoder gates", "decoder candidates", "encoder gates", "encoder candidates"});
  const auto grad = diagnostic_groups(s, &DiagnosticsPoint::grad_norm,
                                      {"attention", "encoder", "decoder", "output", "embedding"});
  out << "\n## Why: training diagnostics\n\nOn each step's training batch, mean over the seeds (each run's last "
         "point at or before the step): the share of saturated units (|tanh| > 0.99, a sigmoid outside "
         "[0.01, 0.99]) in %, the attention entropy in nats (in brackets ln S of the same batch, a uniform "
         "attention's), and the gradient norm per parameter group before clipping. A saturated layer or an "
         "attention collapsed onto one position passes little gradient back, which is what a slow start looks "
         "like.\n\n| variant | step |";
  for (const auto& g : sat) out << " " << g << " saturated |";
  out << " attention entropy |";
  for (const auto& g : grad) out << " \u2016grad\u2016 " << g << " |";
  out << "\n|---|---|";
  for (std::size_t i = 0; i < sat.size() + 1 + grad.size(); ++i) out << "---|";
  out << "\n";
  for (const auto& v : s.variants)
    for (std::size_t step : steps) {
      std::vector<const DiagnosticsPoint*> at;
      for (const RunResult* r : v.runs) {
        if (r->status != "ok") continue;
        const DiagnosticsPoint* last = nullptr;
        for (const auto& p : r->diagnostics)
          if (p.step <= step) last = &p;
        if (last) at.push_back(last);
      }
      if (at.empty()) continue;
      auto mean_of = [&](auto get) {
        std::vector<double> xs;
        for (const auto* p : at) {
          const double x = get(*p);
          if (std::isfinite(x)) xs.push_back(x);
        }
        return mean_std(xs);
      };
      const double nan = std::numeric_limits<double>::quiet_NaN();
      out << "| " << v.name << " | " << step << " |";
      for (const auto& g : sat) {
        const MeanStd m = mean_of([&](const DiagnosticsPoint& p) { return group_value(p.saturation, g); });
        out << " " << (m.n ? pct(m.mean) : "\u2014") << " |";
      }
      const MeanStd ent = mean_of([&](const DiagnosticsPoint& p) { return p.attention_entropy < 0 ? nan : p.attention_entropy; });
      const MeanStd uni = mean_of([&](const DiagnosticsPoint& p) { return p.uniform_entropy < 0 ? nan : p.uniform_entropy; });
      out << " " << (ent.n ? fmt("%.3f", ent.mean) + (uni.n ? " (" + fmt("%.2f", uni.mean) + ")" : "") : "\u2014") << " |";
      for (const auto& g : grad) {
        const MeanStd m = mean_of([&](const DiagnosticsPoint& p) { return group_value(p.grad_norm, g); });
        out << " " << (m.n ? fmt("%.2e", m.mean) : "\u2014") << " |";
      }
      out << "\n";
    }
}

std::string contrast_delta_text(const CompareSummary& s, const CompareSummary::AxisContrast& c) {
  if (!c.test.compared) return "\u2014";
  return s.corpus ? fmt("%+.2f", c.test.bootstrap.delta) : fmt("%+.1f", 100 * c.test.bootstrap.delta);
}
std::string contrast_bootstrap_text(const CompareSummary::AxisContrast& c) {
  return c.test.compared ? p_value_text(c.test.bootstrap.p_value) : "\u2014";
}
std::string contrast_sign_flip_text(const CompareSummary::AxisContrast& c) {
  return c.test.seeds.judged() ? p_value_text(c.test.seeds.sign_flip_p) : "n/a";
}
std::string contrast_t_test_text(const CompareSummary::AxisContrast& c) {
  return c.test.seeds.judged() ? p_value_text(c.test.seeds.t.p) : "n/a";
}
// Markdown's code spans, for the HTML page.
std::string without_backticks(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), '`'), text.end());
  return text;
}
std::string contrast_heading(const std::string& axis, const std::string& reference) {
  return "The " + axis + " axis: each variant against its `" + reference + "` twin";
}
std::string contrast_intro(const std::string& axis, const std::string& reference) {
  return "Each variant against the variant that differs from it only in its " + axis + " and has `" + reference +
         "`, the grid's first " + axis + ": the same attention, the rest of the model, data, seeds and budget. "
         "\u0394 = variant \u2212 twin (positive: the variant is better), with the tests of the results table on "
         "the pair.";
}
// The Learning rates section's remark on a two-rate grid ("" otherwise).
std::string two_rates_sentence(const CompareSummary& s) {
  return s.lr_grid.size() == 2
             ? " With two rates every choice is at an end of the grid: a rate beyond it was not tried and may be better."
             : "";
}

void write_contrasts_markdown(const CompareSummary& s, std::ostream& out) {
  if (s.contrasts.empty()) return;
  const Headline h = headline_of(s);
  std::string axis;
  for (const auto& c : s.contrasts) {
    if (c.axis != axis) {
      axis = c.axis;
      out << "\n## " << contrast_heading(axis, c.reference_value) << "\n\n" << contrast_intro(axis, c.reference_value)
          << "\n\n| variant | twin | " << h.column << " | twin's " << h.column << " | \u0394 | p (bootstrap) | p (sign-flip, seeds) | p (t-test, seeds) |\n|---|---|---|---|---|---|---|---|\n";
    }
    const VariantSummary& v = s.variants[c.variant];
    const VariantSummary& r = s.variants[c.reference];
    out << "| " << v.name << " | " << r.name << " | " << h.format(v.*h.value) << " | " << h.format(r.*h.value)
        << " | " << contrast_delta_text(s, c) << " | " << contrast_bootstrap_text(c) << " | "
        << contrast_sign_flip_text(c) << " | " << contrast_t_test_text(c) << " |\n";
    const bool last_of_axis = &c == &s.contrasts.back() || (&c + 1)->axis != axis;
    if (!last_of_axis) continue;
    out << "\n";
    for (const auto& [note_axis, text] : s.contrast_notes)
      if (note_axis == axis) out << "- " << text << "\n";
  }
}

}  // namespace

void write_markdown(const CompareSummary& s, std::ostream& out) {
  const Headline h = headline_of(s);
  out << "# attend compare: " << s.data_name << "\n\n";
  if (s.corpus) {
    if (!s.data_description.empty()) out << "Data: " << s.data_description << ".\n\n";
    out << bleu_definition(s) << ". Token accuracy (%) and perplexity of the test references under "
           "the model (teacher-forced). BLEU by source length in words, in buckets holding about equal "
           "numbers of test sentences. Mean \u00b1 sample standard deviation over the seeds that trained "
           "without diverging (runs column: successful/all). Source lengths in training: "
        << s.train_min_len << "\u2013" << s.train_max_len << " words; in the test split: " << s.test_min_len
        << "\u2013" << s.test_max_len << ".\n\n";
  } else {
    out << "Exact match (EM), token accuracy and EM by source length in %, mean \u00b1 sample standard "
           "deviation over the seeds that trained without diverging (runs column: successful/all). "
           "Source lengths in training: "
        << s.train_min_len << "\u2013" << s.train_max_len << "; in the test split: " << s.test_min_len
        << "\u2013" << s.test_max_len << ".\n\n";
  }
  if (!s.budget.empty()) out << budget_sentence(s) << "\n\n";
  const bool lr = !s.lr_grid.empty();
  out << "| variant | runs |" << (lr ? " lr |" : "") << " " << h.column << " | token acc. | perplexity |";
  for (const auto& b : s.buckets) out << " " << h.by_length << " " << b.label() << " |";
  out << " parameters | best step | time to best | train time | tokens/s | " << h.delta
      << " | p (bootstrap) | p (sign-flip, seeds) | p (t-test, seeds) |\n|---|---|---|---|---|"
      << (lr ? "---|" : "");
  for (std::size_t i = 0; i < s.buckets.size(); ++i) out << "---|";
  out << "---|---|---|---|---|---|---|---|---|\n";
  for (const auto& v : s.variants) {
    out << "| " << v.name << (v.is_best ? " **(best)**" : "") << (v.notes.empty() ? "" : " \u2020")
        << " | " << v.ok << "/" << v.runs.size() << " |" << (lr ? " " + rate_text(v.lr) + " |" : "") << " "
        << h.format(v.*h.value) << " | " << pct_ms(v.token_accuracy) << " | " << num_ms(v.perplexity) << " |";
    for (const auto& b : v.by_length) out << " " << h.format(b) << " |";
    out << " " << v.parameters << " | " << steps_ms(v.best_step) << " | "
        << (v.best_seconds.n ? duration(v.best_seconds.mean) : "—") << " | "
        << (v.seconds.n ? duration(v.seconds.mean) : "—") << " | "
        << (v.tokens_per_s.n ? fmt("%.0f", v.tokens_per_s.mean) : "—") << " | " << h.delta_text(v)
        << " | " << p_text(v) << " | " << sign_flip_text(v) << " | " << t_test_text(v) << " |\n";
  }
  bool any_note = false;
  for (const auto& v : s.variants)
    for (const auto& n : v.notes) {
      if (!any_note) out << "\n\u2020 Notes:\n\n";
      any_note = true;
      out << "- " << v.name << ": " << n << "\n";
    }
  out << "\nSignificance: " << (s.corpus ? bootstrap_bleu_method() : bootstrap_method()) << " Across seeds: "
      << seed_test_method() << "\n";
  if (!seed_note(s).empty()) out << "\n" << seed_note(s) << "\n";
  write_contrasts_markdown(s, out);
  if (lr) {
    out << "\n## Learning rates\n\nEvery variant trained at each rate on the first seed; the rate with the best "
        << s.validation_metric << " trained the other seeds (marked *). The test split played no part in the choice."
        << two_rates_sentence(s) << "\n\n"
        << "| variant |";
    for (double x : s.lr_grid) out << " lr " << fmt("%g", x) << " |";
    out << "\n|---|";
    for (std::size_t i = 0; i < s.lr_grid.size(); ++i) out << "---|";
    out << "\n";
    for (const auto& v : s.variants) {
      out << "| " << v.name << " |";
      for (double x : s.lr_grid) {
        std::string cell = "—";
        for (const auto& t : v.rates)
          if (t.lr == x)
            cell = t.status == "ok" ? validation_text(s, t.validation) + (t.chosen ? " *" : "") : t.status;
        out << " " << cell << " |";
      }
      out << "\n";
    }
  }
  if (!s.rankings.empty()) {
    out << "\n## Ranking at fractions of the budget\n\nBy " << s.validation_metric
        << ": each run's best validation figure up to that step (what a budget of that many steps would have "
           "kept), mean over seeds.\n\n| budget | step | ranking |\n|---|---|---|\n";
    for (const auto& r : s.rankings) {
      std::string order;
      for (const auto& [name, value] : r.order)
        order += (order.empty() ? "" : " > ") + name + " (" + validation_text(s, value) + ")";
      out << "| " << fmt("%.0f%%", 100 * r.fraction) << " | " << r.step << " | " << (order.empty() ? "—" : order) << " |\n";
    }
    out << "\n" << (s.ranking_changes ? "**" : "") << s.ranking_note << (s.ranking_changes ? "**" : "") << "\n";
  }
  write_diagnostics_markdown(s, out);
  out << "\n## Alignment\n\n" << s.alignment_note
      << " Entropy in nats per output token (a uniform distribution over the source has ln S; "
         "the column gives that mean for comparison).\n\n"
      << "| variant | attention entropy | uniform entropy |"
      << (has_gold(s) ? " mass on gold position |\n|---|---|---|---|\n" : "\n|---|---|---|\n");
  for (const auto& v : s.variants) {
    if (!v.has_attention) {
      out << "| " << v.name << " | no attention | — |" << (has_gold(s) ? " — |\n" : "\n");
      continue;
    }
    out << "| " << v.name << " | " << num_ms(v.attention_entropy) << " | " << num_ms(v.uniform_entropy) << " |";
    if (has_gold(s)) out << " " << (v.gold_mass.n ? pct_ms(v.gold_mass) + "%" : "—") << " |";
    out << "\n";
  }
  if (!s.failures.empty()) {
    out << "\n## Failed runs\n\n";
    for (const auto& [run, err] : s.failures) out << "- " << run << ": " << err << "\n";
  }
}

void write_csv(const CompareSummary& s, std::ostream& out) {
  const Headline h = headline_of(s);
  out << "variant,cell,attention,decoder,runs,runs_ok,runs_diverged,runs_failed," << h.csv << "_mean,"
      << h.csv << "_std,token_accuracy_mean,token_accuracy_std,perplexity_mean,perplexity_std";
  for (const auto& b : s.buckets)
    out << "," << h.csv_len << "_" << b.lo << "_" << b.hi << "_mean," << h.csv_len << "_" << b.lo << "_" << b.hi << "_std";
  out << ",parameters,train_seconds_mean,tokens_per_s_mean," << h.csv_delta << ",p_value_vs_best,"
      << "attention_entropy_mean," << (has_gold(s) ? "gold_mass_mean," : "") << "best,notes"
      << ",lr,best_step_mean,best_seconds_mean,stopped_early,seeds_paired,sign_flip_p_vs_best,t_test_p_vs_best";
  for (double x : s.lr_grid) out << ",validation_lr_" << fmt("%g", x);
  for (const auto& r : s.rankings) out << ",rank_at_" << fmt("%.0f", 100 * r.fraction) << "pct";
  out << "\n";
  auto n = [](const MeanStd& m, bool sd) { return m.n ? fmt("%.6g", sd ? m.std : m.mean) : std::string(); };
  for (const auto& v : s.variants) {
    const MeanStd& value = v.*h.value;
    out << csv_field(v.name) << "," << v.variant.cell << "," << v.variant.attention << ","
        << v.variant.decoder << "," << v.runs.size() << "," << v.ok << "," << v.diverged << ","
        << v.failed << "," << n(value, false) << "," << n(value, true) << ","
        << n(v.token_accuracy, false) << "," << n(v.token_accuracy, true) << ","
        << n(v.perplexity, false) << "," << n(v.perplexity, true);
    for (const auto& b : v.by_length) out << "," << n(b, false) << "," << n(b, true);
    std::string notes;
    for (const auto& x : v.notes) notes += (notes.empty() ? "" : "; ") + x;
    out << "," << v.parameters << "," << n(v.seconds, false) << "," << n(v.tokens_per_s, false)
        << "," << (v.compared ? fmt("%.6g", v.vs_best.delta) : "") << ","
        << (v.compared ? fmt("%.6g", v.vs_best.p_value) : "") << "," << n(v.attention_entropy, false)
        << "," << (has_gold(s) ? n(v.gold_mass, false) + "," : "") << (v.is_best ? 1 : 0) << ","
        << csv_field(notes);
    const bool judged = !v.is_best && v.seeds_vs_best.judged();
    out << "," << (v.lr > 0 ? fmt("%g", v.lr) : "") << "," << n(v.best_step, false) << "," << n(v.best_seconds, false)
        << "," << v.stopped_early << "," << v.seeds_vs_best.seeds << ","
        << (judged ? fmt("%.6g", v.seeds_vs_best.sign_flip_p) : "") << ","
        << (judged && std::isfinite(v.seeds_vs_best.t.p) ? fmt("%.6g", v.seeds_vs_best.t.p) : "");
    for (double x : s.lr_grid) {
      std::string cell;
      for (const auto& t : v.rates)
        if (t.lr == x && std::isfinite(t.validation)) cell = fmt("%.6g", t.validation);
      out << "," << cell;
    }
    for (const auto& r : s.rankings) {
      std::string rank;
      for (std::size_t k = 0; k < r.order.size(); ++k)
        if (r.order[k].first == v.name) rank = std::to_string(k + 1);
      out << "," << rank;
    }
    out << "\n";
  }
}

namespace {

json ms_json(const MeanStd& m) {
  if (m.n == 0) return nullptr;
  return {{"mean", m.mean}, {"std", m.std}, {"n", m.n}};
}

}  // namespace

void write_json(const CompareSummary& s, std::ostream& out) {
  json j;
  j["data"] = s.data_name;
  j["best"] = s.best;
  j["train_lengths"] = {s.train_min_len, s.train_max_len};
  j["test_lengths"] = {s.test_min_len, s.test_max_len};
  j["significance_method"] = bootstrap_method();
  j["alignment"] = s.alignment;
  j["alignment_note"] = s.alignment_note;
  if (s.corpus) {
    j["metric"] = "bleu";
    j["bleu_definition"] = bleu_definition(s);
    j["significance_method"] = bootstrap_bleu_method();
    j["data_description"] = s.data_description;
    j["length_unit"] = "words";
  }
  j["seed_test_method"] = seed_test_method();
  j["budget"] = s.budget;
  j["converge"] = s.converge;
  j["lr_grid"] = s.lr_grid;
  j["validation_metric"] = s.validation_metric;
  json rankings = json::array();
  for (const auto& r : s.rankings) {
    json order = json::array();
    for (const auto& [name, value] : r.order) order.push_back({{"variant", name}, {"validation", value}});
    rankings.push_back({{"fraction", r.fraction}, {"step", r.step}, {"order", order}});
  }
  j["rankings_by_budget"] = rankings;
  j["ranking_changes"] = s.ranking_changes;
  j["ranking_note"] = s.ranking_note;
  auto seed_json = [](const SeedTest& t) {
    return json{{"seeds", t.seeds}, {"mean_difference", t.mean_difference}, {"judged", t.judged()},
                {"sign_flip_p", std::isfinite(t.sign_flip_p) ? json(t.sign_flip_p) : json(nullptr)},
                {"t", std::isfinite(t.t.t) ? json(t.t.t) : json(nullptr)}, {"df", t.t.df},
                {"t_test_p", std::isfinite(t.t.p) ? json(t.t.p) : json(nullptr)}};
  };
  json contrasts = json::array();
  for (const auto& c : s.contrasts) {
    json x = {{"axis", c.axis},
              {"value", c.value},
              {"reference_value", c.reference_value},
              {"variant", s.variants[c.variant].name},
              {"twin", s.variants[c.reference].name},
              {"seeds", seed_json(c.test.seeds)}};
    if (c.test.compared)
      x["bootstrap"] = {{s.corpus ? "delta_bleu" : "delta_exact_match", c.test.bootstrap.delta},
                        {"p_value", c.test.bootstrap.p_value},
                        {"items", c.test.bootstrap.items},
                        {"resamples", c.test.bootstrap.resamples}};
    contrasts.push_back(x);
  }
  j["axis_contrasts"] = contrasts;
  json notes = json::array();
  for (const auto& [axis, text] : s.contrast_notes) notes.push_back({{"axis", axis}, {"note", text}});
  j["axis_contrast_notes"] = notes;
  const bool best_exists = !s.best.empty();
  j["variants"] = json::array();
  for (const auto& v : s.variants) {
    json x = {{"variant", v.name},
              {"cell", v.variant.cell},
              {"attention", v.variant.attention},
              {"decoder", v.variant.decoder},
              {"luong_output", v.variant.luong_output},
              {"encoder", v.variant.encoder},
              {"runs", v.runs.size()},
              {"ok", v.ok},
              {"diverged", v.diverged},
              {"failed", v.failed},
              {"exact_match", ms_json(v.exact_match)},
              {"token_accuracy", ms_json(v.token_accuracy)},
              {"perplexity", ms_json(v.perplexity)},
              {"parameters", v.parameters},
              {"train_seconds", ms_json(v.seconds)},
              {"tokens_per_s", ms_json(v.tokens_per_s)},
              {"attention_entropy", ms_json(v.attention_entropy)},
              {"uniform_entropy", ms_json(v.uniform_entropy)},
              {"gold_mass", ms_json(v.gold_mass)},
              {"best", v.is_best},
              {"notes", v.notes}};
    const char* by_key = s.corpus ? "bleu" : "exact_match";
    json by = json::array();
    for (std::size_t k = 0; k < v.by_length.size(); ++k)
      by.push_back({{"lengths", {s.buckets[k].lo, s.buckets[k].hi}}, {by_key, ms_json(v.by_length[k])}});
    x[s.corpus ? "bleu_by_length" : "exact_match_by_length"] = by;
    if (s.corpus) x["bleu"] = ms_json(v.bleu);
    x["lr"] = v.lr > 0 ? json(v.lr) : json(nullptr);
    x["best_step"] = ms_json(v.best_step);
    x["best_seconds"] = ms_json(v.best_seconds);
    x["stopped_early"] = v.stopped_early;
    if (!v.rates.empty()) {
      json rates = json::array();
      for (const auto& t : v.rates)
        rates.push_back({{"lr", t.lr}, {"status", t.status}, {"chosen", t.chosen},
                         {"validation", std::isfinite(t.validation) ? json(t.validation) : json(nullptr)}});
      x["rates"] = rates;
    }
    if (!v.is_best && best_exists) x["seeds_vs_best"] = seed_json(v.seeds_vs_best);
    if (v.compared)
      x["vs_best"] = {{s.corpus ? "delta_bleu" : "delta_exact_match", v.vs_best.delta}, {"p_value", v.vs_best.p_value},
                      {"items", v.vs_best.items}, {"resamples", v.vs_best.resamples}};
    json runs = json::array();
    for (const RunResult* r : v.runs) {
      json run = {{"run", r->spec.name()},
                  {"seed", r->spec.seed},
                  {"status", r->status},
                  {"error", r->error},
                  {"exact_match", std::isfinite(r->exact_match) ? json(r->exact_match) : json(nullptr)},
                  {"seconds", r->seconds},
                  {"lr", r->spec.lr},
                  {"steps", r->steps},
                  {"best_step", r->best_step},
                  {"best_seconds", r->best_seconds},
                  {"stopped_early", r->stopped_early}};
      if (s.corpus) {
        run["bleu"] = std::isfinite(r->bleu) ? json(r->bleu) : json(nullptr);
        run["bleu_line"] = r->bleu_line;
      }
      runs.push_back(run);
    }
    x["runs_detail"] = runs;
    j["variants"].push_back(x);
  }
  j["failures"] = json::array();
  for (const auto& [run, err] : s.failures) j["failures"].push_back({{"run", run}, {"error", err}});
  out << j.dump(2) << "\n";
}

// ---- SVG pieces ---------------------------------------------------------------------------------

namespace {

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                          "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
std::string color_of(std::size_t i) { return kPalette[i % 10]; }

struct Series {
  std::string name, color;
  std::vector<std::pair<double, double>> points;
  double width = 2, opacity = 1;
  bool dashed = false, markers = false, in_legend = true;
};

std::vector<double> nice_ticks(double lo, double hi, int want = 6) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / want, mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= m * mag) { step = m * mag; break; }
  std::vector<double> t;
  for (double x = std::ceil(lo / step) * step; x <= hi + step * 1e-9; x += step) t.push_back(x);
  return t;
}

std::string tick_text(double x) {
  if (std::fabs(x) >= 1000) return fmt("%.0f", x);
  if (std::fabs(x - std::round(x)) < 1e-9) return fmt("%.0f", x);
  return fmt("%g", x);
}

// A line chart with labelled axes and a legend; log_y plots log10(y) with decade ticks.
std::string line_chart(const std::string& id, const std::string& title, const std::string& xlab,
                       const std::string& ylab, const std::vector<Series>& series, bool log_y,
                       double ymin_fixed = NAN, double ymax_fixed = NAN,
                       std::pair<double, double> band = {NAN, NAN}, const std::string& band_label = "") {
  const double W = 640, H = 360, L = 62, R = 170, Tp = 34, B = 48;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  auto ty = [&](double y) { return log_y ? std::log10(y) : y; };
  for (const auto& s : series)
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(y) || (log_y && y <= 0)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, ty(y)), y1 = std::max(y1, ty(y));
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (std::isfinite(band.first)) x0 = std::min(x0, band.first), x1 = std::max(x1, band.second);
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  if (std::isfinite(ymin_fixed)) y0 = ty(ymin_fixed);
  if (std::isfinite(ymax_fixed)) y1 = ty(ymax_fixed);
  if (log_y) {
    const double pad = std::max(0.02, 0.04 * (y1 - y0));
    y0 -= pad, y1 += pad;
  }
  if (y1 <= y0) y1 = y0 + 1;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return Tp + (1 - (ty(y) - y0) / (y1 - y0)) * (H - Tp - B); };
  std::ostringstream o;
  o << "<svg class=\"chart\" id=\"" << id << "\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H
    << "\" font-family=\"sans-serif\" role=\"img\">";
  o << "<text x=\"" << L << "\" y=\"18\" font-size=\"14\" font-weight=\"bold\">" << esc(title) << "</text>";
  if (std::isfinite(band.first)) {
    const double a = px(band.first - 0.5 < x0 ? x0 : band.first - 0.5), b = px(band.second + 0.5 > x1 ? x1 : band.second + 0.5);
    o << "<rect class=\"band\" x=\"" << a << "\" y=\"" << Tp << "\" width=\"" << b - a << "\" height=\"" << H - Tp - B
      << "\" fill=\"#e8f0e0\"/><text x=\"" << (a + b) / 2 << "\" y=\"" << Tp + 14 << "\" font-size=\"11\" fill=\"#4a6b2a\" text-anchor=\"middle\">"
      << esc(band_label) << "</text>";
  }
  // Axes and grid.
  if (log_y) {
    // Decade ticks with as many intermediate values as keep at least four labels.
    std::vector<double> mults{1, 2, 5};
    if (y1 - y0 < 1.2) mults = {1, 1.5, 2, 3, 4, 5, 7};
    if (y1 - y0 < 0.5) mults = {1, 1.2, 1.4, 1.6, 1.8, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 9};
    for (int e = int(std::floor(y0)); e <= int(std::ceil(y1)); ++e)
      for (double m : mults) {
        const double v = m * std::pow(10.0, e), lv = std::log10(v);
        if (lv < y0 - 1e-9 || lv > y1 + 1e-9) continue;
        const double y = py(v);
        o << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << y << "\" y2=\"" << y << "\" stroke=\"#e3e3e3\"/>"
          << "<text x=\"" << L - 6 << "\" y=\"" << y + 4 << "\" font-size=\"11\" text-anchor=\"end\">" << fmt("%g", v) << "</text>";
      }
  } else {
    for (double v : nice_ticks(y0, y1, 5)) {
      const double y = py(v);
      o << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << y << "\" y2=\"" << y << "\" stroke=\"#e3e3e3\"/>"
        << "<text x=\"" << L - 6 << "\" y=\"" << y + 4 << "\" font-size=\"11\" text-anchor=\"end\">" << tick_text(v) << "</text>";
    }
  }
  for (double v : nice_ticks(x0, x1, 7)) {
    const double x = px(v);
    o << "<line x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << H - B << "\" y2=\"" << H - B + 5 << "\" stroke=\"#333\"/>"
      << "<text x=\"" << x << "\" y=\"" << H - B + 18 << "\" font-size=\"11\" text-anchor=\"middle\">" << tick_text(v) << "</text>";
  }
  o << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << H - B << "\" y2=\"" << H - B << "\" stroke=\"#333\"/>"
    << "<line x1=\"" << L << "\" x2=\"" << L << "\" y1=\"" << Tp << "\" y2=\"" << H - B << "\" stroke=\"#333\"/>";
  o << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 10 << "\" font-size=\"12\" text-anchor=\"middle\">" << esc(xlab) << "</text>";
  o << "<text x=\"14\" y=\"" << (Tp + H - B) / 2 << "\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 "
    << (Tp + H - B) / 2 << ")\">" << esc(ylab) << "</text>";
  // Series.
  for (const auto& s : series) {
    std::string d;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(y) || (log_y && y <= 0)) continue;
      d += (d.empty() ? "M" : " L") + fmt("%.1f", px(x)) + "," + fmt("%.1f", py(y));
    }
    o << "<path class=\"series\" data-series=\"" << esc(s.name) << "\" d=\"" << d << "\" fill=\"none\" stroke=\"" << s.color
      << "\" stroke-width=\"" << s.width << "\" stroke-opacity=\"" << s.opacity << "\""
      << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>";
    if (s.markers)
      for (const auto& [x, y] : s.points)
        if (std::isfinite(y))
          o << "<circle cx=\"" << px(x) << "\" cy=\"" << py(y) << "\" r=\"3\" fill=\"" << s.color << "\" data-series=\""
            << esc(s.name) << "\" data-x=\"" << tick_text(x) << "\" data-y=\"" << fmt("%.6g", y) << "\"><title>" << esc(s.name)
            << ": " << tick_text(x) << " \u2192 " << fmt("%.3g", y) << "</title></circle>";
  }
  // Legend.
  double ly = Tp + 6;
  for (const auto& s : series) {
    if (!s.in_legend) continue;
    o << "<line x1=\"" << W - R + 12 << "\" x2=\"" << W - R + 36 << "\" y1=\"" << ly << "\" y2=\"" << ly << "\" stroke=\"" << s.color
      << "\" stroke-width=\"3\"" << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/><text x=\"" << W - R + 42 << "\" y=\"" << ly + 4
      << "\" font-size=\"11\">" << esc(s.name) << "</text>";
    ly += 18;
  }
  o << "</svg>";
  return o.str();
}

}  // namespace

// ---- HTML ---------------------------------------------------------------------------------------

namespace {

const char* kCss = R"CSS(
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1360px;color:#222;padding:0 16px;line-height:1.45}
h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;margin-top:34px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#555;margin-top:0}.howto{background:#f4f7fb;border-left:4px solid #1f77b4;padding:10px 16px;margin:16px 0}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f0f0f0;white-space:normal;vertical-align:bottom}.wide{overflow-x:auto}td:first-child,th:first-child{text-align:left}tr.best td{background:#eef7ee;font-weight:600}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts figure{margin:0;border:1px solid #e5e5e5;padding:4px}
figcaption{font-size:12px;color:#555;max-width:630px;padding:4px}
.sentence{margin:18px 0;padding:8px 10px;border:1px solid #e5e5e5}.sentence h3{font-size:15px;margin:2px 0 6px}
.maps{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}.card{border:1px solid #ddd;padding:6px;background:#fff}
.card .name{font-weight:600;font-size:13px}.card .outp{font-family:monospace;font-size:12px;margin:2px 0 4px}
.ok{color:#2a7d2a}.bad{color:#b22}.none{font-size:12px;color:#666;width:220px;padding:20px 6px}
.note{color:#8a4b00}.mono{font-family:monospace}.legendbar{display:inline-block;width:160px;height:12px;vertical-align:middle;background:linear-gradient(90deg,rgb(247,251,255),rgb(8,48,107));border:1px solid #aaa}
#render-check{font-size:11px;color:#777;white-space:pre-wrap}
)CSS";

// Fills #render-check with what the page actually drew (used by the headless-browser test).
const char* kJs = R"JS(
(function(){
  var out={variants:{},charts:{},gold:document.querySelectorAll('circle.gold').length,
    diagnostics:document.querySelectorAll('.diag-run').length,no_diagnostics:!!document.getElementById('no-diagnostics')};
  document.querySelectorAll('.card[data-variant]').forEach(function(c){
    var v=c.getAttribute('data-variant'); var n=c.querySelectorAll('rect.hm-cell').length;
    var drawn=0; c.querySelectorAll('rect.hm-cell').forEach(function(r){var b=r.getBoundingClientRect(); if(b.width>0&&b.height>0) drawn++;});
    if(!out.variants[v]) out.variants[v]={cells:0,drawn:0,maps:0};
    out.variants[v].cells+=n; out.variants[v].drawn+=drawn; if(n>0) out.variants[v].maps++;
  });
  document.querySelectorAll('svg.chart').forEach(function(s){
    var paths=s.querySelectorAll('path.series'); var nonempty=0, long=0;
    paths.forEach(function(p){var d=p.getAttribute('d')||''; if(d.length>0) nonempty++; try{ if(p.getTotalLength()>10) long++; }catch(e){} });
    var b=s.getBoundingClientRect();
    out.charts[s.id]={paths:paths.length,nonempty:nonempty,visible:long,width:Math.round(b.width),height:Math.round(b.height)};
    if(s.id.indexOf('diag-')===0){
      var pts=[]; s.querySelectorAll('circle[data-y]').forEach(function(c){var r=c.getBoundingClientRect();
        pts.push({series:c.getAttribute('data-series'),x:+c.getAttribute('data-x'),y:+c.getAttribute('data-y'),drawn:r.width>0&&r.height>0});});
      out.charts[s.id].points=pts;
    }
  });
  var el=document.getElementById('render-check'); el.textContent=JSON.stringify(out);
  el.setAttribute('data-ok','1');
})();
)JS";

}  // namespace

namespace {

// Per run, over training steps: the share of saturated units per group, the attention entropy
// against the uniform entropy, the gradient norm per parameter group (TrainResult::diagnostics).
void write_diagnostics(const CompareResult& result, const std::map<std::string, std::string>& color,
                       std::ostream& o) {
  o << "<h2 id=\"why\">Why: training diagnostics</h2>\n";
  bool any = false;
  for (const auto& r : result.runs) any = any || !r.diagnostics.empty();
  if (!any) {
    o << "<p id=\"no-diagnostics\">No training diagnostics were recorded for these runs (the trainer that wrote "
         "them records none, or the runs were read back from files written before diagnostics existed).</p>\n";
    return;
  }
  o << "<p>Measured on the training batch every few steps, per run. <b>Saturation</b>: share of units whose tanh is "
       "beyond \u00b10.99 or whose sigmoid is outside [0.01, 0.99] (their gradient is nearly 0, so what feeds them "
       "learns slowly). <b>Attention entropy</b> in nats per output step, with the entropy of a uniform distribution "
       "over the source (ln S) for scale. <b>Gradient norm</b> per parameter group before clipping (log scale).</p>\n";
  for (const auto& r : result.runs) {
    if (r.diagnostics.empty()) continue;
    const std::string run = r.spec.name();
    auto c = color.find(r.spec.variant.name());
    const std::string base = c == color.end() ? color_of(0) : c->second;
    o << "<div class=\"diag-run\" data-run=\"" << esc(run) << "\"><h3>" << esc(run) << "</h3><div class=\"charts\">";
    std::map<std::string, Series> sat, grad;
    Series ent{"attention entropy", base, {}, 2.2, 1, false, true, true};
    Series uni{"uniform (ln S)", "#777777", {}, 1.5, 1, true, true, true};
    for (const auto& p : r.diagnostics) {
      for (const auto& [group, share] : p.saturation) {
        auto& x = sat[group];
        x.name = group;
        x.points.push_back({double(p.step), share});
      }
      for (const auto& [group, norm] : p.grad_norm) {
        auto& x = grad[group];
        x.name = group;
        x.points.push_back({double(p.step), norm});
      }
      if (p.attention_entropy >= 0) ent.points.push_back({double(p.step), p.attention_entropy});
      if (p.uniform_entropy >= 0) uni.points.push_back({double(p.step), p.uniform_entropy});
    }
    auto series_of = [](std::map<std::string, Series>& m) {
      std::vector<Series> v;
      std::size_t k = 0;
      for (auto& [name, x] : m) {
        x.color = color_of(k++);
        x.markers = true;
        x.width = 2;
        v.push_back(x);
      }
      return v;
    };
    if (!sat.empty())
      o << "<figure>" << line_chart("diag-sat-" + run, "Saturated units", "training step (updates)", "share saturated",
                                    series_of(sat), false, 0, 1)
        << "<figcaption>Share of saturated units per group.</figcaption></figure>";
    if (!ent.points.empty())
      o << "<figure>" << line_chart("diag-ent-" + run, "Attention entropy", "training step (updates)", "nats per output step",
                                    {ent, uni}, false, 0)
        << "<figcaption>Entropy of the attention weights; near ln S the attention is still about uniform.</figcaption></figure>";
    else
      o << "<p class=\"none\">No attention entropy: this variant has no attention.</p>";
    if (!grad.empty())
      o << "<figure>" << line_chart("diag-grad-" + run, "Gradient norm", "training step (updates)",
                                    "L2 norm before clipping (log scale)", series_of(grad), true)
        << "<figcaption>Gradient norm of each parameter group.</figcaption></figure>";
    o << "</div></div>\n";
  }
}

}  // namespace

void write_html(const CompareSummary& s, const CompareResult& result, std::ostream& o) {
  std::map<std::string, std::string> color;
  for (std::size_t i = 0; i < s.variants.size(); ++i) color[s.variants[i].name] = color_of(i);
  std::size_t seeds = 0;
  for (const auto& v : s.variants) seeds = std::max(seeds, v.runs.size());
  std::size_t steps = 0;
  for (const auto& r : result.runs) steps = std::max(steps, r.steps);

  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>attend compare: "
    << esc(s.data_name) << "</title><style>" << kCss << "</style></head><body>\n";
  o << "<h1>Attention variants compared: " << esc(s.data_name) << "</h1>\n";
  const std::string unit = s.corpus ? "words" : "tokens";
  o << "<p class=\"sub\">" << s.variants.size() << " variants \u00d7 " << seeds << " seed" << (seeds > 1 ? "s" : "")
    << " = " << s.total_runs << " training runs, up to " << steps << " updates each. "
    << (s.data_description.empty() ? "" : esc(s.data_description) + ". ") << "Training sources have "
    << s.train_min_len << "\u2013" << s.train_max_len << " " << unit << "; test sources " << s.test_min_len << "\u2013"
    << s.test_max_len << ". Best variant: <b>" << esc(s.best.empty() ? "none (no successful run)" : s.best) << "</b>.</p>\n";
  if (s.corpus)
    o << "<div class=\"howto\"><b>How to read this page.</b> Every variant (an encoder/decoder cell with an attention "
         "mechanism) was trained on the same sentence pairs with the same tokenizer and vocabularies, in the same batch "
         "order, from the same initial values of the parts they share, once per seed; only the mechanism differs. "
         "<b>BLEU</b> (0\u2013100, higher is better) measures how many words and word sequences of the outputs also "
         "occur in the reference translations of the test set; \u00b1 is the standard deviation over seeds. "
         "<b>Perplexity</b> says how surprised the model is by the reference translations (lower is better). The "
         "<b>p</b> column says how likely a BLEU difference this large to the best variant would be by chance (paired "
         "bootstrap over test sentences; below 0.05 is usually called significant); the two <b>seed</b> p columns test the same difference "
         "across training seeds (does it hold from one training to the next?). The <b>learning curves</b> show "
         "the training loss and the validation BLEU as training proceeds. <b>BLEU by length</b> shows the score for "
         "short and long source sentences separately. The <b>heatmaps</b> show, for the same test sentences, where "
         "each model looked: one row per output token, one column per source token, darker = more attention weight. "
         "A corpus has no reference alignment, so there are no gold marks.</div>\n";
  else
    o << "<div class=\"howto\"><b>How to read this page.</b> Every variant (an encoder/decoder cell with an attention "
         "mechanism) was trained on the same data, in the same batch order, from the same initial values of the parts "
         "they share, once per seed; only the mechanism differs. <b>Exact match</b> is the share of test inputs whose "
         "whole greedy output equals the reference; \u00b1 is the standard deviation over seeds. The <b>p</b> column says "
         "how likely a difference this large to the best variant would be by chance (paired bootstrap over test "
         "sentences; below 0.05 is usually called significant); the two <b>seed</b> p columns test the same difference "
         "across training seeds (does it hold from one training to the next?). The <b>learning curves</b> show the training loss "
         "(lower is better) as training proceeds. <b>Accuracy by length</b> shows exact match for each source length; "
         "the green band marks the lengths seen in training, so points right of it measure extrapolation. The "
         "<b>heatmaps</b> show, for the same test inputs, where each model looked: one row per output token, one column "
         "per source token, darker = more attention weight; orange dots mark the known correct source position "
         "when the task has one.</div>\n";

  // Results table.
  const bool lr = !s.lr_grid.empty();
  o << "<h2 id=\"results\">Results</h2>\n";
  if (!s.budget.empty()) o << "<p id=\"budget\">" << esc(budget_sentence(s)) << "</p>\n";
  o << "<div class=\"wide\"><table id=\"results-table\"><tr><th>variant</th><th>runs ok</th>" << (lr ? "<th>lr (chosen)</th>" : "") << "<th>"
    << (s.corpus ? "BLEU" : "exact match %") << "</th><th>token accuracy %</th><th>perplexity</th>";
  for (const auto& b : s.buckets) o << "<th>" << (s.corpus ? "BLEU" : "EM %") << " len " << b.label() << "</th>";
  o << "<th>parameters</th><th>best step</th><th>time to best</th><th>train time</th><th>tokens/s</th><th>"
    << (s.corpus ? "\u0394BLEU" : "\u0394EM")
    << " vs best</th><th>p (bootstrap)</th><th>p (sign-flip, seeds)</th><th>p (t-test, seeds)</th></tr>\n";
  for (const auto& v : s.variants) {
    o << "<tr" << (v.is_best ? " class=\"best\"" : "") << "><td><span class=\"swatch\" style=\"background:" << color[v.name]
      << "\"></span>" << esc(v.name) << (v.notes.empty() ? "" : " <span class=\"note\">\u2020</span>") << "</td><td>" << v.ok << "/"
      << v.runs.size() << "</td>" << (lr ? "<td>" + rate_text(v.lr) + "</td>" : "") << "<td>"
      << (s.corpus ? bleu_ms(v.bleu) : pct_ms(v.exact_match)) << "</td><td>"
      << pct_ms(v.token_accuracy) << "</td><td>" << num_ms(v.perplexity) << "</td>";
    for (const auto& b : v.by_length) o << "<td>" << (s.corpus ? bleu_ms(b) : pct_ms(b)) << "</td>";
    o << "<td>" << v.parameters << "</td><td>" << steps_ms(v.best_step) << "</td><td>"
      << (v.best_seconds.n ? duration(v.best_seconds.mean) : "—") << "</td><td>"
      << (v.seconds.n ? duration(v.seconds.mean) : "—") << "</td><td>"
      << (v.tokens_per_s.n ? fmt("%.0f", v.tokens_per_s.mean) : "—") << "</td><td>"
      << (s.corpus ? delta_bleu_text(v) : delta_text(v)) << "</td><td>" << p_text(v) << "</td><td>" << sign_flip_text(v)
      << "</td><td>" << t_test_text(v) << "</td></tr>\n";
  }
  o << "</table></div>\n";
  for (const auto& v : s.variants)
    for (const auto& n : v.notes) o << "<p class=\"note\">\u2020 " << esc(v.name) << ": " << esc(n) << "</p>\n";
  if (!s.failures.empty()) {
    o << "<p class=\"note\"><b>Failed runs</b> (excluded):</p><ul>";
    for (const auto& [run, err] : s.failures) o << "<li class=\"note\">" << esc(run) << ": " << esc(err) << "</li>";
    o << "</ul>\n";
  }
  if (s.corpus)
    o << "<p style=\"font-size:12px;color:#555\">" << esc(bleu_definition(s)) << ". Significance test: "
      << esc(bootstrap_bleu_method()) << " \u0394BLEU is in BLEU points.</p>\n";
  else
    o << "<p style=\"font-size:12px;color:#555\">Significance test: " << esc(bootstrap_method()) << " \u0394EM is in percentage points.</p>\n";
  o << "<p style=\"font-size:12px;color:#555\" id=\"seed-tests\">Across seeds: " << esc(seed_test_method()) << "</p>\n";
  if (!seed_note(s).empty()) o << "<p class=\"note\" id=\"seed-note\">" << esc(seed_note(s)) << "</p>\n";
  for (std::size_t k = 0; k < s.contrasts.size(); ++k) {
    const auto& c = s.contrasts[k];
    if (k == 0 || s.contrasts[k - 1].axis != c.axis)
      o << "<h2 id=\"axis-" << esc(c.axis == "luong output" ? "luong-output" : c.axis) << "\">"
        << esc(without_backticks(contrast_heading(c.axis, c.reference_value))) << "</h2>\n<p>"
        << esc(without_backticks(contrast_intro(c.axis, c.reference_value))) << "</p>\n<table><tr><th>variant</th>"
           "<th>twin</th><th>" << (s.corpus ? "BLEU" : "exact match %") << "</th><th>twin's</th><th>\u0394</th>"
           "<th>p (bootstrap)</th><th>p (sign-flip, seeds)</th><th>p (t-test, seeds)</th></tr>\n";
    const VariantSummary& v = s.variants[c.variant];
    const VariantSummary& r = s.variants[c.reference];
    o << "<tr><td>" << esc(v.name) << "</td><td>" << esc(r.name) << "</td><td>"
      << (s.corpus ? bleu_ms(v.bleu) : pct_ms(v.exact_match)) << "</td><td>"
      << (s.corpus ? bleu_ms(r.bleu) : pct_ms(r.exact_match)) << "</td><td>" << contrast_delta_text(s, c)
      << "</td><td>" << contrast_bootstrap_text(c) << "</td><td>" << contrast_sign_flip_text(c) << "</td><td>"
      << contrast_t_test_text(c) << "</td></tr>\n";
    if (k + 1 == s.contrasts.size() || s.contrasts[k + 1].axis != c.axis) {
      o << "</table>\n<ul>";
      for (const auto& [axis, text] : s.contrast_notes)
        if (axis == c.axis) o << "<li class=\"note\">" << esc(without_backticks(text)) << "</li>";
      o << "</ul>\n";
    }
  }
  if (lr) {
    o << "<h2 id=\"rates\">Learning rates</h2>\n<p>Every variant trained at each rate on the first seed; the rate with the "
         "best " << esc(s.validation_metric) << " (bold) trained the other seeds. The test split played no part in the "
         "choice." << esc(two_rates_sentence(s)) << "</p>\n<table id=\"rates-table\"><tr><th>variant</th>";
    for (double x : s.lr_grid) o << "<th>lr " << fmt("%g", x) << "</th>";
    o << "</tr>\n";
    for (const auto& v : s.variants) {
      o << "<tr><td>" << esc(v.name) << "</td>";
      for (double x : s.lr_grid) {
        std::string cell = "—";
        bool chosen = false;
        for (const auto& t : v.rates)
          if (t.lr == x) cell = t.status == "ok" ? validation_text(s, t.validation) : t.status, chosen = t.chosen;
        o << "<td" << (chosen ? " class=\"chosen\" style=\"font-weight:bold\"" : "") << ">" << esc(cell) << "</td>";
      }
      o << "</tr>\n";
    }
    o << "</table>\n";
  }
  if (!s.rankings.empty()) {
    o << "<h2 id=\"ranking\">Ranking at fractions of the budget</h2>\n<p>By " << esc(s.validation_metric)
      << ": each run's best validation figure up to that step (what a budget of that many steps would have kept), "
         "mean over seeds.</p>\n<table id=\"ranking-table\"><tr><th>budget</th><th>step</th><th>ranking</th></tr>\n";
    for (const auto& r : s.rankings) {
      std::string order;
      for (const auto& [name, value] : r.order)
        order += (order.empty() ? "" : " > ") + name + " (" + validation_text(s, value) + ")";
      o << "<tr><td>" << fmt("%.0f%%", 100 * r.fraction) << "</td><td>" << r.step << "</td><td style=\"text-align:left\">"
        << esc(order.empty() ? "—" : order) << "</td></tr>\n";
    }
    o << "</table>\n<p id=\"ranking-note\"" << (s.ranking_changes ? " class=\"note\" style=\"font-weight:bold\"" : "") << ">"
      << esc(s.ranking_note) << "</p>\n";
  }

  // Curves.
  o << "<h2 id=\"curves\">Learning curves and " << (s.corpus ? "BLEU" : "accuracy") << " by length</h2>\n<div class=\"charts\">";
  {
    std::vector<Series> tr, va;
    for (const auto& v : s.variants) {
      for (const RunResult* r : v.runs) {
        if (r->status != "ok" || v.ok < 2) continue;
        Series p{v.name + " s" + std::to_string(r->spec.seed), color[v.name], {}, 1, 0.25, false, false, false};
        for (const auto& c : r->train_loss) p.points.push_back({double(c.step), c.value});
        tr.push_back(p);
        // Runs of a converge budget end at different steps; the mean stops at the shortest.
        Series q{v.name + " s" + std::to_string(r->spec.seed), color[v.name], {}, 1, 0.35, false, false, false};
        for (const auto& c : r->valid_loss) q.points.push_back({double(c.step), c.value});
        if (!q.points.empty()) va.push_back(q);
      }
    }
    for (const auto& v : s.variants) {
      Series m{v.name, color[v.name], {}, 2.2, 1, false, false, true};
      for (const auto& c : v.mean_train_loss) m.points.push_back({double(c.step), c.value});
      tr.push_back(m);
      Series q{v.name, color[v.name], {}, 2.2, 1, false, true, true};
      for (const auto& c : v.mean_valid_loss) q.points.push_back({double(c.step), c.value});
      if (!q.points.empty()) va.push_back(q);
    }
    o << "<figure>" << line_chart("curve-train", "Training loss", "training step (updates)",
                                  "cross-entropy per token (log scale)", tr, true)
      << "<figcaption>Mean training loss over the seeds (thick lines; thin lines: single seeds), averaged over "
         "10-step windows. Lower is better.</figcaption></figure>";
    if (!va.empty())
      o << "<figure>" << line_chart("curve-valid", "Validation loss", "training step (updates)",
                                    "cross-entropy per token (log scale)", va, true)
        << "<figcaption>Loss on the validation split" << (s.corpus ? "" : " (same lengths as training)")
        << ", mean over seeds (thick, up to the step every seed reached; thin lines: single seeds).</figcaption></figure>";
    if (s.corpus) {
      std::vector<Series> vb, len;
      for (const auto& v : s.variants) {
        Series q{v.name, color[v.name], {}, 2.2, 1, false, true, true};
        for (const auto& c : v.mean_valid_bleu) q.points.push_back({double(c.step), c.value});
        if (!q.points.empty()) vb.push_back(q);
        Series m{v.name, color[v.name], {}, 2.2, 1, false, true, true};
        for (std::size_t k = 0; k < s.buckets.size() && k < v.by_length.size(); ++k)
          if (v.by_length[k].n) m.points.push_back({(s.buckets[k].lo + s.buckets[k].hi) / 2.0, v.by_length[k].mean});
        len.push_back(m);
      }
      if (!vb.empty())
        o << "<figure>" << line_chart("curve-valid-bleu", "Validation BLEU", "training step (updates)",
                                      "BLEU (greedy)", vb, false)
          << "<figcaption>Greedy BLEU on the validation sentences at each validation, mean over seeds. Each run "
             "keeps the parameters of its best validation BLEU.</figcaption></figure>";
      std::string buckets;
      for (const auto& b : s.buckets) buckets += (buckets.empty() ? "" : ", ") + b.label();
      o << "<figure>" << line_chart("curve-length", "BLEU by source length (test split)", "source length (words)",
                                    "BLEU", len, false, 0)
        << "<figcaption>Corpus BLEU of the test sentences in each source-length bucket (" << esc(buckets)
        << " words; each holds about the same number of sentences), plotted at the bucket's middle, mean over "
           "seeds.</figcaption></figure>";
    } else {
      // Exact match per source length.
      std::vector<Series> len;
      for (const auto& v : s.variants) {
        Series m{v.name, color[v.name], {}, 2.2, 1, false, true, true};
        for (int L = s.test_min_len; L <= s.test_max_len && L > 0; ++L) {
          std::vector<double> per_run;
          for (const RunResult* r : v.runs)
            if (r->status == "ok") {
              const double x = bucket_em(*r, L, L);
              if (std::isfinite(x)) per_run.push_back(100 * x);
            }
          if (!per_run.empty()) m.points.push_back({double(L), mean_std(per_run).mean});
        }
        len.push_back(m);
      }
      o << "<figure>" << line_chart("curve-length", "Exact match by source length (test split)", "source length (tokens)",
                                    "exact match %", len, false, 0, 100,
                                    {double(s.train_min_len), double(s.train_max_len)}, "lengths seen in training")
        << "<figcaption>Share of test inputs of each length translated exactly right, mean over seeds. The shaded band "
           "is the range of training lengths; outside it the model extrapolates.</figcaption></figure>";
    }
  }
  o << "</div>\n";
  write_diagnostics(result, color, o);

  // Alignment statistics (a corpus has no gold alignment: entropy only, and the report says so).
  o << "<h2 id=\"alignment\">Alignment statistics</h2>\n<p>" << esc(s.alignment_note) << " Computed on the "
    << (s.beam > 1 ? "beam-search" : "greedy") << " outputs of up to the first 300 test sentences. <b>Entropy</b> (nats) "
       "of each output token's attention distribution: 0 = all weight on one source token; ln S (the \u201cuniform\u201d "
       "column) = spread evenly."
    << (s.corpus ? "" : " <b>Mass on gold</b>: mean weight on the known correct source position (higher = sharper, "
                        "correctly placed attention).")
    << "</p>\n<table><tr><th>variant</th><th>attention entropy</th><th>uniform entropy (ln S)</th><th>mass on gold position"
    << (s.corpus ? "" : " %") << "</th></tr>\n";
  for (const auto& v : s.variants) {
    o << "<tr><td><span class=\"swatch\" style=\"background:" << color[v.name] << "\"></span>" << esc(v.name) << "</td>";
    if (!v.has_attention)
      o << "<td colspan=\"3\" style=\"text-align:center;color:#777\">" << (v.ok ? "no attention mechanism" : "no successful run") << "</td></tr>\n";
    else if (s.corpus)
      o << "<td>" << num_ms(v.attention_entropy) << "</td><td>" << num_ms(v.uniform_entropy)
        << "</td><td style=\"color:#777\">not available: no gold alignment for a corpus</td></tr>\n";
    else
      o << "<td>" << num_ms(v.attention_entropy) << "</td><td>" << num_ms(v.uniform_entropy) << "</td><td>"
        << (v.gold_mass.n ? pct_ms(v.gold_mass) : "—") << "</td></tr>\n";
  }
  o << "</table>\n";

  // Heatmaps: the samples of the lowest seed, same sentences for every variant.
  std::uint64_t seed0 = 0;
  bool have = false;
  for (const auto& r : result.runs)
    if (!have || r.spec.seed < seed0) seed0 = r.spec.seed, have = true;
  std::vector<const RunResult*> first(s.variants.size(), nullptr);
  std::vector<std::size_t> sentences;
  for (std::size_t k = 0; k < s.variants.size(); ++k)
    for (const RunResult* r : s.variants[k].runs)
      if (r->spec.seed == seed0 && r->status == "ok") {
        first[k] = r;
        if (sentences.empty())
          for (const auto& smp : r->samples) sentences.push_back(smp.index);
      }
  if (s.corpus)
    o << "<h2 id=\"heatmaps\">Attention heatmaps (seed " << seed0 << ")</h2>\n<p>The same test sentences for every variant "
         "(spread over the source lengths among those of at most 30 tokens). Rows: the tokens the model produced ("
      << (s.beam > 1 ? "beam search" : "greedy decoding") << ", ending with &lt;/s&gt;); columns: the source tokens as "
         "the model sees them (after tokenisation); cell darkness = attention weight (<span class=\"legendbar\"></span> "
         "0 \u2192 1; hover a cell for its value). Above each map: the model's output as text.</p>\n";
  else
    o << "<h2 id=\"heatmaps\">Attention heatmaps (seed " << seed0 << ")</h2>\n<p>The same test inputs for every variant. Rows: the "
         "tokens the model produced (greedy decoding, ending with &lt;/s&gt;); columns: the source tokens; cell darkness "
         "= attention weight (<span class=\"legendbar\"></span> 0 \u2192 1; hover a cell for its value). "
         "<span style=\"color:#f5a623\">\u25cf</span> = known correct source position. \u2713/\u2717: output equals the reference or not.</p>\n";
  for (std::size_t n = 0; n < sentences.size(); ++n) {
    const AttentionSample* ref = nullptr;
    for (const auto* r : first)
      if (r)
        for (const auto& smp : r->samples)
          if (smp.index == sentences[n] && !ref) ref = &smp;
    if (!ref) continue;
    if (s.corpus)
      o << "<div class=\"sentence\"><h3>Test sentence #" << ref->index + 1 << " (" << ref->src.size() << " tokens): <span class=\"mono\">"
        << esc(ref->src_text) << "</span> \u2192 reference <span class=\"mono\">" << esc(ref->ref_text) << "</span></h3><div class=\"maps\">";
    else
      o << "<div class=\"sentence\"><h3>Test input #" << ref->index << " (" << ref->src.size() << " tokens): <span class=\"mono\">"
        << esc(joined(ref->src)) << "</span> \u2192 reference <span class=\"mono\">" << esc(joined(ref->ref)) << "</span></h3><div class=\"maps\">";
    const auto gold = gold_alignment(s.alignment, ref->src, ref->ref);
    for (std::size_t k = 0; k < s.variants.size(); ++k) {
      const auto& v = s.variants[k];
      o << "<div class=\"card\" data-variant=\"" << esc(v.name) << "\"><div class=\"name\"><span class=\"swatch\" style=\"background:"
        << color[v.name] << "\"></span>" << esc(v.name) << "</div>";
      const AttentionSample* smp = nullptr;
      if (first[k])
        for (const auto& x : first[k]->samples)
          if (x.index == ref->index) smp = &x;
      if (!smp) {
        o << "<div class=\"none\">no successful run with seed " << seed0 << "</div></div>";
        continue;
      }
      if (s.corpus)
        o << "<div class=\"outp\">" << esc(smp->out_text) << "</div>";
      else
        o << "<div class=\"outp\">" << (smp->correct ? "<span class=\"ok\">\u2713</span> " : "<span class=\"bad\">\u2717</span> ")
          << esc(joined(smp->out)) << "</div>";
      if (smp->weights.empty())
        o << "<div class=\"none\">No attention: this variant decodes from the encoder's final state alone, so there is "
             "nothing to draw.</div>";
      else
        o << attention_svg(smp->src, smp->out, smp->weights, "", gold);
      o << "</div>";
    }
    o << "</div></div>\n";
  }

  // Every run.
  o << "<h2>Every run</h2>\n<table><tr><th>run</th><th>status</th><th>" << (s.corpus ? "BLEU" : "exact match %")
    << "</th><th>token accuracy %</th><th>perplexity</th><th>steps</th><th>train time</th><th>directory</th></tr>\n";
  for (const auto& r : result.runs) {
    const bool ok = r.status == "ok";
    o << "<tr><td>" << esc(r.spec.name()) << "</td><td" << (ok ? "" : " class=\"note\"") << ">" << esc(r.status)
      << (r.status == "failed" ? ": " + esc(r.error) : "") << (r.resumed ? " (earlier invocation)" : "")
      << (r.time_limit_reached ? " (time limit)" : "") << "</td><td>"
      << (ok ? (s.corpus ? fmt("%.2f", r.bleu) : pct(r.exact_match)) : "—") << "</td><td>" << (ok ? pct(r.token_accuracy) : "—") << "</td><td>"
      << (ok ? fmt("%.3f", r.perplexity) : "—") << "</td><td>" << r.steps << "</td><td>" << duration(r.seconds)
      << "</td><td class=\"mono\" style=\"text-align:left\">" << esc(r.run_dir) << "</td></tr>\n";
  }
  o << "</table>\n<p style=\"font-size:12px;color:#777\">Written by <span class=\"mono\">attend compare</span>. "
       "This file is self-contained: no network access is needed to view it.</p>\n";
  o << "<p style=\"font-size:11px;color:#999;margin-bottom:0\">What this page drew (filled in by its script; read by attend's headless-browser test):</p><pre id=\"render-check\"></pre>\n<script>" << kJs << "</script>\n</body></html>\n";
}

std::vector<std::string> write_reports(const CompareSummary& s, const CompareResult& result, const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> paths;
  auto emit = [&](const std::string& name, auto&& writer) {
    const fs::path p = fs::path(dir) / name;
    std::ostringstream out;
    writer(out);
    write_file_atomic(p.string(), out.str());
    paths.push_back(p.string());
  };
  emit("REPORT.md", [&](std::ostream& out) { write_markdown(s, out); });
  emit("results.csv", [&](std::ostream& out) { write_csv(s, out); });
  emit("results.json", [&](std::ostream& out) { write_json(s, out); });
  emit("report.html", [&](std::ostream& out) { write_html(s, result, out); });
  return paths;
}

}  // namespace attend
