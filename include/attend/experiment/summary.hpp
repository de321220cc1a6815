// The summary of a comparison grid: its runs grouped by variant and averaged over seeds, the best
// variant and every other tested against it, the ranking at fractions of the budget and the
// contrasts along the grid's other axes. The report writers (report.hpp) print it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "attend/eval/significance.hpp"
#include "attend/experiment/compare.hpp"

namespace attend {

struct LengthBucket {
  int lo = 0, hi = 0;  // source lengths, inclusive
  std::string label() const;
};

// Two variants' runs paired on the same test sentences and seeds: the paired bootstrap over test
// sentences (exact match, or corpus BLEU in a corpus grid) and the tests across seeds, both of
// a − b.
struct PairedComparison {
  BootstrapResult bootstrap;
  bool compared = false;  // the bootstrap is meaningful (both have paired successful runs)
  SeedTest seeds;
  // Corpus grids whose runs measured chrF: the same two tests on corpus chrF2.
  BootstrapResult bootstrap_chrf;
  bool compared_chrf = false;
  SeedTest seeds_chrf;
};

struct VariantSummary {
  Variant variant;
  std::string name;
  std::vector<const RunResult*> runs;  // every run of the variant, in seed order
  std::size_t ok = 0, diverged = 0, failed = 0;
  MeanStd exact_match, token_accuracy, perplexity, seconds, tokens_per_s;
  MeanStd bleu;                    // corpus grids: test BLEU (0–100)
  MeanStd chrf;                    // corpus grids: test chrF2 (0–100), when the runs measured it
  BootstrapResult vs_best_chrf;    // chrF2 against the best variant (by BLEU), as vs_best
  bool compared_chrf = false;
  SeedTest seeds_vs_best_chrf;
  MeanStd attention_entropy, uniform_entropy, gold_mass;
  MeanStd zero_share, support;  // attention sparsity (RunResult::attention_zero_share, attention_support)
  std::size_t parameters = 0;
  // Per bucket (CompareSummary::buckets): exact match (0–1), or BLEU (0–100) in a corpus grid.
  std::vector<MeanStd> by_length;
  std::vector<CurvePoint> mean_train_loss, mean_valid_loss;  // mean over successful seeds
  std::vector<CurvePoint> mean_valid_bleu;                   // corpus grids
  bool has_attention = false;
  bool is_best = false;
  BootstrapResult vs_best;   // this variant against the best (p = 1 for the best itself);
                             // delta in exact match (0–1), or in BLEU points for a corpus grid
  bool compared = false;     // vs_best is meaningful (both have paired successful runs)
  // Across seeds against the best: per-seed headline differences (this − best), paired by seed.
  SeedTest seeds_vs_best;
  MeanStd best_step, best_seconds;  // the kept checkpoint's step and the training time until it
  std::size_t stopped_early = 0;    // runs that stopped before the step budget (patience)
  // --lr-grid: the rate the seeds trained at (0 = the grid's one rate) and every rate tried on
  // the first seed with its validation figure (validation_score, shown as the metric).
  double lr = 0;
  struct RateTrial {
    double lr = 0;
    RunStatus status = RunStatus::Ok;
    double validation = std::numeric_limits<double>::quiet_NaN();  // loss, or BLEU for a corpus
    bool chosen = false;
  };
  std::vector<RateTrial> rates;
  // The training settings it ran with: the grid's, with the --for rules that match it applied
  // (has_training false for a result without them), and as one phrase for the reports:
  // "lr 0.001 (of 0.0003, 0.001), warmup 4000, inverse-sqrt".
  VariantTraining training;
  bool has_training = false;
  std::string training_text;
  MeanStd steps;                   // updates trained (successful runs)
  std::vector<std::string> notes;  // e.g. "seed 2 diverged (NaN loss), excluded from the mean"
};

struct CompareSummary {
  std::vector<VariantSummary> variants;
  std::vector<LengthBucket> buckets;
  std::vector<std::pair<std::string, std::string>> failures;  // run name, error
  std::string best;              // highest mean exact match (corpus grids: highest mean BLEU)
  std::string alignment, alignment_note, data_name;
  bool corpus = false;           // BLEU metrics; lengths in words; buckets of equal size
  // Every successful run of the corpus grid measured chrF2 (runs recorded before chrF was
  // measured lack it): the reports show chrF2 next to BLEU.
  bool has_chrf = false;
  // One plain sentence: whether BLEU and chrF2 order the variants (by mean over seeds) the same
  // way, and the pairs they disagree about ("" without chrF).
  std::string metric_agreement;
  std::vector<std::pair<std::string, std::string>> metric_disagreements;  // (a, b): BLEU a > b, chrF2 a < b
  std::string data_description;
  bool bleu_lowercase = false;
  std::size_t beam = 1;
  int train_min_len = 0, train_max_len = 0, test_min_len = 0, test_max_len = 0;
  std::size_t resamples = 1000;
  std::uint64_t bootstrap_seed = 12345;
  std::size_t total_runs = 0;
  std::size_t max_seeds = 0;      // successful seeds of the variant with the most
  // The budget and the ranking of the variants by validation figure at fractions of it: at each
  // fraction f, every run's best validation figure among its validations at steps <= f × the
  // largest step any counted run validated at (what a budget of that many steps, with the same
  // early stopping, would have kept), averaged over the variant's seeds.
  std::string budget;
  bool converge = false;
  std::vector<double> lr_grid;     // every variant's rate candidates (a --for rule's too)
  // How the variants are matched, for "is it fair?": "equal-steps", "equal-time" (--time-limit)
  // or "convergence", the sentence saying so, and the parameter counts' spread ("parameters
  // differ by up to 2.3x: gru+bahdanau 4.1M, transformer 9.6M").
  std::string matching;
  std::string matching_text, parameters_text;
  double parameter_ratio = 1;      // largest / smallest parameter count
  std::string validation_metric;  // "validation loss (lower is better)" or "validation BLEU ..."
  struct BudgetRanking {
    double fraction = 1;
    std::size_t step = 0;
    std::vector<std::pair<std::string, double>> order;  // variant, mean figure; best first
  };
  std::vector<BudgetRanking> rankings;
  bool ranking_changes = false;
  std::string ranking_note;       // one plain sentence: whether and how the order changes
  // The grid's axes other than attention (encoder, cell, decoder style, luong output) one at a
  // time: each variant against the one that differs from it only there and has that axis's first
  // value in the grid, e.g. gru+bahdanau@transformer against gru+bahdanau ("does the
  // self-attention encoder beat the recurrent one under the same decoder?").
  struct AxisContrast {
    std::string axis;             // "encoder", "cell", "decoder", "luong output"
    std::string value, reference_value;
    std::size_t variant = 0, reference = 0;  // indices into variants
    PairedComparison test;        // variant − reference
  };
  std::vector<AxisContrast> contrasts;  // grouped by axis, in grid order
  // Per axis and value, one plain sentence counting the pairs each test separates: (axis, text).
  std::vector<std::pair<std::string, std::string>> contrast_notes;
  // The scaling view of each width axis the grid varies (hidden, heads: two or more values), in
  // grid_axes() order: the headline metric (exact match 0–1, or BLEU 0–100 in a corpus grid)
  // against the width, one series per combination of the variant's other axes.
  struct WidthSeries {
    std::string axis;     // "heads" or "hidden"
    // What the columns measure: "d_k" (d_model / heads, d_model the variant's hidden: its hidden
    // axis value, or the shared model's CompareResult::hidden) for the heads axis, "hidden" for
    // the hidden axis; "heads" when the heads axis's d_model is unknown (CompareResult::hidden 0).
    std::string x_label;
    std::vector<double> xs;  // every width of any series, ascending (not the grid's order)
    struct Line {
      std::string name;      // the variants' name without the axis's part, e.g. "gru+bahdanau/transformer"
      std::vector<MeanStd> cells;       // per xs; n 0: no variant there, or none of its runs succeeded
      std::vector<long> variants;       // per xs: index into CompareSummary::variants, −1 for none
      // The variant at the series' largest width against the one at its smallest (both with a
      // successful run): compare_paired(largest, smallest), Δ = largest − smallest.
      bool tested = false;
      std::size_t low = 0, high = 0;    // indices into xs of the two ends tested
      PairedComparison test;
    };
    std::vector<Line> series;  // in grid order of their first variant
    std::string note;          // one plain sentence counting the series each test separates
  };
  std::vector<WidthSeries> width_series;
};

// The ranking at fractions of the budget (CompareSummary::rankings). `curves[k]` holds the
// validation curves of variant k's runs, `higher_better` says which way the figure improves.
std::vector<CompareSummary::BudgetRanking> rank_at_fractions(
    const std::vector<std::string>& variants,
    const std::vector<std::vector<const std::vector<CurvePoint>*>>& curves, bool higher_better,
    const std::vector<double>& fractions = {0.25, 0.5, 1.0});

// Groups runs by variant, averages over seeds (diverged and failed runs excluded, with a note),
// finds the best variant and tests every other against it. Length buckets: equal width over the
// test lengths for a toy task; for a corpus, up to max_buckets buckets holding about equal
// numbers of test sentences (lengths are long-tailed there).
CompareSummary summarize(const CompareResult& result, std::size_t max_buckets = 6);
// Pairs the successful runs of a and b by seed (exact match or, for a corpus, BLEU statistics).
PairedComparison compare_paired(const VariantSummary& a, const VariantSummary& b, bool corpus,
                                std::size_t resamples = 1000, std::uint64_t seed = 12345);

}  // namespace attend
