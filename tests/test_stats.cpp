// The tests across seeds (eval/significance.hpp) against values computed by hand or from the
// closed forms of Student's t for 1, 2 and 3 degrees of freedom.
#include <catch2/catch.hpp>
#include <cmath>

#include "attend/eval/significance.hpp"

using namespace attend;

namespace {
const double kPi = std::acos(-1.0);
}

TEST_CASE("incomplete beta matches its closed forms I_x(a, 1) = x^a and I_x(1, b) = 1 - (1 - x)^b",
          "[stats]") {
  for (double x : {0.05, 0.3, 0.5, 0.77, 0.99}) {
    CHECK(regularized_incomplete_beta(x, 3, 1) == Approx(std::pow(x, 3)).epsilon(1e-10));
    CHECK(regularized_incomplete_beta(x, 1, 2.5) == Approx(1 - std::pow(1 - x, 2.5)).epsilon(1e-10));
    CHECK(regularized_incomplete_beta(x, 2, 5) + regularized_incomplete_beta(1 - x, 5, 2) ==
          Approx(1).epsilon(1e-12));
  }
  CHECK(regularized_incomplete_beta(0, 2, 3) == 0);
  CHECK(regularized_incomplete_beta(1, 2, 3) == 1);
}

TEST_CASE("Student's t two-sided p for 1, 2 and 3 degrees of freedom equals the closed forms",
          "[stats]") {
  for (double t : {0.3, 1.0, 2.0, 4.5, -2.0}) {
    const double a = std::fabs(t);
    CHECK(student_t_two_sided_p(t, 1) == Approx(1 - 2 / kPi * std::atan(a)).epsilon(1e-9));
    CHECK(student_t_two_sided_p(t, 2) == Approx(1 - a / std::sqrt(2 + t * t)).epsilon(1e-9));
    const double th = std::atan(a / std::sqrt(3.0));
    CHECK(student_t_two_sided_p(t, 3) == Approx(1 - 2 / kPi * (th + std::sin(th) * std::cos(th))).epsilon(1e-9));
  }
  CHECK(student_t_two_sided_p(0, 5) == Approx(1));
  // The tabulated 5% two-sided critical value for 10 degrees of freedom is 2.228.
  CHECK(student_t_two_sided_p(2.228, 10) == Approx(0.05).margin(2e-4));
}

TEST_CASE("paired t-test of the differences 1, 2, 3: t = 2 sqrt(3), df 2, p = 1 - t / sqrt(2 + t^2)",
          "[stats]") {
  // mean 2, sample sd 1, standard error 1 / sqrt(3).
  const TTestResult r = paired_t_test({1, 2, 3});
  CHECK(r.mean == Approx(2));
  CHECK(r.df == 2);
  CHECK(r.t == Approx(2 * std::sqrt(3.0)));
  CHECK(r.p == Approx(1 - r.t / std::sqrt(2 + r.t * r.t)));
  CHECK(r.p == Approx(0.0742).margin(1e-4));
}

TEST_CASE("paired t-test is undefined for one difference or identical differences", "[stats]") {
  CHECK(std::isnan(paired_t_test({0.4}).p));
  CHECK(std::isnan(paired_t_test({0.2, 0.2, 0.2}).t));
}

TEST_CASE("sign-flip test: 3 positive differences give exactly 0.25 two-sided", "[stats]") {
  CHECK(sign_flip_p({0.1, 0.4, 0.2}) == 0.25);
  CHECK(sign_flip_p({-0.1, -0.4, -0.2}) == 0.25);
  CHECK(sign_flip_p({1, 1, 1, 1, 1}) == Approx(2.0 / 32));
}

TEST_CASE("sign-flip test counts the sign patterns at least as extreme, ties included", "[stats]") {
  // |±1 ±2 ±3 ±0.5| >= 5.5 only for (+ + + ±) and its mirror image: 4 of 16.
  CHECK(sign_flip_p({1, 2, 3, -0.5}) == Approx(4.0 / 16));
  // Opposite differences of equal size: the observed mean is 0, every pattern is as extreme.
  CHECK(sign_flip_p({1, -1}) == 1);
  CHECK(sign_flip_p({0, 0, 0}) == 1);
}

TEST_CASE("sign-flip test beyond 20 seeds is estimated by random patterns", "[stats]") {
  const std::vector<double> d(25, 1.0);  // exact p = 2 / 2^25
  const double p = sign_flip_p(d, 20000);
  CHECK(p > 0);
  CHECK(p < 2e-4);
  std::vector<double> mixed(25, 1.0);
  for (std::size_t i = 0; i < mixed.size(); i += 2) mixed[i] = -1;  // sum 1 of 25
  CHECK(sign_flip_p(mixed, 20000) > 0.5);
}

TEST_CASE("seed test: fewer than 3 seeds cannot be judged, with 3 both tests are run", "[stats]") {
  const SeedTest two = seed_test({0.9, 0.8}, {0.5, 0.6});
  CHECK_FALSE(two.judged());
  CHECK(std::isnan(two.sign_flip_p));
  CHECK(std::isnan(two.t.p));
  CHECK(two.mean_difference == Approx(0.3));
  const SeedTest three = seed_test({0.9, 0.8, 0.7}, {0.5, 0.6, 0.4});
  CHECK(three.judged());
  CHECK(three.seeds == 3);
  CHECK(three.sign_flip_p == 0.25);
  CHECK(three.t.df == 2);
  CHECK(three.t.p == Approx(paired_t_test({0.4, 0.2, 0.3}).p));
}
