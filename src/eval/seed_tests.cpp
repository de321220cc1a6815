// The tests across seeds (significance.hpp): sign-flip permutation test and paired t-test.
#include "attend/eval/significance.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "attend/core/error.hpp"

namespace attend {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

// Continued fraction of I_x(a, b) (modified Lentz), valid for x < (a + 1) / (a + b + 2).
double beta_fraction(double x, double a, double b) {
  const double tiny = 1e-300, eps = 1e-15;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  d = 1 / (std::fabs(d) < tiny ? tiny : d);
  double f = d;
  for (int m = 1; m <= 500; ++m) {
    // Even and odd terms of the fraction.
    for (int odd = 0; odd < 2; ++odd) {
      const double num = odd ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                             : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
      d = 1 + num * d;
      d = 1 / (std::fabs(d) < tiny ? tiny : d);
      c = 1 + num / c;
      if (std::fabs(c) < tiny) c = tiny;
      f *= c * d;
      if (odd && std::fabs(c * d - 1) < eps) return f;
    }
  }
  return f;
}

}  // namespace

double regularized_incomplete_beta(double x, double a, double b) {
  if (!(x >= 0 && x <= 1) || !(a > 0) || !(b > 0)) throw Error("incomplete beta: argument out of range");
  if (x == 0 || x == 1) return x;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return std::exp(log_front) * beta_fraction(x, a, b) / a;
  // Symmetry I_x(a, b) = 1 − I_{1−x}(b, a), where the fraction converges.
  return 1 - std::exp(log_front) * beta_fraction(1 - x, b, a) / b;
}

double student_t_two_sided_p(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return kNaN;
  if (std::isinf(t)) return 0;
  // P(|T| >= |t|) = I_{df / (df + t²)}(df / 2, 1 / 2).
  return regularized_incomplete_beta(df / (df + t * t), df / 2, 0.5);
}

TTestResult paired_t_test(const std::vector<double>& d) {
  TTestResult r;
  r.mean = mean_of(d);
  const std::size_t n = d.size();
  r.df = n > 0 ? double(n - 1) : 0;
  if (n < 2) {
    r.t = r.p = kNaN;
    return r;
  }
  double ss = 0;
  for (double x : d) ss += (x - r.mean) * (x - r.mean);
  const double sd = std::sqrt(ss / (n - 1));
  // Identical differences (up to rounding): no variance to scale the mean by.
  if (!(sd > 1e-12 * std::max(1.0, std::fabs(r.mean)))) {
    r.t = r.p = kNaN;
    return r;
  }
  r.t = r.mean / (sd / std::sqrt(double(n)));
  r.p = student_t_two_sided_p(r.t, r.df);
  return r;
}

double sign_flip_p(const std::vector<double>& d, std::size_t monte_carlo, std::uint64_t seed) {
  const std::size_t n = d.size();
  if (n == 0) return 1;
  double observed = 0;
  for (double x : d) observed += x;
  observed = std::fabs(observed);
  if (observed == 0) return 1;
  const double tolerance = 1e-12 * (1 + observed);
  auto extreme = [&](std::uint64_t signs) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += (signs >> i & 1) ? -d[i] : d[i];
    return std::fabs(s) >= observed - tolerance;
  };
  if (n <= 20) {
    const std::uint64_t patterns = std::uint64_t(1) << n;
    std::uint64_t count = 0;
    for (std::uint64_t s = 0; s < patterns; ++s) count += extreme(s);
    return double(count) / double(patterns);
  }
  std::mt19937_64 rng(seed);
  std::size_t count = 0;
  for (std::size_t k = 0; k < monte_carlo; ++k) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += (rng() & 1) ? -d[i] : d[i];
    count += std::fabs(s) >= observed - tolerance;
  }
  return double(count + 1) / double(monte_carlo + 1);
}

SeedTest seed_test(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw Error("seed test: the two variants have different numbers of seeds");
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  SeedTest r;
  r.seeds = d.size();
  r.mean_difference = mean_of(d);
  if (!r.judged()) {
    r.sign_flip_p = kNaN;
    r.t = TTestResult{r.mean_difference, kNaN, d.empty() ? 0.0 : double(d.size() - 1), kNaN};
    return r;
  }
  r.sign_flip_p = sign_flip_p(d);
  r.t = paired_t_test(d);
  return r;
}

std::string seed_test_method() {
  return "tests across seeds, paired by seed (each variant against the best on the seeds where both "
         "trained, one score difference per seed): an exact paired permutation (sign-flip) test "
         "(two-sided p = share of the 2^n sign patterns of the differences whose mean is at least as "
         "far from 0 as the observed one; the smallest p it can give is 2/2^n, 0.25 with 3 seeds) and "
         "a paired t-test (n \u2212 1 degrees of freedom, two-sided). They cover the variation between "
         "trainings (initial values, batch order); the bootstrap covers the sampling of test sentences. "
         "With fewer than 3 seeds the variance between seeds cannot be judged and neither test is run.";
}

}  // namespace attend
