#include "report_text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "attend/decode/attention_export.hpp"
#include "rate_name.hpp"

namespace attend::report {

std::string fmt(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

std::string pct(double x) { return std::isfinite(x) ? fmt("%.1f", 100 * x) : "NaN"; }

std::string pct_ms(const MeanStd& m) {
  if (m.n == 0) return "—";
  return pct(m.mean) + (m.n > 1 ? " ± " + pct(m.std) : "");
}

std::string num_ms(const MeanStd& m, const char* f) {
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

std::string duration(double s) {
  if (!std::isfinite(s)) return "—";
  if (s < 60) return fmt("%.1f s", s);
  const long long t = std::llround(s);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%lld:%02lld min", t / 60, t % 60);
  return buf;
}

std::string bleu_ms(const MeanStd& m) { return num_ms(m, "%.2f"); }

std::string delta_bleu_text(const VariantSummary& v) {
  if (v.is_best || !v.compared) return "—";
  return fmt("%+.2f", v.vs_best.delta);
}

std::string bleu_definition(const CompareSummary& s) {
  return std::string("BLEU: corpus BLEU of the detokenised test outputs (") +
         (s.beam > 1 ? "beam " + std::to_string(s.beam) : std::string("greedy decoding")) +
         ") against the test references, computed as sacreBLEU does by default (13a tokenisation, "
         "exp smoothing" + (s.bleu_lowercase ? ", lower-cased" : "") + ")";
}

std::string chrf_definition(const CompareSummary& s) {
  return std::string("chrF2: corpus chrF of the same test outputs against the same references, as sacreBLEU "
                     "computes it by default (character n-grams of orders 1\u20136 without whitespace, beta 2, "
                     "case-sensitive") +
         (s.bleu_lowercase ? " even though BLEU is lower-cased, as sacreBLEU's -lc" : "") +
         "); the best variant is the one of highest mean BLEU, and each variant is tested against it on chrF2 "
         "with the same paired bootstrap (on corpus chrF2) and tests across seeds";
}

std::string chrf_heading() { return "chrF2 next to BLEU"; }

std::vector<std::string> chrf_columns() {
  return {"variant", "BLEU", "chrF2", "\u0394chrF2 vs best", "p (bootstrap)", "p (sign-flip, seeds)", "p (t-test, seeds)"};
}

std::vector<std::string> chrf_row(const VariantSummary& v) {
  const bool judged = !v.is_best && v.seeds_vs_best_chrf.judged();
  return {v.name + (v.is_best ? " (best)" : ""),
          bleu_ms(v.bleu),
          bleu_ms(v.chrf),
          v.is_best || !v.compared_chrf ? "\u2014" : fmt("%+.2f", v.vs_best_chrf.delta),
          v.is_best ? "best" : v.compared_chrf ? p_value_text(v.vs_best_chrf.p_value) : "\u2014",
          v.is_best ? "best" : judged ? p_value_text(v.seeds_vs_best_chrf.sign_flip_p) : "n/a",
          v.is_best ? "best" : judged ? p_value_text(v.seeds_vs_best_chrf.t.p) : "n/a"};
}

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

std::string rate_text(double lr) { return lr > 0 ? rate_name(lr) : "—"; }

std::string steps_ms(const MeanStd& m) { return num_ms(m, "%.0f"); }

std::string validation_text(const CompareSummary& s, double x) {
  if (!std::isfinite(x)) return "—";
  return s.corpus ? fmt("%.2f", x) : fmt("%.4f", x);
}

std::string ranking_text(const CompareSummary& s, const CompareSummary::BudgetRanking& r) {
  std::string order;
  for (const auto& [name, value] : r.order)
    order += (order.empty() ? "" : " > ") + name + " (" + validation_text(s, value) + ")";
  if (order.empty()) return "no validation yet";
  std::size_t ranked = 0;
  for (const auto& other : s.rankings) ranked = std::max(ranked, other.order.size());
  return r.order.size() < ranked ? order + " (not every variant had validated yet)" : order;
}

std::string ranking_step_text(const CompareSummary::BudgetRanking& r) {
  return r.order.empty() ? "—" : std::to_string(r.step);
}

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

bool has_gold(const CompareSummary& s) { return !s.corpus; }

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

std::string contrast_heading(const std::string& axis, const std::string& reference) {
  return "The " + axis + " axis: each variant against its `" + reference + "` twin";
}

std::string contrast_intro(const std::string& axis, const std::string& reference) {
  return "Each variant against the variant that differs from it only in its " + axis + " and has `" + reference +
         "`, the grid's first " + axis + ": the same attention, the rest of the model, data, seeds and budget. "
         "\u0394 = variant \u2212 twin (positive: the variant is better), with the tests of the results table on "
         "the pair.";
}

std::string width_heading(const CompareSummary& s, const CompareSummary::WidthSeries& w) {
  const std::string metric = s.corpus ? "BLEU" : "exact match";
  const std::string against = w.x_label == "d_k"      ? "d_k"
                              : w.x_label == "hidden" ? "the hidden width"
                                                      : "the number of heads";
  return "Scaling: " + metric + " against " + against + " (" + w.axis + " axis)";
}

std::string width_intro(const CompareSummary& s, const CompareSummary::WidthSeries& w) {
  std::string columns;
  if (w.x_label == "d_k")
    columns = "each column a head width d_k = d_model / heads (d_model the variant's hidden width), ascending";
  else if (w.x_label == "hidden")
    columns = "each column a hidden width, ascending";
  else
    columns = "each column a number of heads, ascending (the model width is unknown, so d_k is not shown)";
  return "One row per series: the variants that differ only in their " + w.axis + ", named without their `~" +
         w.axis + "` part; " + columns + ". Each cell: " + (s.corpus ? "test BLEU" : "exact match %") +
         ", mean \u00b1 sample standard deviation over the seeds that trained without diverging (n seeds); "
         "\u2014 where the grid has no such variant or none of its runs succeeded. \u0394 = the series' largest " +
         w.x_label + " \u2212 its smallest (positive: higher at the larger), with the tests of the results table on "
         "the pair.";
}

std::string width_column(const CompareSummary::WidthSeries& w, double x) { return w.x_label + " " + fmt("%g", x); }

std::string width_cell(const CompareSummary& s, const MeanStd& m) {
  if (m.n == 0) return "\u2014";
  return (s.corpus ? bleu_ms(m) : pct_ms(m)) + " (n=" + std::to_string(m.n) + ")";
}

std::string width_delta_text(const CompareSummary& s, const CompareSummary::WidthSeries& w,
                             const CompareSummary::WidthSeries::Line& line) {
  if (!line.tested || !line.test.compared) return "\u2014";
  return (s.corpus ? fmt("%+.2f", line.test.bootstrap.delta) : fmt("%+.1f", 100 * line.test.bootstrap.delta)) +
         " (" + fmt("%g", w.xs[line.high]) + " \u2212 " + fmt("%g", w.xs[line.low]) + ")";
}

std::string width_bootstrap_text(const CompareSummary::WidthSeries::Line& line) {
  return line.tested && line.test.compared ? p_value_text(line.test.bootstrap.p_value) : "\u2014";
}

std::string width_sign_flip_text(const CompareSummary::WidthSeries::Line& line) {
  return line.tested && line.test.seeds.judged() ? p_value_text(line.test.seeds.sign_flip_p) : "n/a";
}

std::string width_t_test_text(const CompareSummary::WidthSeries::Line& line) {
  return line.tested && line.test.seeds.judged() ? p_value_text(line.test.seeds.t.p) : "n/a";
}

std::vector<std::string> width_columns(const CompareSummary& s, const CompareSummary::WidthSeries& w) {
  std::vector<std::string> c{"series"};
  for (double x : w.xs) c.push_back(width_column(w, x));
  c.push_back(std::string(s.corpus ? "\u0394BLEU" : "\u0394EM") + " (largest \u2212 smallest)");
  c.push_back("p (bootstrap)");
  c.push_back("p (sign-flip, seeds)");
  c.push_back("p (t-test, seeds)");
  return c;
}

std::vector<std::string> width_row(const CompareSummary& s, const CompareSummary::WidthSeries& w,
                                   const CompareSummary::WidthSeries::Line& line) {
  std::vector<std::string> r{line.name};
  for (const MeanStd& m : line.cells) r.push_back(width_cell(s, m));
  r.push_back(width_delta_text(s, w, line));
  r.push_back(width_bootstrap_text(line));
  r.push_back(width_sign_flip_text(line));
  r.push_back(width_t_test_text(line));
  return r;
}

std::string two_rates_sentence(const CompareSummary& s) {
  bool own = false;  // a --for rule gave some variant its own rate or candidates
  for (const auto& v : s.variants) own = own || v.training.settings.count("lr") || v.training.settings.count("lr-grid");
  return std::string(s.lr_grid.size() == 2
             ? " With two rates every choice is at an end of the grid: a rate beyond it was not tried and may be better."
             : "") +
         (own ? " Variants a --for rule gives their own rate or candidates trained at those only (\u2014: not one of "
                "the variant's candidates)."
              : "");
}

std::vector<CurvePoint> mean_curve(const std::vector<const std::vector<CurvePoint>*>& curves) {
  std::map<std::size_t, std::pair<double, std::size_t>> acc;
  for (const auto* c : curves)
    for (const auto& p : *c)
      if (std::isfinite(p.value)) acc[p.step].first += p.value, acc[p.step].second++;
  std::vector<CurvePoint> out;
  for (const auto& [step, v] : acc)
    if (v.second == curves.size()) out.push_back({step, v.first / v.second});
  return out;
}

std::string matching_heading() { return "Matching: is the comparison fair?"; }

std::string matching_intro(const CompareSummary& s) {
  return s.matching_text + (s.parameters_text.empty() ? "" : " " + s.parameters_text) +
         " Each variant's training settings (the rate it trained its seeds at, of its candidates; warmup and "
         "schedule; what --for rules set) beside its size, steps and speed:";
}

std::vector<std::string> matching_columns() {
  return {"variant", "parameters", "training", "steps", "train time", "tokens/s"};
}

std::vector<std::string> matching_row(const VariantSummary& v) {
  return {v.name,
          std::to_string(v.parameters),
          v.training_text.empty() ? "—" : v.training_text,
          steps_ms(v.steps),
          v.seconds.n ? duration(v.seconds.mean) : "—",
          v.tokens_per_s.n ? fmt("%.0f", v.tokens_per_s.mean) : "—"};
}

}  // namespace attend::report
