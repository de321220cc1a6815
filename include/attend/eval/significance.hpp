// Significance tests of a comparison: the paired bootstrap over test sentences (Koehn 2004), on
// per-sentence scores or on corpus BLEU, and the tests across seeds (sign-flip permutation and
// paired t-test), which cover the variation between trainings the bootstrap does not.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attend/eval/bleu_stats.hpp"
#include "attend/eval/chrf.hpp"

namespace attend {

struct MeanStd {
  double mean = 0, std = 0;  // sample standard deviation (n − 1); 0 for a single value
  std::size_t n = 0;         // values that entered (0: no successful run)
};
MeanStd mean_std(const std::vector<double>& values);

// ---- the paired bootstrap over test sentences -----------------------------------------------

// Paired bootstrap resampling (Koehn 2004) over items: `a` and `b` hold the two systems' scores
// on the same items; `strata` (optional, same length) keeps each stratum's size when resampling
// (e.g. the seed a test sentence belongs to). Returns the two-sided p-value of "mean(a) − mean(b)
// is 0": the share of resampled differences, centred on the observed one, at least as far from 0
// as the observed difference ((count + 1) / (resamples + 1)).
struct BootstrapResult {
  double delta = 0;   // mean(a) − mean(b)
  double p_value = 1;
  std::size_t items = 0, resamples = 0;
};
BootstrapResult paired_bootstrap(const std::vector<double>& a, const std::vector<double>& b,
                                 const std::vector<int>& strata = {},
                                 std::size_t resamples = 1000, std::uint64_t seed = 12345);
std::string bootstrap_method();  // one sentence naming the method, for reports

// Paired bootstrap resampling on corpus BLEU (Koehn 2004), for corpus grids. a[k] and b[k] hold
// the per-sentence BLEU statistics of the two systems in seed k, on the same test sentences.
// Each resample draws N sentence indices with replacement (the same indices for every seed) and
// recomputes each system's corpus BLEU from the summed statistics of the sample; the statistic is
// the mean over seeds of BLEU(a) − BLEU(b), in BLEU points. The p-value is as paired_bootstrap's:
// two-sided, resampled differences centred on the observed one; 1 when the difference is 0.
BootstrapResult paired_bootstrap_bleu(const std::vector<std::vector<BleuStats>>& a,
                                      const std::vector<std::vector<BleuStats>>& b,
                                      std::size_t resamples = 1000, std::uint64_t seed = 12345);
std::string bootstrap_bleu_method();

// The same on corpus chrF: a[k][i] is the chrF statistics (ChrfScore::statistics of sentence i
// alone) of system a in seed k; each resample sums the sampled sentences' statistics and scores
// them with chrf_from_statistics(options). Delta in chrF points.
using ChrfStatistics = std::vector<std::array<std::size_t, 3>>;
BootstrapResult paired_bootstrap_chrf(const std::vector<std::vector<ChrfStatistics>>& a,
                                      const std::vector<std::vector<ChrfStatistics>>& b,
                                      const ChrfOptions& options = {}, std::size_t resamples = 1000,
                                      std::uint64_t seed = 12345);
std::string bootstrap_chrf_method();

// ---- tests across seeds ---------------------------------------------------------------------
// The runs of two variants paired by seed (same data, batch order and shared initial values),
// one difference of their scores per seed.

// Exact paired permutation (sign-flip) test: under "no difference" each per-seed difference is as
// likely positive as negative, so the 2^n sign patterns are equally likely. Two-sided p = share
// of patterns whose mean is at least as far from 0 as the observed mean. Exact up to n = 20;
// beyond, `monte_carlo` random patterns (fixed seed) estimate it. 1 when every difference is 0.
double sign_flip_p(const std::vector<double>& differences, std::size_t monte_carlo = 100000,
                   std::uint64_t seed = 12345);

// Paired t-test over per-seed differences: t = mean / (sd / sqrt(n)), n − 1 degrees of freedom,
// two-sided p from Student's t distribution. t and p are NaN for n < 2 or when every difference
// is the same (the standard deviation is 0).
struct TTestResult {
  double mean = 0, t = 0, df = 0, p = 0;
};
TTestResult paired_t_test(const std::vector<double>& differences);

// P(|T| >= |t|) for Student's t with df degrees of freedom.
double student_t_two_sided_p(double t, double df);
// The regularised incomplete beta function I_x(a, b), 0 <= x <= 1.
double regularized_incomplete_beta(double x, double a, double b);

// Both tests on the per-seed differences (a − b) of two variants.
struct SeedTest {
  std::size_t seeds = 0;          // pairs (seeds where both trained successfully)
  double mean_difference = 0;
  double sign_flip_p = 1;         // NaN when seeds < kMinSeeds
  TTestResult t;                  // t.p NaN when seeds < kMinSeeds or the sd is 0
  bool judged() const { return seeds >= kMinSeeds; }
  static constexpr std::size_t kMinSeeds = 3;
};
SeedTest seed_test(const std::vector<double>& a, const std::vector<double>& b);
std::string seed_test_method();  // one sentence naming both tests, for reports

}  // namespace attend
