// The scaling view of attend compare (CompareSummary::width_series): the headline metric against
// d_k = d_model / heads or the hidden width, one series per combination of the other axes, the
// test of each series' largest width against its smallest, and how the reports show it. Built from
// synthetic runs, without training.
#include <attend/experiment/report.hpp>
#include <attend/experiment/summary.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../src/experiment/svg_chart.hpp"

using namespace attend;

namespace {

// A successful run of gru+<attention>/transformer with the given width axes (more_axes) whose
// greedy output is right on `tenths` of every ten test sentences.
RunResult scaling_run(const std::string& attention, const std::map<std::string, std::string>& widths,
                      std::uint64_t seed, int tenths) {
  RunResult r;
  r.spec.variant.cell = "gru";
  r.spec.variant.attention = attention;
  r.spec.variant.decoder = "transformer";
  r.spec.variant.more_axes = widths;
  r.spec.seed = seed;
  r.status = RunStatus::Ok;
  const int q = tenths;
  double sum = 0;
  for (int i = 0; i < 120; ++i) {
    r.test_correct.push_back((i + int(seed)) % 10 < q);
    r.test_src_len.push_back(5 + i % 4);
    sum += r.test_correct.back();
  }
  r.exact_match = sum / 120;
  r.token_accuracy = 0.5 + r.exact_match / 2;
  r.perplexity = 2 - r.exact_match;
  r.parameters = 1000;
  r.steps = 100;
  r.seconds = 1;
  r.tokens_per_s = 1000;
  r.train_min_len = 5;
  r.train_max_len = 8;
  for (std::size_t s = 10; s <= 100; s += 10) r.train_loss.push_back({s, 3.0 / double(s)});
  return r;
}

// Three scores × heads 1, 4, 16 × seeds 1, 2, 3 at hidden 256, tenths right per seed. scaled-dot
// is better at heads 1 (d_k 256) than at heads 16 (d_k 16), bahdanau worse, luong-dot the same.
CompareResult heads_grid() {
  CompareResult g;
  g.data_name = "task reverse";
  g.alignment = "reverse";
  g.hidden = 256;
  using Seeds = std::vector<int>;
  const std::vector<std::pair<std::string, std::vector<Seeds>>> scores = {
      {"scaled-dot", {{10, 9, 10}, {7, 8, 7}, {5, 6, 4}}},
      {"luong-dot", {{6, 7, 5}, {6, 6, 7}, {6, 5, 7}}},
      {"bahdanau", {{4, 4, 3}, {4, 5, 4}, {8, 8, 9}}}};
  const std::vector<std::string> heads = {"1", "4", "16"};
  for (const auto& [attention, tenths] : scores)
    for (std::size_t h = 0; h < heads.size(); ++h)
      for (std::uint64_t seed : {1, 2, 3})
        g.runs.push_back(scaling_run(attention, {{"heads", heads[h]}}, seed, tenths[h][seed - 1]));
  return g;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("scaling: the heads axis is shown as d_k = hidden / heads in ascending order", "[compare][scaling]") {
  const CompareResult g = heads_grid();
  const CompareSummary s = summarize(g);
  REQUIRE(s.width_series.size() == 1);
  const auto& w = s.width_series[0];
  CHECK(w.axis == "heads");
  CHECK(w.x_label == "d_k");
  CHECK(w.xs == std::vector<double>{16, 64, 256});
  REQUIRE(w.series.size() == 3);
  CHECK(w.series[0].name == "gru+scaled-dot/transformer");
  CHECK(w.series[1].name == "gru+luong-dot/transformer");
  CHECK(w.series[2].name == "gru+bahdanau/transformer");
  // d_k 16 is heads 16, d_k 256 is heads 1.
  CHECK(s.variants[std::size_t(w.series[0].variants[0])].name == "gru+scaled-dot/transformer~heads16");
  CHECK(s.variants[std::size_t(w.series[0].variants[2])].name == "gru+scaled-dot/transformer~heads1");
  CHECK(w.series[0].cells[0].n == 3);
  CHECK(w.series[0].cells[0].mean == Approx(15 / 30.0));
  CHECK(w.series[0].cells[2].mean == Approx((10 + 9 + 10) / 30.0));
  CHECK(w.series[0].cells[2].std > 0);
}

TEST_CASE("scaling: each series tests its largest width against its smallest across seeds", "[compare][scaling]") {
  const CompareResult g = heads_grid();
  const CompareSummary s = summarize(g);
  REQUIRE(s.width_series.size() == 1);
  const auto& w = s.width_series[0];
  const auto& scaled = w.series[0];
  REQUIRE(scaled.tested);
  CHECK(scaled.low == 0);
  CHECK(scaled.high == 2);
  REQUIRE(scaled.test.compared);
  CHECK(scaled.test.bootstrap.delta == Approx(14 / 30.0).margin(0.01));  // d_k 256 − d_k 16
  CHECK(scaled.test.bootstrap.p_value < 0.05);
  CHECK(scaled.test.seeds.seeds == 3);
  CHECK(w.series[1].test.bootstrap.delta == 0);
  CHECK(w.series[2].test.bootstrap.delta < 0);
  CHECK(w.note == "Largest against smallest d_k within each series, 3 series: exact match higher in 1, lower in 1, "
                  "not separated in 1 by the paired bootstrap (p < 0.05); across seeds (t-test, p < 0.05) higher in 1, "
                  "lower in 1, not separated in 1.");
}

TEST_CASE("scaling: the hidden axis is shown as the hidden width", "[compare][scaling]") {
  CompareResult g;
  g.data_name = "task reverse";
  for (const std::string attention : {"scaled-dot", "bahdanau"})
    for (const std::string hidden : {"512", "128"})
      for (std::uint64_t seed : {1, 2}) g.runs.push_back(scaling_run(attention, {{"hidden", hidden}}, seed, 5));
  const CompareSummary s = summarize(g);
  REQUIRE(s.width_series.size() == 1);
  const auto& w = s.width_series[0];
  CHECK(w.axis == "hidden");
  CHECK(w.x_label == "hidden");
  CHECK(w.xs == std::vector<double>{128, 512});
  REQUIRE(w.series.size() == 2);
  CHECK(w.series[1].name == "gru+bahdanau/transformer");
  CHECK(s.variants[std::size_t(w.series[1].variants[0])].name == "gru+bahdanau/transformer~hidden128");
}

TEST_CASE("scaling: with hidden and heads both axes d_k uses each variant's own hidden", "[compare][scaling]") {
  CompareResult g;
  g.data_name = "task reverse";
  g.hidden = 999;  // the shared model's width plays no part when hidden is an axis
  for (const std::string hidden : {"128", "512"})
    for (const std::string heads : {"1", "4"})
      g.runs.push_back(scaling_run("scaled-dot", {{"hidden", hidden}, {"heads", heads}}, 1, 5));
  const CompareSummary s = summarize(g);
  REQUIRE(s.width_series.size() == 2);
  CHECK(s.width_series[0].axis == "hidden");
  const auto& w = s.width_series[1];
  CHECK(w.axis == "heads");
  CHECK(w.xs == std::vector<double>{32, 128, 512});
  REQUIRE(w.series.size() == 2);
  CHECK(w.series[0].name == "gru+scaled-dot/transformer~hidden128");
  CHECK(w.series[0].variants[2] == -1);  // no d_k 512 at hidden 128
  CHECK(w.series[1].variants[0] == -1);  // no d_k 32 at hidden 512
}

TEST_CASE("scaling: without the model width the heads axis is shown as heads", "[compare][scaling]") {
  CompareResult g = heads_grid();
  g.hidden = 0;
  const CompareSummary s = summarize(g);
  REQUIRE(s.width_series.size() == 1);
  CHECK(s.width_series[0].x_label == "heads");
  CHECK(s.width_series[0].xs == std::vector<double>{1, 4, 16});
}

TEST_CASE("scaling: a missing cell is a dash and the series is tested between the widths it has", "[compare][scaling]") {
  CompareResult g = heads_grid();
  // luong-dot at heads 1 (d_k 256): every run failed.
  for (auto& r : g.runs)
    if (r.spec.variant.attention == "luong-dot" && r.spec.variant.more_axes["heads"] == "1") {
      r.status = RunStatus::Failed;
      r.error = "out of memory";
    }
  const CompareSummary s = summarize(g);
  const auto& luong = s.width_series.at(0).series.at(1);
  CHECK(luong.cells[2].n == 0);
  REQUIRE(luong.tested);
  CHECK(luong.low == 0);
  CHECK(luong.high == 1);  // d_k 64 against d_k 16
  std::ostringstream md;
  write_markdown(s, md);
  CHECK_THAT(md.str(), Catch::Contains("| gru+luong-dot/transformer | 60.0 ± 10.0 (n=3) | 63.3 ± 5.8 (n=3) | — | +3.3 (64 − 16) |"));
}

TEST_CASE("scaling: the markdown report has the table of the series against d_k", "[compare][scaling]") {
  const CompareResult g = heads_grid();
  const CompareSummary s = summarize(g);
  std::ostringstream md;
  write_markdown(s, md);
  const std::string m = md.str();
  CHECK_THAT(m, Catch::Contains("\n## Scaling: exact match against d_k (heads axis)\n"));
  CHECK_THAT(m, Catch::Contains("| series | d_k 16 | d_k 64 | d_k 256 | ΔEM (largest − smallest) | p (bootstrap) | "
                                "p (sign-flip, seeds) | p (t-test, seeds) |\n|---|---|---|---|---|---|---|---|\n"));
  CHECK_THAT(m, Catch::Contains("| gru+scaled-dot/transformer | 50.0 ± 10.0 (n=3) | 73.3 ± 5.8 (n=3) | 96.7 ± 5.8 (n=3) | "
                                "+46.7 (256 − 16) | < 0.001 |"));
  CHECK_THAT(m, Catch::Contains("- Largest against smallest d_k within each series, 3 series:"));
  // After the contrast sections of the same axis.
  CHECK(m.find("## The heads axis") < m.find("## Scaling:"));
}

TEST_CASE("scaling: the HTML report draws one line per series with error bars", "[compare][scaling]") {
  const CompareResult g = heads_grid();
  const CompareSummary s = summarize(g);
  std::ostringstream html;
  write_html(s, g, html);
  const std::string h = html.str();
  REQUIRE_THAT(h, Catch::Contains("<h2 id=\"scaling-heads\">Scaling: exact match against d_k (heads axis)</h2>") &&
                      Catch::Contains("<table id=\"scaling-heads-table\">"));
  const std::size_t at = h.find("<svg class=\"chart\" id=\"chart-scaling-heads\"");
  REQUIRE(at != std::string::npos);
  const std::string chart = h.substr(at, h.find("</svg>", at) - at);
  CHECK(count(chart, "<path class=\"series\"") == 3);
  CHECK(count(chart, "<path class=\"series\" data-series=\"gru+luong-dot/transformer\"") == 1);
  CHECK(count(chart, "class=\"error-bar\"") == 9);  // every point has a spread over its seeds
  CHECK_THAT(chart, Catch::Contains("class=\"error-bar\" data-series=\"gru+scaled-dot/transformer\" data-x=\"256\" "
                                    "data-low=\"90.8932\" data-high=\"102.44\""));
  // Ticks at the widths on the log2 axis.
  CHECK_THAT(chart, Catch::Contains(">16</text>") && Catch::Contains(">64</text>") && Catch::Contains(">256</text>"));
  CHECK_THAT(chart, Catch::Contains("d_k = d_model / heads (log scale)"));
}

TEST_CASE("scaling: results.json has the series for a plotting script", "[compare][scaling]") {
  CompareResult g = heads_grid();
  for (auto& r : g.runs)
    if (r.spec.variant.attention == "bahdanau" && r.spec.variant.more_axes["heads"] == "4") r.status = RunStatus::Diverged;
  const CompareSummary s = summarize(g);
  std::ostringstream js;
  write_json(s, js);
  const auto j = nlohmann::json::parse(js.str());
  REQUIRE(j["width_series"].size() == 1);
  const auto& w = j["width_series"][0];
  CHECK(w["axis"] == "heads");
  CHECK(w["x_label"] == "d_k");
  CHECK(w["metric"] == "exact_match");
  CHECK(w["xs"] == nlohmann::json({16.0, 64.0, 256.0}));
  REQUIRE(w["series"].size() == 3);
  const auto& scaled = w["series"][0];
  CHECK(scaled["name"] == "gru+scaled-dot/transformer");
  CHECK(scaled["mean"][2].get<double>() == Approx(29 / 30.0));
  CHECK(scaled["std"][2].get<double>() > 0);
  CHECK(scaled["n"][2] == 3);
  CHECK(scaled["variants"][2] == "gru+scaled-dot/transformer~heads1");
  CHECK(scaled["test"]["x_low"] == 16.0);
  CHECK(scaled["test"]["x_high"] == 256.0);
  CHECK(scaled["test"]["bootstrap"]["delta_exact_match"].get<double>() == Approx(14 / 30.0).margin(0.01));
  const auto& bahdanau = w["series"][2];
  CHECK(bahdanau["mean"][1].is_null());
  CHECK(bahdanau["n"][1] == 0);
}

TEST_CASE("scaling: a grid without a width axis has no scaling view in any report", "[compare][scaling]") {
  CompareResult g;
  g.data_name = "task reverse";
  g.hidden = 256;
  for (const std::string attention : {"scaled-dot", "bahdanau"})
    for (std::uint64_t seed : {1, 2}) g.runs.push_back(scaling_run(attention, {}, seed, 5));
  // One heads value is no axis either.
  for (auto& r : g.runs) r.spec.variant.more_axes["heads"] = "4";
  const CompareSummary s = summarize(g);
  CHECK(s.width_series.empty());
  std::ostringstream md, js, html;
  write_markdown(s, md);
  write_json(s, js);
  write_html(s, g, html);
  CHECK_THAT(md.str(), !Catch::Contains("Scaling"));
  CHECK(nlohmann::json::parse(js.str()).count("width_series") == 0);
  CHECK_THAT(html.str(), !Catch::Contains("scaling-") && !Catch::Contains("error-bar"));
}

TEST_CASE("line charts without error bars or a log x axis draw as before", "[compare][scaling]") {
  report::Series a;
  a.name = "a";
  a.color = report::color_of(0);
  a.points = {{16, 1}, {64, 2}, {256, 3}};
  const std::string plain = report::line_chart("c", "t", "x", "y", {a}, false);
  CHECK_THAT(plain, !Catch::Contains("error-bar"));
  CHECK_THAT(plain, Catch::Contains(">100</text>"));  // round ticks on a linear axis
  report::ChartOptions log_x;
  log_x.log2_x = true;
  log_x.x_ticks = {16, 64, 256};
  const std::string log = report::line_chart("c", "t", "x", "y", {a}, false, NAN, NAN, {NAN, NAN}, "", log_x);
  CHECK_THAT(log, !Catch::Contains(">100</text>"));
  // Equal steps in log2: the three points are equally spaced.
  const std::size_t d = log.find(" d=\"M");
  REQUIRE(d != std::string::npos);
  double x[3], y[3];
  REQUIRE(std::sscanf(log.c_str() + d, " d=\"M%lf,%lf L%lf,%lf L%lf,%lf", &x[0], &y[0], &x[1], &y[1], &x[2], &y[2]) == 6);
  CHECK(x[1] - x[0] == Approx(x[2] - x[1]).margin(0.11));
}

TEST_CASE("scaling: a corpus grid shows test BLEU against the hidden width", "[compare][scaling]") {
  CompareResult g;
  g.data_name = "corpus";
  g.corpus = true;
  for (const std::string hidden : {"128", "512"})
    for (std::uint64_t seed : {1, 2, 3}) {
      RunResult r = scaling_run("bahdanau", {{"hidden", hidden}}, seed, 5);
      r.corpus = true;
      const double q = hidden == "128" ? 0.5 : 0.8;
      for (int i = 0; i < 20; ++i) {
        BleuStats b;
        for (std::size_t n = 0; n < 4; ++n) {
          b.totals[n] = 10 - n;
          b.counts[n] = std::size_t(std::lround(q * double(10 - n) * ((i + int(seed)) % 2 ? 1.0 : 0.9)));
        }
        b.hyp_len = b.ref_len = 10;
        r.test_bleu.push_back(b);
      }
      r.bleu = 100 * q + double(seed);
      g.runs.push_back(r);
    }
  const CompareSummary s = summarize(g);
  REQUIRE(s.width_series.size() == 1);
  const auto& line = s.width_series[0].series.at(0);
  CHECK(line.cells[0].mean == Approx(52));
  CHECK(line.cells[1].mean == Approx(82));
  REQUIRE(line.test.compared);
  CHECK(line.test.bootstrap.delta > 0);
  std::ostringstream md, js;
  write_markdown(s, md);
  write_json(s, js);
  CHECK_THAT(md.str(), Catch::Contains("\n## Scaling: BLEU against the hidden width (hidden axis)\n") &&
                           Catch::Contains("| series | hidden 128 | hidden 512 | ΔBLEU (largest − smallest) |") &&
                           Catch::Contains("| gru+bahdanau/transformer | 52.00 ± 1.00 (n=3) | 82.00 ± 1.00 (n=3) | +"));
  const auto j = nlohmann::json::parse(js.str());
  CHECK(j["width_series"][0]["metric"] == "bleu");
  CHECK(j["width_series"][0]["series"][0]["mean"][1].get<double>() == Approx(82));
  CHECK(j["width_series"][0]["series"][0]["test"]["bootstrap"].count("delta_bleu") == 1);
}
