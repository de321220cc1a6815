// The HTML page (report.html) of a comparison grid: self-contained (inline CSS, JS and SVG).
#include "attend/experiment/report.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <ostream>

#include "length_buckets.hpp"
#include "report_assets.hpp"
#include "report_text.hpp"
#include "svg_chart.hpp"

namespace attend {

using namespace report;

namespace {

std::string joined(const std::vector<std::string>& tokens) {
  std::string s;
  for (const auto& t : tokens) s += t;
  return s;
}

// Markdown's code spans, for the HTML page.
std::string without_backticks(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), '`'), text.end());
  return text;
}

// A variant name that may wrap after its '+' and before its '@' (cell+attention+output@encoder),
// so the results table fits the page with its p columns.
std::string breakable(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '@') out += "<wbr>";
    out += esc(std::string(1, c));
    if (c == '+') out += "<wbr>";
  }
  return out;
}

// A chart id from a group name: letters and digits kept, anything else '-'.
std::string slug(const std::string& name) {
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return out;
}

// One diagnostics measure of a point; NaN where the point has none.
using Measure = std::function<double(const DiagnosticsPoint&)>;

// A line per variant, the mean over its successful seeds (up to the step every seed reached),
// and thin lines for the single seeds when there are two or more, as the learning curves have.
std::vector<Series> measure_series(const CompareSummary& s, const std::map<std::string, std::string>& color,
                                   const Measure& measure) {
  std::vector<Series> thin, mean;
  for (const auto& v : s.variants) {
    std::vector<std::vector<CurvePoint>> curves;
    std::vector<std::uint64_t> seeds;
    for (const RunResult* r : v.runs) {
      if (r->status != RunStatus::Ok) continue;
      std::vector<CurvePoint> c;
      for (const auto& p : r->diagnostics)
        if (std::isfinite(measure(p))) c.push_back({p.step, measure(p)});
      if (c.empty()) continue;
      curves.push_back(std::move(c));
      seeds.push_back(r->spec.seed);
    }
    if (curves.empty()) continue;
    const std::string& c = color.at(v.name);
    std::vector<const std::vector<CurvePoint>*> pointers;
    for (std::size_t k = 0; k < curves.size(); ++k) {
      pointers.push_back(&curves[k]);
      if (curves.size() < 2) continue;
      Series t{v.name + " s" + std::to_string(seeds[k]), c, {}, 1, 0.35, false, false, false};
      for (const auto& p : curves[k]) t.points.push_back({double(p.step), p.value});
      thin.push_back(std::move(t));
    }
    Series m{v.name, c, {}, 2.2, 1, false, true, true};
    for (const auto& p : mean_curve(pointers)) m.points.push_back({double(p.step), p.value});
    mean.push_back(std::move(m));
  }
  thin.insert(thin.end(), mean.begin(), mean.end());
  return thin;
}

double group_value(const std::map<std::string, double>& values, const std::string& group) {
  auto it = values.find(group);
  return it == values.end() ? NAN : it->second;
}

// One chart per measure over training steps (the share of saturated units per unit group, the
// attention entropy against the uniform entropy, the gradient norm per parameter group), with a
// line per variant (TrainResult::diagnostics).
void write_diagnostics(const CompareSummary& s, const std::map<std::string, std::string>& color, std::ostream& o) {
  o << "<h2 id=\"why\">Why: training diagnostics</h2>\n";
  std::set<std::string> saturation_groups, gradient_groups;
  bool any = false;
  for (const auto& v : s.variants)
    for (const RunResult* r : v.runs)
      for (const auto& p : r->diagnostics) {
        any = true;
        for (const auto& kv : p.saturation) saturation_groups.insert(kv.first);
        for (const auto& kv : p.grad_norm) gradient_groups.insert(kv.first);
      }
  if (!any) {
    o << "<p id=\"no-diagnostics\">No training diagnostics were recorded for these runs (the trainer that wrote "
         "them records none, or the runs were read back from files written before diagnostics existed).</p>\n";
    return;
  }
  o << "<p>Measured on the training batch every few steps: one chart per measure, a line per variant (mean over its "
       "seeds, thick; single seeds thin). <b>Saturation</b>: share of units whose tanh is beyond \u00b10.99 or whose "
       "sigmoid is outside [0.01, 0.99] (their gradient is nearly 0, so what feeds them learns slowly). <b>Attention "
       "entropy</b> in nats per output step, with the entropy of a uniform distribution over the source (ln S) for "
       "scale. <b>Gradient norm</b> per parameter group before clipping (log scale).</p>\n<div class=\"charts\">";
  const std::string steps = "training step (updates)";
  for (const auto& group : saturation_groups)
    o << "<figure>"
      << line_chart("diag-sat-" + slug(group), "Saturated units: " + group, steps, "share saturated",
                    measure_series(s, color, [&](const DiagnosticsPoint& p) { return group_value(p.saturation, group); }),
                    false, 0, 1)
      << "<figcaption>Share of saturated units in " << esc(group) << ".</figcaption></figure>";
  auto entropy = measure_series(s, color, [](const DiagnosticsPoint& p) {
    return p.attention_entropy >= 0 ? p.attention_entropy : NAN;
  });
  if (!entropy.empty()) {
    std::vector<const std::vector<CurvePoint>*> uniform;
    std::vector<std::vector<CurvePoint>> curves;
    for (const auto& v : s.variants)
      for (const RunResult* r : v.runs) {
        std::vector<CurvePoint> c;
        for (const auto& p : r->diagnostics)
          if (r->status == RunStatus::Ok && p.uniform_entropy >= 0) c.push_back({p.step, p.uniform_entropy});
        if (!c.empty()) curves.push_back(std::move(c));
      }
    for (const auto& c : curves) uniform.push_back(&c);
    Series u{"uniform (ln S)", "#777777", {}, 1.5, 1, true, true, true};
    for (const auto& p : mean_curve(uniform)) u.points.push_back({double(p.step), p.value});
    entropy.push_back(u);
    o << "<figure>" << line_chart("diag-ent", "Attention entropy", steps, "nats per output step", entropy, false, 0)
      << "<figcaption>Entropy of the attention weights; near ln S the attention is still about uniform.</figcaption>"
         "</figure>";
  } else {
    o << "<p class=\"none\">No attention entropy: no variant has attention.</p>";
  }
  for (const auto& group : gradient_groups)
    o << "<figure>"
      << line_chart("diag-grad-" + slug(group), "Gradient norm: " + group, steps, "L2 norm before clipping (log scale)",
                    measure_series(s, color, [&](const DiagnosticsPoint& p) { return group_value(p.grad_norm, group); }),
                    true)
      << "<figcaption>Gradient norm of the " << esc(group) << " parameters.</figcaption></figure>";
  o << "</div>\n";
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
  o << "<th>parameters</th><th>best step</th><th>time to best</th><th>train time</th><th>tokens/s</th><th>"
    << (s.corpus ? "\u0394BLEU" : "\u0394EM")
    << " vs best</th><th>p (bootstrap)</th><th>p (sign-flip, seeds)</th><th>p (t-test, seeds)</th></tr>\n";
  for (const auto& v : s.variants) {
    o << "<tr" << (v.is_best ? " class=\"best\"" : "") << "><td><span class=\"swatch\" style=\"background:" << color[v.name]
      << "\"></span>" << breakable(v.name) << (v.notes.empty() ? "" : " <span class=\"note\">\u2020</span>") << "</td><td>" << v.ok << "/"
      << v.runs.size() << "</td>" << (lr ? "<td>" + rate_text(v.lr) + "</td>" : "") << "<td>"
      << (s.corpus ? bleu_ms(v.bleu) : pct_ms(v.exact_match)) << "</td><td>"
      << pct_ms(v.token_accuracy) << "</td><td>" << num_ms(v.perplexity) << "</td>";
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
  if (s.has_chrf) {
    o << "<h3 id=\"chrf\">" << esc(chrf_heading()) << "</h3>\n<p>" << esc(chrf_definition(s))
      << ".</p>\n<table id=\"chrf-table\"><tr>";
    for (const auto& c : chrf_columns()) o << "<th>" << esc(c) << "</th>";
    o << "</tr>\n";
    for (const auto& v : s.variants) {
      o << "<tr" << (v.is_best ? " class=\"best\"" : "") << ">";
      for (const auto& cell : chrf_row(v)) o << "<td>" << esc(cell) << "</td>";
      o << "</tr>\n";
    }
    o << "</table>\n";
    if (!s.metric_agreement.empty()) o << "<p id=\"metric-agreement\">" << esc(s.metric_agreement) << "</p>\n";
  }
  // By source length in a table of its own, so the results table fits the page with its p columns.
  if (!s.buckets.empty()) {
    o << "<p id=\"by-length\">" << (s.corpus ? "BLEU" : "Exact match %") << " by source length ("
      << (s.corpus ? "words" : "tokens") << ") on the test split, mean \u00b1 std over seeds:</p>\n"
      << "<div class=\"wide\"><table id=\"length-table\"><tr><th>variant</th>";
    for (const auto& b : s.buckets) o << "<th>len " << b.label() << "</th>";
    o << "</tr>\n";
    for (const auto& v : s.variants) {
      o << "<tr" << (v.is_best ? " class=\"best\"" : "") << "><td><span class=\"swatch\" style=\"background:"
        << color[v.name] << "\"></span>" << esc(v.name) << "</td>";
      for (const auto& b : v.by_length) o << "<td>" << (s.corpus ? bleu_ms(b) : pct_ms(b)) << "</td>";
      o << "</tr>\n";
    }
    o << "</table></div>\n";
  }
  o << "<p style=\"font-size:12px;color:#555\" id=\"seed-tests\">Across seeds: " << esc(seed_test_method()) << "</p>\n";
  if (!seed_note(s).empty()) o << "<p class=\"note\" id=\"seed-note\">" << esc(seed_note(s)) << "</p>\n";
  o << "<h2 id=\"matching\">" << esc(matching_heading()) << "</h2>\n<p>" << esc(matching_intro(s))
    << "</p>\n<div class=\"wide\"><table id=\"matching-table\"><tr>";
  for (const auto& c : matching_columns()) o << "<th>" << esc(c) << "</th>";
  o << "</tr>\n";
  for (const auto& v : s.variants) {
    o << "<tr>";
    for (const auto& cell : matching_row(v)) o << "<td>" << esc(cell) << "</td>";
    o << "</tr>\n";
  }
  o << "</table></div>\n";
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
  // The scaling view: per width axis a table and a chart (x on a log2 scale at the widths, one line
  // per series, each point with the seeds' standard deviation as an error bar).
  for (const auto& w : s.width_series) {
    o << "<h2 id=\"scaling-" << esc(w.axis) << "\">" << esc(width_heading(s, w)) << "</h2>\n<p>"
      << esc(without_backticks(width_intro(s, w))) << "</p>\n<div class=\"wide\"><table id=\"scaling-" << esc(w.axis)
      << "-table\"><tr>";
    for (const auto& c : width_columns(s, w)) o << "<th>" << esc(c) << "</th>";
    o << "</tr>\n";
    std::vector<Series> lines;
    ChartOptions chart;
    chart.log2_x = true;
    chart.x_ticks = w.xs;
    for (std::size_t i = 0; i < w.series.size(); ++i) {
      const auto& line = w.series[i];
      Series series;
      series.name = line.name;
      series.color = color_of(i);
      series.markers = true;
      chart.errors.emplace_back();
      for (std::size_t k = 0; k < w.xs.size(); ++k) {
        const MeanStd& m = line.cells[k];
        if (!m.n) continue;
        const double scale = s.corpus ? 1.0 : 100.0;
        series.points.push_back({w.xs[k], scale * m.mean});
        chart.errors.back().push_back(m.n > 1 ? scale * m.std : 0.0);
      }
      lines.push_back(series);
      const std::vector<std::string> row = width_row(s, w, line);
      o << "<tr><td><span class=\"swatch\" style=\"background:" << series.color << "\"></span>" << esc(row[0]) << "</td>";
      for (std::size_t k = 1; k < row.size(); ++k) o << "<td>" << esc(row[k]) << "</td>";
      o << "</tr>\n";
    }
    o << "</table></div>\n<p class=\"note\">" << esc(w.note) << "</p>\n";
    const std::string xlab = w.x_label == "d_k"      ? "d_k = d_model / heads (log scale)"
                             : w.x_label == "hidden" ? "hidden width (log scale)"
                                                     : "heads (log scale)";
    o << "<figure>"
      << line_chart("chart-scaling-" + w.axis, width_heading(s, w), xlab, s.corpus ? "test BLEU" : "exact match %",
                    lines, false, NAN, NAN, {NAN, NAN}, "", chart)
      << "<figcaption>Mean over seeds; the bars span \u00b1 one standard deviation over the seeds.</figcaption></figure>\n";
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
          if (t.lr == x) cell = t.status == RunStatus::Ok ? validation_text(s, t.validation) : to_string(t.status), chosen = t.chosen;
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
    for (const auto& r : s.rankings)
      o << "<tr><td>" << fmt("%.0f%%", 100 * r.fraction) << "</td><td>" << ranking_step_text(r) << "</td><td style=\"text-align:left\">"
        << esc(ranking_text(s, r)) << "</td></tr>\n";
    o << "</table>\n<p id=\"ranking-note\"" << (s.ranking_changes ? " class=\"note\" style=\"font-weight:bold\"" : "") << ">"
      << esc(s.ranking_note) << "</p>\n";
  }

  // Curves.
  o << "<h2 id=\"curves\">Learning curves and " << (s.corpus ? "BLEU" : "accuracy") << " by length</h2>\n<div class=\"charts\">";
  {
    std::vector<Series> tr, va;
    for (const auto& v : s.variants) {
      for (const RunResult* r : v.runs) {
        if (r->status != RunStatus::Ok || v.ok < 2) continue;
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
            if (r->status == RunStatus::Ok) {
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
  write_diagnostics(s, color, o);

  // Alignment statistics (a corpus has no gold alignment: entropy only, and the report says so).
  // Sparsity columns when the runs measured it (runs recorded before it was have none).
  const bool sparsity = std::any_of(s.variants.begin(), s.variants.end(),
                                    [](const VariantSummary& v) { return v.zero_share.n > 0; });
  auto sparsity_cells = [&](const VariantSummary& v) {
    if (!sparsity) return std::string();
    return "<td>" + (v.zero_share.n ? pct_ms(v.zero_share) : std::string("—")) + "</td><td>" +
           (v.support.n ? num_ms(v.support) : std::string("—")) + "</td>";
  };
  o << "<h2 id=\"alignment\">Alignment statistics</h2>\n<p>" << esc(s.alignment_note) << " Computed on the "
    << (s.beam > 1 ? "beam-search" : "greedy") << " outputs of up to the first 300 test sentences. <b>Entropy</b> (nats) "
       "of each output token's attention distribution: 0 = all weight on one source token; ln S (the \u201cuniform\u201d "
       "column) = spread evenly."
    << (s.corpus ? "" : " <b>Mass on gold</b>: mean weight on the known correct source position (higher = sharper, "
                        "correctly placed attention).")
    << (sparsity ? " <b>Exact zeros</b>: share of source positions whose weight is exactly 0 (sparsemax and entmax15 "
                   "give them; softmax only by underflow). <b>Support</b>: mean number of positions with weight above 0 "
                   "per output token."
                 : "")
    << "</p>\n<table><tr><th>variant</th><th>attention entropy</th><th>uniform entropy (ln S)</th>"
    << (sparsity ? "<th>exact zeros %</th><th>support</th>" : "") << "<th>mass on gold position"
    << (s.corpus ? "" : " %") << "</th></tr>\n";
  for (const auto& v : s.variants) {
    o << "<tr><td><span class=\"swatch\" style=\"background:" << color[v.name] << "\"></span>" << esc(v.name) << "</td>";
    if (!v.has_attention)
      o << "<td colspan=\"" << (sparsity ? 5 : 3) << "\" style=\"text-align:center;color:#777\">" << (v.ok ? "no attention mechanism" : "no successful run") << "</td></tr>\n";
    else if (s.corpus)
      o << "<td>" << num_ms(v.attention_entropy) << "</td><td>" << num_ms(v.uniform_entropy) << "</td>"
        << sparsity_cells(v) << "<td style=\"color:#777\">not available: no gold alignment for a corpus</td></tr>\n";
    else
      o << "<td>" << num_ms(v.attention_entropy) << "</td><td>" << num_ms(v.uniform_entropy) << "</td>"
        << sparsity_cells(v) << "<td>" << (v.gold_mass.n ? pct_ms(v.gold_mass) : "—") << "</td></tr>\n";
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
      if (r->spec.seed == seed0 && r->status == RunStatus::Ok) {
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
    const bool ok = r.status == RunStatus::Ok;
    o << "<tr><td>" << esc(r.spec.name()) << "</td><td" << (ok ? "" : " class=\"note\"") << ">" << esc(to_string(r.status))
      << (r.status == RunStatus::Failed ? ": " + esc(r.error) : "") << (r.resumed ? " (earlier invocation)" : "")
      << (r.time_limit_reached ? " (time limit)" : "") << "</td><td>"
      << (ok ? (s.corpus ? fmt("%.2f", r.bleu) : pct(r.exact_match)) : "—") << "</td><td>" << (ok ? pct(r.token_accuracy) : "—") << "</td><td>"
      << (ok ? fmt("%.3f", r.perplexity) : "—") << "</td><td>" << r.steps << "</td><td>" << duration(r.seconds)
      << "</td><td class=\"mono\" style=\"text-align:left\">" << esc(r.run_dir) << "</td></tr>\n";
  }
  o << "</table>\n<p style=\"font-size:12px;color:#777\">Written by <span class=\"mono\">attend compare</span>. "
       "This file is self-contained: no network access is needed to view it.</p>\n";
  o << "<p style=\"font-size:11px;color:#999;margin-bottom:0\">What this page drew (filled in by its script; read by attend's headless-browser test):</p><pre id=\"render-check\"></pre>\n<script>" << kJs << "</script>\n</body></html>\n";
}

}  // namespace attend
