// Text shared by the summary and the report writers (internal): number formats, and the table
// cells and sentences that more than one format (Markdown, CSV, JSON, HTML) prints.
#pragma once
#include <string>
#include <vector>

#include "attend/experiment/summary.hpp"

namespace attend::report {

// printf-style formatting of one number, e.g. fmt("%.2f", x).
std::string fmt(const char* format, double x);
std::string pct(double x);  // a share (0–1) in percent, one decimal
// Mean ± sample standard deviation ("—" without values; no ± for a single one).
std::string pct_ms(const MeanStd& m);
std::string num_ms(const MeanStd& m, const char* f = "%.3f");
std::string bleu_ms(const MeanStd& m);
std::string steps_ms(const MeanStd& m);
std::string duration(double seconds);  // "12.3 s" or "4:05 min"
std::string esc(const std::string& s);  // XML/HTML escaping
std::string rate_text(double lr);      // "—" for 0 (the grid's one rate)
std::string validation_text(const CompareSummary& s, double x);
std::string p_value_text(double p);
// The mean of curves at each step every curve has (runs of a converge budget end at different
// steps: the mean stops at the shortest).
std::vector<CurvePoint> mean_curve(const std::vector<const std::vector<CurvePoint>*>& curves);
// A ranking at a fraction of the budget: "a (0.1234) > b (0.2345)"; says so when no variant, or
// not every variant, had validated by then.
std::string ranking_text(const CompareSummary& s, const CompareSummary::BudgetRanking& r);
std::string ranking_step_text(const CompareSummary::BudgetRanking& r);  // "—" without a ranking

// A variant against the best: Δ, the bootstrap's p and the tests across seeds ("n/a" with fewer
// than 3 paired seeds).
std::string delta_text(const VariantSummary& v);       // ΔEM in percentage points
std::string delta_bleu_text(const VariantSummary& v);  // ΔBLEU in BLEU points
std::string p_text(const VariantSummary& v);
std::string sign_flip_text(const VariantSummary& v);
std::string t_test_text(const VariantSummary& v);

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
Headline headline_of(const CompareSummary& s);

// Gold-aligned attention mass exists only for toy tasks with a known alignment.
bool has_gold(const CompareSummary& s);

// What the BLEU figures are, in one sentence.
std::string bleu_definition(const CompareSummary& s);
// chrF2 next to BLEU (CompareSummary::has_chrf): what the figures are, the section's heading and
// introduction, and its table (variant, BLEU, chrF2, ΔchrF2 vs best and the three p-values).
std::string chrf_definition(const CompareSummary& s);
std::string chrf_heading();
std::vector<std::string> chrf_columns();
std::vector<std::string> chrf_row(const VariantSummary& v);
// What the seed tests could judge, in one sentence ("" with enough seeds).
std::string seed_note(const CompareSummary& s);
std::string budget_sentence(const CompareSummary& s);  // "" without a budget
// The Learning rates section's remark on a two-rate grid ("" otherwise).
std::string two_rates_sentence(const CompareSummary& s);

// An axis contrast (CompareSummary::AxisContrast): its section's heading and introduction (with
// Markdown code spans) and its table cells.
std::string contrast_heading(const std::string& axis, const std::string& reference);
std::string contrast_intro(const std::string& axis, const std::string& reference);
std::string contrast_delta_text(const CompareSummary& s, const CompareSummary::AxisContrast& c);
std::string contrast_bootstrap_text(const CompareSummary::AxisContrast& c);
std::string contrast_sign_flip_text(const CompareSummary::AxisContrast& c);
std::string contrast_t_test_text(const CompareSummary::AxisContrast& c);

// The scaling view of a width axis (CompareSummary::WidthSeries): its section's heading and
// introduction (with Markdown code spans), a column's heading ("d_k 16", "hidden 128"), a cell
// ("90.0 ± 1.2 (n=3)", "—" without a successful run), the Δ of the series' largest width against
// its smallest and the three p-values ("—" / "n/a" when untested).
std::string width_heading(const CompareSummary& s, const CompareSummary::WidthSeries& w);
std::string width_intro(const CompareSummary& s, const CompareSummary::WidthSeries& w);
std::string width_column(const CompareSummary::WidthSeries& w, double x);
std::string width_cell(const CompareSummary& s, const MeanStd& m);
std::string width_delta_text(const CompareSummary& s, const CompareSummary::WidthSeries& w,
                             const CompareSummary::WidthSeries::Line& line);
std::string width_bootstrap_text(const CompareSummary::WidthSeries::Line& line);
std::string width_sign_flip_text(const CompareSummary::WidthSeries::Line& line);
std::string width_t_test_text(const CompareSummary::WidthSeries::Line& line);
std::vector<std::string> width_columns(const CompareSummary& s, const CompareSummary::WidthSeries& w);
std::vector<std::string> width_row(const CompareSummary& s, const CompareSummary::WidthSeries& w,
                                   const CompareSummary::WidthSeries::Line& line);

// The "is it fair?" section: its heading, the sentence on how the variants are matched and the
// parameter spread, and each variant's training settings with its size, steps and speed.
std::string matching_heading();
std::string matching_intro(const CompareSummary& s);
std::vector<std::string> matching_columns();  // variant, parameters, training, steps, train time, tokens/s
std::vector<std::string> matching_row(const VariantSummary& v);

}  // namespace attend::report
