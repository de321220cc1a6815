// The paired bootstrap over test sentences (significance.hpp), on per-sentence scores and on
// corpus BLEU; both share one resampling loop.
#include "attend/eval/significance.hpp"

#include <cmath>
#include <map>
#include <random>

#include "attend/core/error.hpp"

namespace attend {

namespace {

// Two-sided p-value from `resamples` statistics drawn by resample(rng): the share of them,
// centred on the observed one (the null distribution of the difference), at least as far from 0
// as `observed`, as (count + 1) / (resamples + 1); 1 when the observed difference is 0.
template <typename Resample>
double bootstrap_p_value(double observed, std::size_t resamples, std::uint64_t seed, Resample resample) {
  if (observed == 0) return 1.0;
  std::mt19937_64 rng(seed);
  std::size_t extreme = 0;
  for (std::size_t k = 0; k < resamples; ++k)
    if (std::fabs(resample(rng) - observed) >= std::fabs(observed) - 1e-12) ++extreme;
  return double(extreme + 1) / double(resamples + 1);
}


// Paired bootstrap of a corpus metric over sentences: each run's sentence statistics are summed
// with add(sum, x) over the sample and scored with score(sum); the difference a − b is averaged
// over the runs (seeds).
template <typename Stats, typename Add, typename Score>
BootstrapResult paired_bootstrap_corpus(const std::vector<std::vector<Stats>>& a,
                                        const std::vector<std::vector<Stats>>& b, Add add, Score score,
                                        std::size_t resamples, std::uint64_t seed) {
  if (a.size() != b.size()) throw Error("paired bootstrap: the two systems have different numbers of runs");
  BootstrapResult r;
  r.resamples = resamples;
  if (a.empty()) return r;
  const std::size_t n = a[0].size();
  for (std::size_t k = 0; k < a.size(); ++k)
    if (a[k].size() != n || b[k].size() != n)
      throw Error("paired bootstrap: the runs have different numbers of test sentences");
  r.items = n;
  if (n == 0) return r;
  // Mean over seeds of metric(a) − metric(b) on the sentences idx (all when null).
  auto delta_of = [&](const std::vector<std::size_t>* idx) {
    double d = 0;
    for (std::size_t k = 0; k < a.size(); ++k) {
      Stats sa{}, sb{};
      if (idx) {
        for (std::size_t i : *idx) add(sa, a[k][i]), add(sb, b[k][i]);
      } else {
        for (std::size_t i = 0; i < n; ++i) add(sa, a[k][i]), add(sb, b[k][i]);
      }
      d += score(sa) - score(sb);
    }
    return d / double(a.size());
  };
  r.delta = delta_of(nullptr);
  std::vector<std::size_t> idx(n);
  r.p_value = bootstrap_p_value(r.delta, resamples, seed, [&](std::mt19937_64& rng) {
    for (auto& i : idx) i = rng() % n;
    return delta_of(&idx);
  });
  return r;
}

void add_chrf(ChrfStatistics& sum, const ChrfStatistics& x) {
  if (sum.size() < x.size()) sum.resize(x.size(), {0, 0, 0});
  for (std::size_t o = 0; o < x.size(); ++o)
    for (std::size_t j = 0; j < 3; ++j) sum[o][j] += x[o][j];
}

}  // namespace

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd m;
  m.n = values.size();
  if (m.n == 0) return m;
  double sum = 0;
  for (double v : values) sum += v;
  m.mean = sum / m.n;
  if (m.n > 1) {
    double ss = 0;
    for (double v : values) ss += (v - m.mean) * (v - m.mean);
    m.std = std::sqrt(ss / (m.n - 1));
  }
  return m;
}

BootstrapResult paired_bootstrap(const std::vector<double>& a, const std::vector<double>& b,
                                 const std::vector<int>& strata, std::size_t resamples,
                                 std::uint64_t seed) {
  if (a.size() != b.size()) throw Error("paired bootstrap: the two systems have different item counts");
  if (!strata.empty() && strata.size() != a.size()) throw Error("paired bootstrap: strata size differs");
  BootstrapResult r;
  r.items = a.size();
  r.resamples = resamples;
  if (a.empty()) return r;
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  double sum = 0;
  for (double x : d) sum += x;
  r.delta = sum / d.size();
  // Items grouped by stratum: each resample draws as many items from a stratum as it has.
  std::map<int, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < d.size(); ++i) groups[strata.empty() ? 0 : strata[i]].push_back(i);
  r.p_value = bootstrap_p_value(r.delta, resamples, seed, [&](std::mt19937_64& rng) {
    double s = 0;
    for (const auto& [g, idx] : groups) {
      (void)g;
      for (std::size_t n = 0; n < idx.size(); ++n) s += d[idx[rng() % idx.size()]];
    }
    return s / d.size();
  });
  return r;
}

std::string bootstrap_method() {
  return "paired bootstrap resampling over test sentences (Koehn, 2004): per-sentence exact match "
         "(1 = the greedy output equals the reference), each variant paired with the best variant "
         "on the same sentences of the same seeds; 1000 resamples (stratified by seed, fixed "
         "seed 12345); two-sided p-value = share of resampled mean differences, centred on the "
         "observed difference, at least as far from 0 as the observed difference.";
}

BootstrapResult paired_bootstrap_bleu(const std::vector<std::vector<BleuStats>>& a,
                                      const std::vector<std::vector<BleuStats>>& b,
                                      std::size_t resamples, std::uint64_t seed) {
  return paired_bootstrap_corpus(
      a, b, [](BleuStats& sum, const BleuStats& x) { sum += x; }, [](const BleuStats& s) { return bleu_score(s); },
      resamples, seed);
}

std::string bootstrap_bleu_method() {
  return "paired bootstrap resampling over test sentences (Koehn, 2004) on corpus BLEU: each of 1000 "
         "resamples (fixed seed 12345) draws as many test sentences as the test set has, with "
         "replacement and the same sentences for every seed, recomputes each variant's corpus BLEU "
         "from the summed n-gram statistics of the sample, and averages the difference to the best "
         "variant over the seeds where both trained; two-sided p-value = share of resampled "
         "differences, centred on the observed difference, at least as far from 0 as the observed "
         "difference.";
}

BootstrapResult paired_bootstrap_chrf(const std::vector<std::vector<ChrfStatistics>>& a,
                                      const std::vector<std::vector<ChrfStatistics>>& b, const ChrfOptions& options,
                                      std::size_t resamples, std::uint64_t seed) {
  return paired_bootstrap_corpus(
      a, b, add_chrf, [&](const ChrfStatistics& s) { return chrf_from_statistics(s, options); }, resamples, seed);
}

std::string bootstrap_chrf_method() {
  return "the same paired bootstrap on corpus chrF2 (sacreBLEU's default: character n-grams of orders 1-6, "
         "beta 2), each resample summing the sampled sentences' chrF statistics; the same resamples and seed.";
}

}  // namespace attend
