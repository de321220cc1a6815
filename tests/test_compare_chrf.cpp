// chrF2 next to BLEU in a corpus comparison: the summary's means, the paired bootstrap on corpus
// chrF and the tests across seeds, the sentence on where BLEU and chrF2 disagree about the order,
// and the reports' chrF columns; a grid whose recorded runs lack chrF shows none.
#include <attend/eval/chrf.hpp>
#include <attend/eval/significance.hpp>
#include <attend/experiment/report.hpp>
#include <attend/experiment/summary.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

using namespace attend;
using attend::test::contains;

namespace {

// Sentence i of a system of quality q (0–1): chrF statistics with q · hypothesis n-grams matched.
ChrfStatistics chrf_sentence(int i, double q) {
  ChrfStatistics s(6);
  for (std::size_t o = 0; o < 6; ++o) {
    const std::size_t n = 20 + std::size_t(i % 5) - o;
    s[o] = {n, n + 1, std::size_t(std::lround(q * n * (1 - 0.05 * o)))};
  }
  return s;
}

BleuStats bleu_sentence(int i, double q) {
  BleuStats b;
  for (std::size_t n = 0; n < 4; ++n) {
    b.totals[n] = 10 - n;
    b.counts[n] = std::size_t(std::lround(q * (10 - n) * (1 - 0.1 * n) * (i % 2 ? 1.0 : 0.9)));
  }
  b.hyp_len = b.ref_len = 10;
  return b;
}

RunResult corpus_run(const std::string& attention, std::uint64_t seed, double bleu, double bleu_q, double chrf_q,
                     bool with_chrf = true) {
  RunResult r;
  r.spec = {{"gru", attention, "auto"}, seed};
  r.status = RunStatus::Ok;
  r.corpus = true;
  r.bleu = bleu;
  r.exact_match = 0;
  r.token_accuracy = 0.5;
  r.perplexity = 5;
  r.parameters = 1000;
  r.steps = 10;
  r.seconds = 1;
  ChrfStatistics sum(6, {0, 0, 0});
  for (int i = 0; i < 30; ++i) {
    const double jitter = 0.02 * double((i * 7 + int(seed)) % 5);
    r.test_bleu.push_back(bleu_sentence(i, bleu_q + jitter));
    r.test_correct.push_back(0);
    r.test_src_len.push_back(3 + i % 4);
    if (!with_chrf) continue;
    r.test_chrf.push_back(chrf_sentence(i, chrf_q + jitter));
    for (std::size_t o = 0; o < 6; ++o)
      for (std::size_t c = 0; c < 3; ++c) sum[o][c] += r.test_chrf.back()[o][c];
  }
  if (with_chrf) r.chrf = chrf_from_statistics(sum, ChrfOptions{});
  return r;
}

// bahdanau wins on BLEU, luong-general on chrF2.
CompareResult disagreeing_grid(bool with_chrf = true) {
  CompareResult g;
  g.corpus = true;
  g.data_name = "corpus";
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    g.runs.push_back(corpus_run("bahdanau", seed, 30 + seed, 0.6, 0.4, with_chrf));
    g.runs.push_back(corpus_run("luong-general", seed, 25 + seed, 0.5, 0.7, with_chrf));
  }
  return g;
}

}  // namespace

TEST_CASE("paired bootstrap on corpus chrF: 0 and p 1 for the same system, the corpus difference otherwise", "[compare][chrf]") {
  std::vector<std::vector<ChrfStatistics>> a(2), b(2);
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < 25; ++i) a[k].push_back(chrf_sentence(i, 0.7)), b[k].push_back(chrf_sentence(i, 0.4));
  const BootstrapResult same = paired_bootstrap_chrf(a, a);
  CHECK(same.delta == 0);
  CHECK(same.p_value == 1);
  const BootstrapResult d = paired_bootstrap_chrf(a, b);
  ChrfStatistics sa(6, {0, 0, 0}), sb(6, {0, 0, 0});
  for (int i = 0; i < 25; ++i)
    for (std::size_t o = 0; o < 6; ++o)
      for (std::size_t c = 0; c < 3; ++c) sa[o][c] += a[0][i][o][c], sb[o][c] += b[0][i][o][c];
  CHECK(d.delta == Approx(chrf_from_statistics(sa, {}) - chrf_from_statistics(sb, {})));
  CHECK(d.p_value < 0.01);
  CHECK(d.items == 25);
}

TEST_CASE("compare: chrF2 beside BLEU, its tests against the best, and where the metrics disagree", "[compare][chrf]") {
  const CompareResult g = disagreeing_grid();
  const CompareSummary s = summarize(g);
  REQUIRE(s.has_chrf);
  REQUIRE(s.variants.size() == 2);
  const VariantSummary& bah = s.variants[0];
  const VariantSummary& luong = s.variants[1];
  CHECK(bah.is_best);  // by BLEU
  CHECK(bah.chrf.n == 3);
  CHECK(luong.chrf.mean > bah.chrf.mean);
  CHECK(luong.compared_chrf);
  CHECK(luong.vs_best_chrf.delta > 0);
  CHECK(luong.seeds_vs_best_chrf.seeds == 3);
  CHECK(luong.seeds_vs_best_chrf.judged());
  REQUIRE(s.metric_disagreements.size() == 1);
  CHECK(s.metric_disagreements[0].first == "gru+bahdanau");
  CHECK(s.metric_disagreements[0].second == "gru+luong-general");
  CHECK(contains(s.metric_agreement, "disagree about the order of 1 of 1 pairs"));

  std::ostringstream md, csv, js, html;
  write_markdown(s, md);
  write_csv(s, csv);
  write_json(s, js);
  write_html(s, g, html);
  CHECK(contains(md.str(), "## chrF2 next to BLEU"));
  CHECK(contains(md.str(), "| variant | BLEU | chrF2 | \u0394chrF2 vs best |"));
  CHECK(contains(md.str(), s.metric_agreement));
  CHECK(contains(csv.str(), ",chrf_mean,chrf_std,delta_chrf_vs_best,p_value_chrf_vs_best"));
  const auto j = nlohmann::json::parse(js.str());
  CHECK(j["metric_disagreements"].size() == 1);
  CHECK(j["variants"][1]["vs_best_chrf"]["delta_chrf"].get<double>() == Approx(luong.vs_best_chrf.delta));
  CHECK(j["variants"][0]["runs_detail"][0].contains("chrf"));
  CHECK(contains(html.str(), "id=\"chrf-table\""));
  CHECK(contains(html.str(), "id=\"metric-agreement\""));
}

TEST_CASE("compare: a corpus grid whose runs lack chrF reports BLEU alone", "[compare][chrf]") {
  const CompareResult g = disagreeing_grid(false);
  const CompareSummary s = summarize(g);
  CHECK_FALSE(s.has_chrf);
  CHECK(s.metric_agreement.empty());
  std::ostringstream md, csv;
  write_markdown(s, md);
  write_csv(s, csv);
  CHECK_FALSE(contains(md.str(), "chrF2"));
  CHECK_FALSE(contains(csv.str(), "chrf"));
}
