// The Markdown report (REPORT.md) of a comparison grid.
#include "attend/experiment/report.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <ostream>
#include <set>

#include "report_text.hpp"

namespace attend {

using namespace report;

namespace {

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
        if (r->status != RunStatus::Ok) continue;
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
    if (s.has_chrf) {
      out << "- On chrF2 (\u0394, p bootstrap, p sign-flip, p t-test):";
      bool first = true;
      for (const auto& d : s.contrasts) {
        if (d.axis != axis) continue;
        out << (first ? " " : "; ") << s.variants[d.variant].name << " "
            << (d.test.compared_chrf ? fmt("%+.2f", d.test.bootstrap_chrf.delta) : "\u2014") << ", "
            << (d.test.compared_chrf ? p_value_text(d.test.bootstrap_chrf.p_value) : "\u2014") << ", "
            << (d.test.seeds_chrf.judged() ? p_value_text(d.test.seeds_chrf.sign_flip_p) : "n/a") << ", "
            << (d.test.seeds_chrf.judged() ? p_value_text(d.test.seeds_chrf.t.p) : "n/a");
        first = false;
      }
      out << ".\n";
    }
  }
}

// The scaling view: per width axis, the headline metric of each series at each width.
void write_width_series_markdown(const CompareSummary& s, std::ostream& out) {
  for (const auto& w : s.width_series) {
    out << "\n## " << width_heading(s, w) << "\n\n" << width_intro(s, w) << "\n\n|";
    const std::vector<std::string> columns = width_columns(s, w);
    for (const auto& c : columns) out << " " << c << " |";
    out << "\n|";
    for (std::size_t i = 0; i < columns.size(); ++i) out << "---|";
    out << "\n";
    for (const auto& line : w.series) {
      out << "|";
      for (const auto& cell : width_row(s, w, line)) out << " " << cell << " |";
      out << "\n";
    }
    out << "\n- " << w.note << "\n";
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
  if (s.has_chrf) {
    out << "\n## " << chrf_heading() << "\n\n" << chrf_definition(s) << ".\n\n|";
    for (const auto& c : chrf_columns()) out << " " << c << " |";
    out << "\n|";
    for (std::size_t i = 0; i < chrf_columns().size(); ++i) out << "---|";
    out << "\n";
    for (const auto& v : s.variants) {
      out << "|";
      for (const auto& cell : chrf_row(v)) out << " " << cell << " |";
      out << "\n";
    }
    if (!s.metric_agreement.empty()) out << "\n" << s.metric_agreement << "\n";
  }
  out << "\n## " << matching_heading() << "\n\n" << matching_intro(s) << "\n\n|";
  for (const auto& c : matching_columns()) out << " " << c << " |";
  out << "\n|";
  for (std::size_t i = 0; i < matching_columns().size(); ++i) out << "---|";
  out << "\n";
  for (const auto& v : s.variants) {
    out << "|";
    for (const auto& cell : matching_row(v)) out << " " << cell << " |";
    out << "\n";
  }
  write_contrasts_markdown(s, out);
  write_width_series_markdown(s, out);
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
            cell = t.status == RunStatus::Ok ? validation_text(s, t.validation) + (t.chosen ? " *" : "") : to_string(t.status);
        out << " " << cell << " |";
      }
      out << "\n";
    }
  }
  if (!s.rankings.empty()) {
    out << "\n## Ranking at fractions of the budget\n\nBy " << s.validation_metric
        << ": each run's best validation figure up to that step (what a budget of that many steps would have "
           "kept), mean over seeds.\n\n| budget | step | ranking |\n|---|---|---|\n";
    for (const auto& r : s.rankings)
      out << "| " << fmt("%.0f%%", 100 * r.fraction) << " | " << ranking_step_text(r) << " | " << ranking_text(s, r) << " |\n";
    out << "\n" << (s.ranking_changes ? "**" : "") << s.ranking_note << (s.ranking_changes ? "**" : "") << "\n";
  }
  write_diagnostics_markdown(s, out);
  // Sparsity columns when the runs measured it (runs recorded before it was have none).
  const bool sparsity = std::any_of(s.variants.begin(), s.variants.end(),
                                    [](const VariantSummary& v) { return v.zero_share.n > 0; });
  out << "\n## Alignment\n\n" << s.alignment_note
      << " Entropy in nats per output token (a uniform distribution over the source has ln S; "
         "the column gives that mean for comparison)."
      << (sparsity ? " Exact zeros: the share of source positions whose weight is exactly 0 (sparsemax and "
                     "entmax15 give them, softmax only by underflow); support: the mean number of positions "
                     "with weight above 0 per output token."
                   : "")
      << "\n\n| variant | attention entropy | uniform entropy |" << (sparsity ? " exact zeros | support |" : "")
      << (has_gold(s) ? " mass on gold position |" : "") << "\n|---|---|---|" << (sparsity ? "---|---|" : "")
      << (has_gold(s) ? "---|" : "") << "\n";
  for (const auto& v : s.variants) {
    if (!v.has_attention) {
      out << "| " << v.name << " | no attention | — |" << (sparsity ? " — | — |" : "") << (has_gold(s) ? " — |\n" : "\n");
      continue;
    }
    out << "| " << v.name << " | " << num_ms(v.attention_entropy) << " | " << num_ms(v.uniform_entropy) << " |";
    if (sparsity)
      out << " " << (v.zero_share.n ? pct_ms(v.zero_share) + "%" : "—") << " | "
          << (v.support.n ? num_ms(v.support) : "—") << " |";
    if (has_gold(s)) out << " " << (v.gold_mass.n ? pct_ms(v.gold_mass) + "%" : "—") << " |";
    out << "\n";
  }
  if (!s.failures.empty()) {
    out << "\n## Failed runs\n\n";
    for (const auto& [run, err] : s.failures) out << "- " << run << ": " << err << "\n";
  }
}

}  // namespace attend
