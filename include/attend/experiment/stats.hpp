// Tests across seeds: the runs of two variants paired by seed (same data, batch order and shared
// initial values), one difference of their scores per seed. These cover the variation between
// trainings, which the paired bootstrap over test sentences (report.hpp) does not.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attend {

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
