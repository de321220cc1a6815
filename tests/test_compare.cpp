// attend compare: the grid runner (same data and initial values per seed, resume, grid.json
// check, failures, threads), the summary (means over seeds, diverged runs excluded with a note,
// paired bootstrap), the report writers and the attention exports; grids on parallel text files
// (tiny synthetic corpora written by the tests: BLEU, per-sentence statistics, BLEU bootstrap,
// changed-corpus detection, bad input).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attend/eval/bleu.hpp"
#include "attend/experiment/compare.hpp"
#include "attend/core/error.hpp"
#include "attend/experiment/report.hpp"
#include "attend/io/checkpoint.hpp"
#include "support.hpp"

using namespace attend;
using namespace attend::test;
namespace fs = std::filesystem;

namespace {

TaskOptions tiny_task(const std::string& name = "reverse") {
  TaskOptions t;
  t.name = name;
  t.train_size = 300;
  t.valid_size = 40;
  t.test_size = 60;
  t.min_len = 3;
  t.max_len = 7;
  return t;
}

CompareOptions tiny_grid(const std::string& out) {
  CompareOptions o;
  o.cells = {"gru"};
  o.attentions = {"none", "luong-general"};
  o.seeds = 2;
  o.model.emb = 8;
  o.model.hidden = 16;
  o.train.steps = 30;
  o.train.batch = 32;
  o.train.optimizer.lr = 0.01;
  o.out_dir = out;
  o.threads = 1;
  o.heatmap_sentences = 2;
  return o;
}

}  // namespace

TEST_CASE("gold alignments of copy, reverse, sort and dates", "[compare]") {
  const std::vector<std::string> src{"c", "a", "b", "a"};
  CHECK(gold_alignment("copy", src, src) == std::vector<int>{0, 1, 2, 3});
  CHECK(gold_alignment("reverse", src, {"a", "b", "a", "c"}) == std::vector<int>{3, 2, 1, 0});
  // sorted: a a b c -> first unused occurrence of each
  CHECK(gold_alignment("sort", src, {"a", "a", "b", "c"}) == std::vector<int>{1, 3, 2, 0});
  const std::vector<std::string> date{"j", "u", "n", " ", "5", ",", " ", "2", "0", "3", "4"};
  const std::vector<std::string> iso{"2", "0", "3", "4", "-", "0", "6", "-", "0", "5"};
  const auto g = gold_alignment("dates", date, iso);
  CHECK(std::vector<int>(g.begin(), g.begin() + 5) == std::vector<int>{7, 8, 9, 10, -1});
  CHECK(gold_alignment("", src, src) == std::vector<int>(4, -1));
}

TEST_CASE("mean and sample standard deviation", "[compare]") {
  const MeanStd m = mean_std({1, 2, 3, 4});
  CHECK(m.mean == Approx(2.5));
  CHECK(m.std == Approx(std::sqrt(5.0 / 3.0)));
  CHECK(mean_std({}).n == 0);
  CHECK(mean_std({7}).std == 0);
}

TEST_CASE("paired bootstrap: equal systems p = 1, clearly different systems p small, fixed seed",
          "[compare]") {
  std::vector<double> a(200), b(200);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = b[i] = i % 3 == 0;
  CHECK(paired_bootstrap(a, b).p_value == 1.0);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = i % 10 != 0, b[i] = i % 2 == 0;  // 90% vs 50%
  const BootstrapResult r = paired_bootstrap(a, b);
  CHECK(r.delta == Approx(0.4));
  CHECK(r.p_value < 0.01);
  CHECK(r.resamples == 1000);
  CHECK(paired_bootstrap(a, b).p_value == r.p_value);
  // A small difference on few items is not significant.
  std::vector<double> c{1, 0, 1, 1, 0, 1, 0, 1}, d{1, 0, 1, 0, 0, 1, 0, 1};
  CHECK(paired_bootstrap(c, d).p_value > 0.2);
  CHECK_THROWS_AS(paired_bootstrap({1, 0}, {1}), Error);
}

TEST_CASE("variants of one seed start shared parameters identical and see the same data",
          "[compare]") {
  CompareOptions o = tiny_grid("unused");
  const DataSource source = task_source(tiny_task());
  const CompareData d1 = source.load(1), d1b = source.load(1), d2 = source.load(2);
  REQUIRE(d1.train.size() == 300);
  CHECK(d1.train[0].src == d1b.train[0].src);
  CHECK(d1.test[5].src == d1b.test[5].src);
  CHECK(d1.train[0].src != d2.train[0].src);
  auto a = build_model(o, {"gru", "none"}, 1, d1);
  auto b = build_model(o, {"gru", "local-p"}, 1, d1);
  auto c = build_model(o, {"gru", "luong-general", "bahdanau"}, 1, d1);
  auto other_seed = build_model(o, {"gru", "none"}, 2, d1);
  for (const char* name : {"encoder.rnn.weight_hh_l0", "encoder.rnn.weight_ih_l0", "encoder.embedding.weight"}) {
    INFO(name);
    const long ia = a->params().find(name), ib = b->params().find(name), ic = c->params().find(name);
    if (ia < 0) continue;  // a name this build does not use
    REQUIRE(ib >= 0);
    REQUIRE(ic >= 0);
    CHECK(arma::approx_equal(a->params().value(ia), b->params().value(ib), "absdiff", 0.0));
    CHECK(arma::approx_equal(a->params().value(ia), c->params().value(ic), "absdiff", 0.0));
    CHECK_FALSE(arma::approx_equal(a->params().value(ia), other_seed->params().value(ia), "absdiff", 0.0));
  }
  REQUIRE(a->params().find("encoder.rnn.weight_hh_l0") >= 0);
}

TEST_CASE("an invalid grid is refused before training, naming the problem", "[compare]") {
  TempDir dir;
  CompareOptions o = tiny_grid(dir.file("g"));
  o.attentions = {"none", "bogus"};
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("bogus") && Catch::Contains("valid:"));
  o.attentions = {};
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("empty"));
  o.attentions = {"none", "none"};
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("twice"));
  o.attentions = {"none"};
  o.seeds = 0;
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("--seeds"));
}

TEST_CASE("a grid runs, resumes without retraining, refuses a different grid unless forced",
          "[compare]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions o = tiny_grid(dir.file("grid"));
  const CompareResult r = run_compare(o, source);
  REQUIRE(r.runs.size() == 4);
  for (const auto& run : r.runs) {
    INFO(run.spec.name() << " " << run.error);
    CHECK(run.status == "ok");
    CHECK_FALSE(run.resumed);
    CHECK(fs::exists(fs::path(run.run_dir) / "model.safetensors"));
    CHECK(fs::exists(fs::path(run.run_dir) / "metrics.json"));
    CHECK(fs::exists(fs::path(run.run_dir) / "train.log"));
    CHECK(run.test_correct.size() == 60);
    CHECK(run.steps == 30);
  }
  CHECK(r.runs[0].spec.name() == "gru+none-s1");
  CHECK(r.runs[0].attention_entropy < 0);   // no attention
  CHECK(r.runs[2].attention_entropy >= 0);  // luong-general
  CHECK(r.runs[2].gold_mass >= 0);
  CHECK(r.runs[2].samples.size() == 2);
  CHECK(fs::exists(dir.file("grid/grid.json")));

  // Re-run: everything comes from disk, identical figures.
  std::size_t finished_events = 0;
  const CompareResult again = run_compare(o, source, [&](const GridStatus& g) {
    if (!g.event.empty()) ++finished_events;
  });
  CHECK(finished_events == 0);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(again.runs[i].resumed);
    CHECK(again.runs[i].exact_match == r.runs[i].exact_match);
    CHECK(again.runs[i].test_correct == r.runs[i].test_correct);
    CHECK(again.runs[i].train_loss.size() == r.runs[i].train_loss.size());
  }

  // A run whose results are missing is redone, the others are kept.
  fs::remove(fs::path(r.runs[1].run_dir) / "metrics.json");
  const CompareResult partial = run_compare(o, source);
  CHECK(partial.runs[0].resumed);
  CHECK_FALSE(partial.runs[1].resumed);
  CHECK(partial.runs[1].exact_match == r.runs[1].exact_match);  // same seed, same numbers

  // A different grid in the same directory: refused, naming what differs.
  CompareOptions other = o;
  other.train.steps = 40;
  other.attentions = {"none", "bahdanau"};
  CHECK_THROWS_WITH(run_compare(other, source),
                    Catch::Contains("different grid") && Catch::Contains("1 setting differs") &&
                        Catch::Contains("train.steps: 30") && !Catch::Contains("grid.attention") &&
                        Catch::Contains("--force"));
  other.force = true;
  other.seeds = 1;
  const CompareResult forced = run_compare(other, source);
  CHECK(forced.runs.size() == 2);
  CHECK_FALSE(forced.runs[0].resumed);
  CHECK(forced.runs[1].status == "ok");
}

TEST_CASE("a grid run again with more seeds and another variant reuses the runs both grids have",
          "[compare]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions o = tiny_grid(dir.file("grid"));
  o.attentions = {"none"};
  o.seeds = 1;
  const CompareResult first = run_compare(o, source);
  REQUIRE(first.runs.size() == 1);
  REQUIRE(first.runs[0].status == "ok");

  CompareOptions grown = o;
  grown.seeds = 2;
  grown.attentions = {"none", "luong-general"};
  const auto changes = grid_axis_changes(grown, source);
  CHECK_THAT(changes, Catch::VectorContains(std::string("grid.seeds: 1 \u2192 2")) &&
                          Catch::VectorContains(std::string("grid.attention: none \u2192 none,luong-general")));
  CHECK(changes.size() == 2);
  const CompareResult more = run_compare(grown, source);
  REQUIRE(more.runs.size() == 4);
  CHECK(more.runs[0].spec.name() == "gru+none-s1");
  CHECK(more.runs[0].resumed);
  CHECK(more.runs[0].test_correct == first.runs[0].test_correct);
  for (std::size_t i = 1; i < 4; ++i) {
    INFO(more.runs[i].spec.name());
    CHECK_FALSE(more.runs[i].resumed);
    CHECK(more.runs[i].status == "ok");
  }
  // The grown grid is what grid.json records now.
  CHECK(grid_axis_changes(grown, source).empty());

  // Every run of the grid trained alone gives the same numbers as in the grown grid.
  CompareOptions alone = grown;
  alone.out_dir = dir.file("alone");
  const CompareResult fresh = run_compare(alone, source);
  for (std::size_t i = 0; i < 4; ++i) CHECK(fresh.runs[i].test_correct == more.runs[i].test_correct);
}

TEST_CASE("a grid narrowed to fewer seeds and variants reports its own runs without training", "[compare]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions o = tiny_grid(dir.file("grid"));
  const CompareResult all = run_compare(o, source);
  REQUIRE(all.runs.size() == 4);
  CompareOptions narrow = o;
  narrow.seeds = 1;
  narrow.attentions = {"luong-general"};
  std::size_t trained = 0;
  const CompareResult r = run_compare(narrow, source, [&](const GridStatus& g) {
    if (!g.event.empty()) ++trained;
  });
  CHECK(trained == 0);
  REQUIRE(r.runs.size() == 1);
  CHECK(r.runs[0].spec.name() == "gru+luong-general-s1");
  CHECK(r.runs[0].resumed);
  CHECK(r.runs[0].test_correct == all.runs[2].test_correct);
}

TEST_CASE("a grid whose axes changed is still refused when another setting changed too", "[compare]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions o = tiny_grid(dir.file("grid"));
  o.seeds = 1;
  o.attentions = {"none"};
  REQUIRE(run_compare(o, source).runs[0].status == "ok");
  CompareOptions other = o;
  other.seeds = 2;
  other.model.hidden = 24;
  CHECK_THROWS_WITH(run_compare(other, source),
                    Catch::Contains("different grid") && Catch::Contains("model.hidden: 16") &&
                        !Catch::Contains("grid.seeds") && Catch::Contains("--seeds may change freely"));
  CHECK(grid_axis_changes(other, source).empty());
  other.model.hidden = 16;
  CHECK(grid_axis_changes(other, source) == std::vector<std::string>{"grid.seeds: 1 \u2192 2"});
}

TEST_CASE("two jobs at once give the same numbers as one job", "[compare]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task("copy"));
  CompareOptions o = tiny_grid(dir.file("one"));
  o.attentions = {"bahdanau", "local-p"};
  o.seeds = 1;
  const CompareResult one = run_compare(o, source);
  o.out_dir = dir.file("two");
  o.jobs = 2;
  o.threads = 2;  // one BLAS thread per job, as in the first grid
  const CompareResult two = run_compare(o, source);
  REQUIRE(one.runs.size() == two.runs.size());
  for (std::size_t i = 0; i < one.runs.size(); ++i) {
    INFO(one.runs[i].spec.name());
    REQUIRE(two.runs[i].status == "ok");
    CHECK(two.runs[i].perplexity == one.runs[i].perplexity);
    CHECK(two.runs[i].test_correct == one.runs[i].test_correct);
    REQUIRE(two.runs[i].train_loss.size() == one.runs[i].train_loss.size());
    CHECK(two.runs[i].train_loss.back().value == one.runs[i].train_loss.back().value);
  }
}

TEST_CASE("a run that throws is reported by name, the rest of the grid continues", "[compare]") {
  TempDir dir;
  DataSource source = task_source(tiny_task());
  auto load = source.load;
  source.load = [load](std::uint64_t seed) {
    if (seed == 2) throw Error("the corpus for seed 2 is unreadable");
    return load(seed);
  };
  CompareOptions o = tiny_grid(dir.file("grid"));
  const CompareResult r = run_compare(o, source);
  REQUIRE(r.runs.size() == 4);
  CHECK(r.runs[0].status == "ok");
  CHECK(r.runs[1].status == "failed");
  CHECK(r.runs[1].error == "the corpus for seed 2 is unreadable");
  CHECK(r.runs[3].status == "failed");
  const CompareSummary s = summarize(r);
  REQUIRE(s.failures.size() == 2);
  CHECK(s.failures[0].first == "gru+none-s2");
  std::ostringstream md;
  write_markdown(s, md);
  CHECK_THAT(md.str(), Catch::Contains("Failed runs") && Catch::Contains("gru+luong-general-s2"));
  // Failed runs are retried by the next invocation.
  source.load = load;
  const CompareResult retry = run_compare(o, source);
  CHECK(retry.runs[0].resumed);
  CHECK(retry.runs[1].status == "ok");
  CHECK_FALSE(retry.runs[1].resumed);
}

namespace {

RunResult fake_run(const std::string& attention, std::uint64_t seed, const std::string& status,
                   std::vector<int> correct) {
  RunResult r;
  r.spec = {{"gru", attention, "auto"}, seed};
  r.status = parse_run_status(status);
  r.test_correct = correct;
  r.test_src_len.resize(correct.size());
  for (std::size_t i = 0; i < correct.size(); ++i) r.test_src_len[i] = 5 + int(i % 6);
  double sum = 0;
  for (int c : correct) sum += c;
  r.exact_match = status == "ok" ? sum / correct.size() : NAN;
  r.token_accuracy = status == "ok" ? 0.5 + r.exact_match / 2 : NAN;
  r.perplexity = status == "ok" ? 2 - r.exact_match : NAN;
  r.parameters = attention == "none" ? 1000 : 1500;
  r.steps = 100;
  r.seconds = 2;
  r.tokens_per_s = 5000;
  r.train_min_len = 5;
  r.train_max_len = 8;
  for (std::size_t s = 10; s <= 100; s += 10) r.train_loss.push_back({s, 3.0 / s});
  if (attention != "none") {
    r.attention_entropy = 0.5;
    r.uniform_entropy = 1.8;
    r.gold_mass = 0.8;
    AttentionSample smp;
    smp.index = 0;
    smp.src = {"a", "b", "c"};
    smp.ref = {"c", "b", "a"};
    smp.out = {"c", "b", "a"};
    smp.weights = {{0.1f, 0.1f, 0.8f}, {0.1f, 0.8f, 0.1f}, {0.8f, 0.1f, 0.1f}, {0.3f, 0.3f, 0.4f}};
    smp.correct = true;
    r.samples.push_back(smp);
  } else {
    AttentionSample smp;
    smp.index = 0;
    smp.src = {"a", "b", "c"};
    smp.ref = {"c", "b", "a"};
    smp.out = {"c", "a"};
    r.samples.push_back(smp);
  }
  return r;
}

CompareResult fake_grid() {
  CompareResult g;
  g.alignment = "reverse";
  g.data_name = "task reverse";
  std::vector<int> good(120), bad(120);
  for (int i = 0; i < 120; ++i) good[i] = i % 10 != 0, bad[i] = i % 3 == 0;
  g.runs = {fake_run("none", 1, "ok", bad), fake_run("none", 2, "ok", bad),
            fake_run("bahdanau", 1, "ok", good), fake_run("bahdanau", 2, "diverged", {}),
            fake_run("local-p", 1, "failed", {}), fake_run("local-p", 2, "ok", good)};
  g.runs[3].steps = 42;
  g.runs[4].error = "out of memory";
  return g;
}

}  // namespace

TEST_CASE("summary: diverged runs are marked and excluded from the mean, best and p-values",
          "[compare]") {
  const CompareResult g = fake_grid();
  const CompareSummary s = summarize(g);
  REQUIRE(s.variants.size() == 3);
  const VariantSummary& none = s.variants[0];
  const VariantSummary& bah = s.variants[1];
  CHECK(none.ok == 2);
  CHECK(bah.ok == 1);
  CHECK(bah.diverged == 1);
  CHECK(bah.exact_match.n == 1);
  CHECK(bah.exact_match.mean == Approx(0.9));
  REQUIRE(bah.notes.size() == 1);
  CHECK_THAT(bah.notes[0], Catch::Contains("seed 2 diverged") && Catch::Contains("excluded"));
  CHECK(s.variants[2].failed == 1);
  CHECK(s.failures.size() == 1);
  CHECK((s.best == "gru+bahdanau" || s.best == "gru+local-p"));
  CHECK(none.compared);
  CHECK(none.vs_best.p_value < 0.01);
  CHECK(none.vs_best.delta < 0);
  CHECK(s.buckets.size() == 6);
  CHECK(s.train_min_len == 5);
  CHECK(s.train_max_len == 8);

  std::ostringstream md, csv, js, html;
  write_markdown(s, md);
  write_csv(s, csv);
  write_json(s, js);
  write_html(s, g, html);
  CHECK_THAT(md.str(), Catch::Contains("| gru+none | 2/2 |") && Catch::Contains("diverged") &&
                           Catch::Contains("paired bootstrap") && Catch::Contains("out of memory"));
  CHECK_THAT(csv.str(), Catch::StartsWith("variant,cell,attention,decoder,runs,runs_ok"));
  const auto j = nlohmann::json::parse(js.str());
  CHECK(j["variants"].size() == 3);
  CHECK(j["variants"][1]["diverged"] == 1);
  CHECK(j["variants"][0]["vs_best"]["p_value"].get<double>() < 0.01);
  const std::string h = html.str();
  CHECK_THAT(h, Catch::Contains("How to read this") && Catch::Contains("class=\"hm-cell\"") &&
                    Catch::Contains("id=\"curve-train\"") && Catch::Contains("id=\"curve-length\"") &&
                    Catch::Contains("No attention") && Catch::Contains("render-check"));
  CHECK(h.find("http://") == std::string::npos);  // nothing loaded from the network
  CHECK(h.find("https://") == std::string::npos);
}

TEST_CASE("attention of one hypothesis exports as SVG, JSON and CSV", "[compare]") {
  Hypothesis h;
  h.tokens = {4, 5};
  h.finished = true;
  h.log_prob = -0.5;
  h.attention = {{0.9f, 0.1f}, {0.2f, 0.8f}, {0.5f, 0.5f}};
  const std::vector<std::string> src{"a", ","}, out{"x", "y"};
  std::ostringstream svg, js, csv;
  write_attention_svg(h, src, out, svg);
  write_attention_json(h, src, out, js);
  write_attention_csv(h, src, out, csv);
  CHECK_THAT(svg.str(), Catch::Contains("xmlns=\"http://www.w3.org/2000/svg\"") && Catch::Contains("&lt;/s&gt;"));
  std::size_t rects = 0;
  for (std::size_t p = 0; (p = svg.str().find("class=\"hm-cell\"", p)) != std::string::npos; ++p) ++rects;
  CHECK(rects == 6);
  const auto j = nlohmann::json::parse(js.str());
  CHECK(j["output"] == nlohmann::json({"x", "y", "</s>"}));
  CHECK(j["weights"][1][1].get<double>() == Approx(0.8));
  CHECK(csv.str() == "output\\source,a,\",\"\nx,0.9,0.1\ny,0.2,0.8\n</s>,0.5,0.5\n");
}

TEST_CASE("attend compare on the command line: a tiny grid, resume, bad input", "[compare][cli]") {
  TempDir dir;
  const std::string grid =
      "compare --task copy --train-size 200 --valid-size 20 --test-size 30 --min-len 3 --max-len 6 "
      "--cells gru --attention none,luong-dot --seeds 1 --steps 20 --hidden 16 --emb 8 --threads 1 --out g";
  CliRun r = run_cli(dir, grid);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("| gru+none | 1/1 |") && Catch::Contains("gru+luong-dot") &&
                        Catch::Contains("report.html"));
  CHECK_THAT(r.err, Catch::Contains("gru+luong-dot-s1 finished"));
  for (const char* f : {"g/REPORT.md", "g/results.csv", "g/results.json", "g/report.html", "g/grid.json",
                        "g/gru+none-s1/model.safetensors", "g/gru+none-s1/metrics.json", "g/gru+none-s1/train.log"})
    CHECK(fs::exists(dir.file(f)));
  r = run_cli(dir, grid);
  CHECK(r.status == 0);
  CHECK_THAT(r.err, Catch::Contains("2 from earlier") && !Catch::Contains("finished"));
  r = run_cli(dir, grid + " --lr 0.01");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("different grid") && Catch::Contains("train.lr") && Catch::Contains("--force"));
  r = run_cli(dir, "compare --attention none,bogus --out x");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("unknown attention 'bogus'"));
  r = run_cli(dir, "compare --cells , --out x");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("empty"));
  r = run_cli(dir, "compare --task reverse");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--out is required"));
}

// ---- grids on parallel text files ----------------------------------------------------------------

namespace {

CompareOptions tiny_corpus_grid(const std::string& out) {
  CompareOptions o = tiny_grid(out);
  o.seeds = 1;
  o.train.steps = 12;
  o.train.batch = 16;
  o.heatmap_sentences = 2;
  return o;
}

}  // namespace

TEST_CASE("per-sentence BLEU statistics sum to the corpus BLEU of the whole test set", "[compare]") {
  const std::vector<std::string> hyps{"the cat sat on the mat", "a dog", "", "it is raining today ."};
  const std::vector<std::string> refs{"the cat sat on a mat", "the dog barked", "nothing", "It is raining today."};
  BleuStats total;
  for (std::size_t i = 0; i < hyps.size(); ++i) total += bleu_stats(hyps[i], refs[i]);
  CHECK(bleu_score(total) == Approx(corpus_bleu(hyps, {refs}).score));
  BleuStats lc;
  for (std::size_t i = 0; i < hyps.size(); ++i) lc += bleu_stats(hyps[i], refs[i], true);
  CHECK(bleu_score(lc) == Approx(corpus_bleu(hyps, {refs}, true).score));
  CHECK(bleu_score(lc) > bleu_score(total));  // "It" matches "it" only when lower-cased
}

TEST_CASE("BLEU bootstrap: a variant against itself has p = 1, a clearly worse one a small p",
          "[compare]") {
  std::vector<BleuStats> good, worse;
  for (int i = 0; i < 120; ++i) {
    const std::string ref = synthetic_pair(i).second + " END OF LINE " + std::to_string(i % 7);
    good.push_back(bleu_stats(ref, ref));
    // Worse: the second half of every reference missing, and a wrong word in front.
    worse.push_back(bleu_stats("WRONG " + ref.substr(0, ref.size() / 2), ref));
  }
  const BootstrapResult self = paired_bootstrap_bleu({good, good}, {good, good});
  CHECK(self.delta == 0);
  CHECK(self.p_value == 1.0);
  const BootstrapResult r = paired_bootstrap_bleu({good, good}, {worse, worse});
  CHECK(r.delta > 20);
  CHECK(r.p_value < 0.01);
  CHECK(r.items == 120);
  CHECK(r.resamples == 1000);
  CHECK(paired_bootstrap_bleu({good}, {worse}).p_value == r.p_value);  // fixed seed; same per-seed data
  CHECK_THROWS_AS(paired_bootstrap_bleu({good}, {good, good}), Error);
}

TEST_CASE("a corpus grid trains every variant on one shared text side and reports BLEU", "[compare]") {
  TempDir dir;
  const TextPipelineOptions files = synthetic_corpus(dir);
  const DataSource source = corpus_source(files);
  REQUIRE(source.corpus);
  REQUIRE(source.shared);
  CHECK(source.shared->train.size() == 60);
  CHECK(source.shared->test_ref_text.size() == 20);
  CHECK(source.signature.count("test_tgt.fnv1a64"));
  CHECK_THAT(source.description, Catch::Contains("60 training pairs"));
  // The same data for every seed; shared parameters start identical within a seed.
  CompareOptions o = tiny_corpus_grid(dir.file("grid"));
  CHECK(source.load(1).train[7].src == source.load(2).train[7].src);
  auto a = build_model(o, {"gru", "none"}, 1, *source.shared);
  auto b = build_model(o, {"gru", "luong-general"}, 1, *source.shared);
  const long ia = a->params().find("encoder.rnn.weight_hh_l0"), ib = b->params().find("encoder.rnn.weight_hh_l0");
  REQUIRE(ia >= 0);
  CHECK(arma::approx_equal(a->params().value(ia), b->params().value(ib), "absdiff", 0.0));

  const CompareResult r = run_compare(o, source);
  REQUIRE(r.runs.size() == 2);
  CHECK(r.corpus);
  for (const auto& run : r.runs) {
    INFO(run.spec.name() << " " << run.error);
    REQUIRE(run.status == "ok");
    CHECK(run.corpus);
    CHECK(run.bleu >= 0);
    CHECK(run.bleu <= 100);
    CHECK(run.test_bleu.size() == 20);
    CHECK_THAT(run.bleu_line, Catch::StartsWith("BLEU = "));
    CHECK_FALSE(run.valid_bleu.empty());
    CHECK(run.test_src_len.size() == 20);
    CHECK(fs::exists(fs::path(run.run_dir) / "model.safetensors"));
    CHECK_THAT(read_file((fs::path(run.run_dir) / "metrics.json").string()), Catch::Contains("\"bleu\""));
    CHECK_THAT(read_file((fs::path(run.run_dir) / "train.log").string()), Catch::Contains("BLEU = "));
  }
  CHECK(r.runs[0].attention_entropy < 0);   // none
  CHECK(r.runs[1].attention_entropy >= 0);  // luong-general: entropy ...
  CHECK(r.runs[1].gold_mass < 0);           // ... but no gold alignment for a corpus
  REQUIRE(r.runs[1].samples.size() == 2);
  CHECK_FALSE(r.runs[1].samples[0].src_text.empty());
  CHECK(r.runs[1].samples[0].weights.size() >= 1);

  const CompareSummary s = summarize(r);
  CHECK(s.corpus);
  CHECK_FALSE(s.buckets.empty());
  CHECK(s.variants[0].bleu.n == 1);
  const auto files_written = write_reports(s, r, o.out_dir);
  CHECK(files_written.size() == 4);
  const std::string md = read_file(dir.file("grid/REPORT.md")), csv = read_file(dir.file("grid/results.csv")),
                    html = read_file(dir.file("grid/report.html"));
  CHECK_THAT(md, Catch::Contains("| variant | runs | BLEU |") && Catch::Contains("BLEU len ") &&
                     Catch::Contains("\u0394BLEU vs best") && Catch::Contains("Koehn, 2004") &&
                     Catch::Contains("no gold"));
  CHECK_THAT(csv, Catch::StartsWith("variant,cell,attention,decoder,runs,runs_ok,runs_diverged,runs_failed,bleu_mean"));
  CHECK_THAT(html, Catch::Contains("id=\"curve-valid-bleu\"") && Catch::Contains("BLEU by source length") &&
                       Catch::Contains("class=\"hm-cell\"") && Catch::Contains("no gold alignment for a corpus"));
  CHECK(html.find("mass on gold position %") == std::string::npos);  // no number where there is no alignment
  const auto j = nlohmann::json::parse(read_file(dir.file("grid/results.json")));
  CHECK(j["metric"] == "bleu");
  CHECK(j["variants"][0].contains("bleu_by_length"));

  // Re-running skips the finished runs and reads back the same figures.
  std::size_t events = 0;
  const CompareResult again = run_compare(o, source, [&](const GridStatus& g) { events += !g.event.empty(); });
  CHECK(events == 0);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(again.runs[i].resumed);
    CHECK(again.runs[i].bleu == r.runs[i].bleu);
    CHECK(again.runs[i].test_bleu.size() == 20);
    CHECK(again.runs[i].samples[0].out_text == r.runs[i].samples[0].out_text);
  }
  CHECK(summarize(again).variants[1].vs_best.p_value == s.variants[1].vs_best.p_value);
}

TEST_CASE("a changed corpus file makes a different grid, refused unless forced", "[compare]") {
  TempDir dir;
  TextPipelineOptions files = synthetic_corpus(dir);
  CompareOptions o = tiny_corpus_grid(dir.file("grid"));
  o.attentions = {"luong-dot"};
  o.train.steps = 2;
  REQUIRE(run_compare(o, corpus_source(files)).runs[0].status == "ok");
  // Same size, one letter different: only the checksum can tell.
  std::string text = read_file(files.files.test_tgt);
  const auto at = text.find("RED");
  REQUIRE(at != std::string::npos);
  text[at] = 'B';
  write_file(files.files.test_tgt, text);
  CHECK_THROWS_WITH(run_compare(o, corpus_source(files)),
                    Catch::Contains("different grid") && Catch::Contains("data.test_tgt.fnv1a64") &&
                        !Catch::Contains("data.test_tgt.bytes"));
  // Another file with the same content elsewhere is another corpus path.
  fs::copy_file(files.files.train_src, dir.file("copy.src"));
  files.files.train_src = dir.file("copy.src");
  CHECK_THROWS_WITH(run_compare(o, corpus_source(files)), Catch::Contains("data.train_src:"));
  o.force = true;
  CHECK(run_compare(o, corpus_source(files)).runs[0].status == "ok");
}

TEST_CASE("attend compare run again with another seed says which axis changed and trains only the new run",
          "[compare][cli]") {
  TempDir dir;
  const std::string grid =
      "compare --task copy --train-size 200 --valid-size 20 --test-size 30 --min-len 3 --max-len 6 "
      "--cells gru --attention none --steps 20 --hidden 16 --emb 8 --threads 1 --estimate-steps 0 --out g";
  REQUIRE(run_cli(dir, grid + " --seeds 1").status == 0);
  const CliRun r = run_cli(dir, grid + " --seeds 2");
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK_THAT(r.err, Catch::Contains("grid.seeds: 1 \u2192 2 since g was last run") &&
                        Catch::Contains("gru+none-s2 finished") && !Catch::Contains("gru+none-s1 finished"));
  CHECK_THAT(r.out, Catch::Contains("| gru+none **(best)** | 2/2 |"));
}

TEST_CASE("attend compare on parallel files: spm grid with BLEU table, resume, bad input exits 2",
          "[compare][cli]") {
  TempDir dir;
  synthetic_corpus(dir);
  const std::string files =
      "--train-src train.src --train-tgt train.tgt --valid-src valid.src --valid-tgt valid.tgt "
      "--test-src test.src --test-tgt test.tgt ";
  const std::string grid = "compare " + files +
                           "--tokenizer spm --spm-vocab 60 --shared-vocab --cells gru --attention none,luong-dot "
                           "--seeds 1 --steps 8 --batch 16 --hidden 16 --emb 8 --threads 1 --jobs 2 --out g";
  CliRun r = run_cli(dir, grid);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("| gru+none | 1/1 |") && Catch::Contains("| variant | runs | BLEU |"));
  CHECK_THAT(r.err, Catch::Contains("tokenizer spm") && Catch::Contains("gru+luong-dot-s1 finished"));
  CHECK(fs::exists(dir.file("g/gru+luong-dot-s1/model.safetensors")));
  r = run_cli(dir, grid);
  CHECK(r.status == 0);
  CHECK_THAT(r.err, Catch::Contains("2 from earlier") && !Catch::Contains("finished"));

  // Bad input: as `attend train`, exit 2 naming the file (and the line).
  write_file(dir.file("short.tgt"), "A\nB\n");
  r = run_cli(dir, "compare --train-src train.src --train-tgt short.tgt --valid-src valid.src --valid-tgt valid.tgt "
          "--test-src test.src --test-tgt test.tgt --out bad");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("train.src' has 60 lines") && Catch::Contains("short.tgt' has 2"));
  r = run_cli(dir, "compare --train-src train.src --train-tgt train.tgt --valid-src valid.src --valid-tgt valid.tgt "
          "--test-src missing.src --test-tgt test.tgt --out bad");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("missing.src: cannot open"));
  std::string v = read_file(dir.file("valid.src"));
  v.replace(v.find('\n') + 1, 0, "\n");  // an empty line 2, one line too many
  v.erase(v.rfind('\n', v.size() - 2) + 1);  // drop the last line to keep the count
  write_file(dir.file("empty_line.src"), v);
  r = run_cli(dir, "compare --train-src train.src --train-tgt train.tgt --valid-src empty_line.src --valid-tgt valid.tgt "
          "--test-src test.src --test-tgt test.tgt --out bad");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("empty_line.src:2: empty line"));
  r = run_cli(dir, "compare " + files.substr(0, files.find("--test-src")) + "--out bad");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--test-src is required"));
  r = run_cli(dir, "compare --task copy --beam 2 --out bad");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--beam applies to a grid on parallel files"));
}

TEST_CASE("train and compare define their shared options once, with the same names and defaults",
          "[compare][cli]") {
  TempDir dir;
  const CliRun train = run_cli(dir, "train --help"), compare = run_cli(dir, "compare --help");
  REQUIRE(train.status == 0);
  REQUIRE(compare.status == 0);
  for (const char* option : {"--hidden arg (=128)", "--lr arg (=0.003)", "--batch arg (=64)", "--steps arg (=0)",
                             "--spm-vocab arg (=8000)", "--max-line-tokens arg (=1000)", "--task arg (=dates)",
                             "--bridge arg (=copy)", "--beam arg (=1)", "--train-src arg", "--skip-bad-lines"}) {
    INFO(option);
    CHECK_THAT(train.out, Catch::Contains(option));
    CHECK_THAT(compare.out, Catch::Contains(option));
  }
  CHECK_THAT(train.out, Catch::Contains("--attention arg (=bahdanau)") && Catch::Contains("--resume"));
  CHECK_THAT(compare.out, Catch::Contains("--attention arg (=none,bahdanau)") && Catch::Contains("--lc"));
}

// ---- budgets, learning rates, tests across seeds, diagnostics ------------------------------------

namespace {

RunResult curve_run(const std::string& attention, std::uint64_t seed, double lr,
                    const std::vector<CurvePoint>& valid, double exact_match) {
  std::vector<int> correct(100);
  for (int i = 0; i < 100; ++i) correct[i] = i < exact_match * 100;
  RunResult r = fake_run(attention, seed, "ok", correct);
  r.spec.lr = lr;
  r.valid_loss = valid;
  r.best_step = valid.empty() ? 0 : valid.back().step;
  r.best_seconds = 1.5;
  return r;
}

}  // namespace

TEST_CASE("a converge budget stops each run when validation stops improving, at its best checkpoint",
          "[compare]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions o = tiny_grid(dir.file("grid"));
  o.budget = Budget::Converge;
  o.train.steps = 3000;  // the cap
  o.train.eval_every = 10;
  o.train.patience = 2;
  o.train.optimizer.lr = 0.05;  // plateaus early on this tiny task
  o.seeds = 1;
  const CompareResult r = run_compare(o, source);
  REQUIRE(r.runs.size() == 2);
  CHECK(r.converge);
  CHECK_THAT(r.budget, Catch::Contains("converge") && Catch::Contains("patience 2"));
  for (const auto& run : r.runs) {
    INFO(run.spec.name() << " " << run.error);
    REQUIRE(run.status == "ok");
    CHECK(run.stopped_early);
    CHECK(run.steps < 3000);
    CHECK(run.best_step > 0);
    CHECK(run.best_step <= run.steps);
    CHECK(run.steps - run.best_step == 2 * 10);  // two validations without improvement
    CHECK(run.best_seconds > 0);
    CHECK(run.best_seconds <= run.seconds);
  }
  const auto grid = nlohmann::json::parse(read_file(dir.file("grid/grid.json")));
  CHECK(grid["signature"]["grid.budget"] == "converge");

  const CompareResult again = run_compare(o, source);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(again.runs[i].resumed);
    CHECK(again.runs[i].best_step == r.runs[i].best_step);
    CHECK(again.runs[i].best_seconds == r.runs[i].best_seconds);
    CHECK(again.runs[i].stopped_early);
  }
  CompareOptions fixed = o;
  fixed.budget = Budget::Steps;
  CHECK_THROWS_WITH(run_compare(fixed, source), Catch::Contains("grid.budget: converge"));
}

TEST_CASE("a converge budget without patience, validation interval or cap is refused", "[compare]") {
  CompareOptions o = tiny_grid("unused");
  o.budget = Budget::Converge;
  o.train.steps = 100;
  o.train.eval_every = 10;
  o.train.patience = 0;
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("--patience"));
  o.train.patience = 3;
  o.train.eval_every = 0;
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("--eval-every"));
  o.train.eval_every = 10;
  o.train.steps = 0;
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("--max-steps"));
}

TEST_CASE("an lr grid: every variant at each rate on the first seed, the other seeds at the rate "
          "with the best validation", "[compare]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions o = tiny_grid(dir.file("grid"));
  o.seeds = 3;
  o.lr_grid = {0.0005, 0.02};
  o.train.eval_every = 10;
  CHECK(planned_runs(o) == 2 * 2 + 2 * 2);
  const CompareResult r = run_compare(o, source);
  REQUIRE(r.runs.size() == 8);
  REQUIRE(r.chosen_lr.size() == 2);
  for (const std::string v : {"gru+none", "gru+luong-general"}) {
    // The chosen rate is the first-seed run with the lowest validation loss.
    double best_loss = INFINITY, best_lr = 0;
    std::vector<std::uint64_t> seeds_at_chosen;
    for (const auto& run : r.runs) {
      if (run.spec.variant.name() != v) continue;
      INFO(run.spec.name() << " " << run.error);
      REQUIRE(run.status == "ok");
      if (run.spec.seed == 1) {
        double lo = INFINITY;
        for (const auto& p : run.valid_loss) lo = std::min(lo, p.value);
        if (lo < best_loss) best_loss = lo, best_lr = run.spec.lr;
      }
    }
    CHECK(r.chosen_lr.at(v) == best_lr);
    for (const auto& run : r.runs)
      if (run.spec.variant.name() == v && run.spec.seed > 1) {
        CHECK(run.spec.lr == best_lr);
        seeds_at_chosen.push_back(run.spec.seed);
      }
    CHECK(seeds_at_chosen == std::vector<std::uint64_t>{2, 3});
  }
  CHECK(fs::exists(dir.file("grid/gru+none-lr0.0005-s1/metrics.json")));
  CHECK(fs::exists(dir.file("grid/gru+none-lr0.02-s1/metrics.json")));

  // The summary counts the seeds at the chosen rate and shows every rate tried.
  const CompareSummary s = summarize(r);
  for (const auto& v : s.variants) {
    CHECK(v.runs.size() == 3);
    CHECK(v.lr == r.chosen_lr.at(v.name));
    REQUIRE(v.rates.size() == 2);
    for (const auto& t : v.rates) CHECK(t.chosen == (t.lr == v.lr));
  }
  std::ostringstream md;
  write_markdown(s, md);
  CHECK_THAT(md.str(), Catch::Contains("## Learning rates") && Catch::Contains("| lr 0.0005 | lr 0.02 |"));

  // Resumed: nothing retrains, the same rates are chosen.
  std::size_t events = 0;
  const CompareResult again = run_compare(o, source, [&](const GridStatus& g) { events += !g.event.empty(); });
  CHECK(events == 0);
  CHECK(again.chosen_lr == r.chosen_lr);
  CHECK(again.runs.size() == 8);
}

TEST_CASE("the rate is chosen by validation alone, never by the test split", "[compare]") {
  // At 0.01 the test exact match is higher but the validation loss worse: 0.001 is chosen.
  const std::vector<RunResult> first = {
      curve_run("bahdanau", 1, 0.001, {{10, 2.0}, {20, 0.5}}, 0.4),
      curve_run("bahdanau", 1, 0.01, {{10, 1.0}, {20, 0.9}}, 0.9),
      curve_run("none", 1, 0.001, {{10, 2.0}}, 0.1),
      curve_run("none", 1, 0.01, {{10, 0.1}}, 0.1)};
  std::vector<RunResult> with_diverged = first;
  with_diverged[3].status = RunStatus::Diverged;
  const auto rates = choose_rates(first);
  CHECK(rates.at("gru+bahdanau") == 0.001);
  CHECK(rates.at("gru+none") == 0.01);
  CHECK(choose_rates(with_diverged).at("gru+none") == 0.001);
  CompareOptions o = tiny_grid("unused");
  o.seeds = 3;
  o.attentions = {"none", "bahdanau"};
  const auto second = second_stage_runs(o, rates);
  REQUIRE(second.size() == 4);
  CHECK(second[0].name() == "gru+none-lr0.01-s2");
  CHECK(second[3].name() == "gru+bahdanau-lr0.001-s3");
}

TEST_CASE("a variant whose chosen rate is at either end of the lr grid is noted, one inside is not", "[compare]") {
  CompareResult g;
  g.data_name = "task reverse";
  g.lr_grid = {0.001, 0.003, 0.01};
  g.chosen_lr = {{"gru+none", 0.001}, {"gru+bahdanau", 0.003}, {"gru+luong-general", 0.01}};
  for (const auto& [attention, lr] : std::vector<std::pair<std::string, double>>{
           {"none", 0.001}, {"bahdanau", 0.003}, {"luong-general", 0.01}})
    g.runs.push_back(curve_run(attention, 1, lr, {{10, 1.0}}, 0.5));
  const CompareSummary s = summarize(g);
  REQUIRE(s.variants.size() == 3);
  REQUIRE(s.variants[0].notes.size() == 1);
  CHECK_THAT(s.variants[0].notes[0], Catch::Contains("its rate (0.001) is the smallest of --lr-grid") &&
                                         Catch::Contains("a smaller one was not tried"));
  CHECK(s.variants[1].notes.empty());
  REQUIRE(s.variants[2].notes.size() == 1);
  CHECK_THAT(s.variants[2].notes[0], Catch::Contains("its rate (0.01) is the largest of --lr-grid"));
  std::ostringstream md;
  write_markdown(s, md);
  CHECK_THAT(md.str(), Catch::Contains("- gru+none: its rate (0.001) is the smallest") &&
                           !Catch::Contains("With two rates"));

  // With two rates every choice is at an end: one sentence for the grid, no note per variant.
  g.lr_grid = {0.001, 0.01};
  g.runs.erase(g.runs.begin() + 1);
  g.chosen_lr.erase("gru+bahdanau");
  const CompareSummary two = summarize(g);
  REQUIRE(two.variants.size() == 2);
  CHECK(two.variants[0].notes.empty());
  CHECK(two.variants[1].notes.empty());
  std::ostringstream md2;
  write_markdown(two, md2);
  CHECK_THAT(md2.str(), Catch::Contains("With two rates every choice is at an end of the grid"));
}

TEST_CASE("the ranking at fractions of the budget says when it changes with the budget", "[compare]") {
  CompareResult g;
  g.data_name = "task reverse";
  g.budget = "steps:100";
  // Bahdanau is ahead early, luong-general catches up and overtakes late.
  for (std::uint64_t seed : {1, 2, 3}) {
    g.runs.push_back(curve_run("bahdanau", seed, 0, {{25, 1.0}, {50, 0.8}, {75, 0.7}, {100, 0.6}}, 0.6));
    g.runs.push_back(curve_run("luong-general", seed, 0, {{25, 3.0}, {50, 1.2}, {75, 0.5}, {100, 0.3}}, 0.8));
  }
  const CompareSummary s = summarize(g);
  REQUIRE(s.rankings.size() == 3);
  CHECK(s.rankings[0].step == 25);
  CHECK(s.rankings[0].order[0].first == "gru+bahdanau");
  CHECK(s.rankings[0].order[0].second == Approx(1.0));
  CHECK(s.rankings[1].step == 50);
  CHECK(s.rankings[1].order[0].first == "gru+bahdanau");
  CHECK(s.rankings[2].step == 100);
  CHECK(s.rankings[2].order[0].first == "gru+luong-general");
  CHECK(s.rankings[2].order[0].second == Approx(0.3));
  CHECK(s.ranking_changes);
  CHECK_THAT(s.ranking_note, Catch::Contains("changes with the budget") && Catch::Contains("25% (step 25)"));
  std::ostringstream md, csv, html;
  write_markdown(s, md);
  write_csv(s, csv);
  write_html(s, g, html);
  CHECK_THAT(md.str(), Catch::Contains("## Ranking at fractions of the budget") && Catch::Contains("**The ranking changes"));
  CHECK_THAT(csv.str(), Catch::Contains("rank_at_25pct,rank_at_50pct,rank_at_100pct"));
  CHECK_THAT(html.str(), Catch::Contains("id=\"ranking-note\" class=\"note\""));

  // A run that stopped early keeps its best figure at the later fractions.
  const std::vector<CurvePoint> early{{25, 0.4}}, late{{25, 0.9}, {50, 0.2}, {100, 0.1}};
  const auto r = rank_at_fractions({"a", "b"}, {{&early}, {&late}}, false);
  REQUIRE(r.size() == 3);
  CHECK(r[0].order[0].first == "a");
  CHECK(r[2].order[0].first == "b");
  CHECK(r[2].order[1].second == Approx(0.4));
}

TEST_CASE("the tests across seeds appear next to the bootstrap, fewer than 3 seeds are not judged",
          "[compare]") {
  CompareResult g;
  g.data_name = "task reverse";
  const std::vector<double> none_em{0.30, 0.35, 0.20}, bah_em{0.70, 0.90, 0.80};
  for (std::uint64_t seed : {1, 2, 3}) {
    g.runs.push_back(curve_run("none", seed, 0, {{10, 1.0}}, none_em[seed - 1]));
    g.runs.push_back(curve_run("bahdanau", seed, 0, {{10, 0.5}}, bah_em[seed - 1]));
  }
  const CompareSummary s = summarize(g);
  REQUIRE(s.best == "gru+bahdanau");
  const VariantSummary& none = s.variants[0];
  CHECK(none.seeds_vs_best.seeds == 3);
  CHECK(none.seeds_vs_best.sign_flip_p == 0.25);  // 3 differences of one sign
  CHECK(none.seeds_vs_best.mean_difference == Approx(-0.5167).margin(1e-3));
  CHECK(none.seeds_vs_best.t.p == Approx(paired_t_test({-0.4, -0.55, -0.6}).p));
  std::ostringstream md, csv, js, html;
  write_markdown(s, md);
  write_csv(s, csv);
  write_json(s, js);
  write_html(s, g, html);
  CHECK_THAT(md.str(), Catch::Contains("p (sign-flip, seeds)") && Catch::Contains("| 0.250 |") &&
                           Catch::Contains("paired t-test") && Catch::Contains("paired bootstrap"));
  CHECK_THAT(md.str(), !Catch::Contains("cannot be judged:"));
  CHECK_THAT(csv.str(), Catch::Contains(",sign_flip_p_vs_best,t_test_p_vs_best"));
  const auto j = nlohmann::json::parse(js.str());
  CHECK(j["variants"][0]["seeds_vs_best"]["sign_flip_p"] == 0.25);
  CHECK(j["variants"][0]["seeds_vs_best"]["judged"] == true);
  CHECK_THAT(html.str(), Catch::Contains("sign-flip") && Catch::Contains("<td>0.250</td>"));

  g.runs.resize(4);  // two seeds
  const CompareSummary two = summarize(g);
  CHECK_FALSE(two.variants[0].seeds_vs_best.judged());
  std::ostringstream md2, html2;
  write_markdown(two, md2);
  write_html(two, g, html2);
  CHECK_THAT(md2.str(), Catch::Contains("variance between seeds cannot be judged") && Catch::Contains("| n/a | n/a |"));
  CHECK_THAT(html2.str(), Catch::Contains("id=\"seed-note\""));
}

TEST_CASE("each encoder is tested against its rnn twin under the same attention", "[compare]") {
  CompareResult g;
  g.data_name = "task reverse";
  for (const std::string encoder : {"rnn", "transformer"})
    for (const std::string attention : {"none", "bahdanau"})
      for (std::uint64_t seed : {1, 2, 3}) {
        // The transformer encoder fixes `none` (right on 9 of 10 sentences instead of 1 of 3) and
        // leaves bahdanau as it is.
        const bool good = attention == "bahdanau" || encoder == "transformer";
        std::vector<int> correct(120);
        for (int i = 0; i < 120; ++i)
          correct[i] = good ? (i + int(seed)) % 10 != 0 : (i + int(seed)) % 3 == 0;
        RunResult r = fake_run(attention, seed, "ok", correct);
        r.spec.variant.encoder = encoder;
        g.runs.push_back(r);
      }
  const CompareSummary s = summarize(g);
  REQUIRE(s.variants.size() == 4);
  REQUIRE(s.contrasts.size() == 2);
  const auto& none = s.contrasts[0];
  CHECK(none.axis == "encoder");
  CHECK(none.value == "transformer");
  CHECK(none.reference_value == "rnn");
  CHECK(s.variants[none.variant].name == "gru+none@transformer");
  CHECK(s.variants[none.reference].name == "gru+none");
  REQUIRE(none.test.compared);
  CHECK(none.test.bootstrap.delta == Approx(0.9 - 40.0 / 120).margin(0.01));
  CHECK(none.test.bootstrap.p_value < 0.01);
  CHECK(none.test.seeds.seeds == 3);
  CHECK(none.test.seeds.mean_difference > 0);
  const auto& bah = s.contrasts[1];
  CHECK(s.variants[bah.variant].name == "gru+bahdanau@transformer");
  CHECK(s.variants[bah.reference].name == "gru+bahdanau");
  CHECK(bah.test.bootstrap.delta == 0);
  CHECK(bah.test.bootstrap.p_value == 1);
  REQUIRE(s.contrast_notes.size() == 1);
  CHECK(s.contrast_notes[0].first == "encoder");
  CHECK_THAT(s.contrast_notes[0].second,
             Catch::Contains("`transformer` against `rnn`, 2 pairs: better in 1, worse in 0, not separated in 1"));

  std::ostringstream md, js, html;
  write_markdown(s, md);
  write_json(s, js);
  write_html(s, g, html);
  CHECK_THAT(md.str(), Catch::Contains("## The encoder axis: each variant against its `rnn` twin") &&
                           Catch::Contains("| gru+none@transformer | gru+none | 90.0 ± 0.0 |") &&
                           Catch::Contains("| gru+bahdanau@transformer | gru+bahdanau | 90.0 ± 0.0 | 90.0 ± 0.0 | +0.0 | 1.000 |"));
  const auto j = nlohmann::json::parse(js.str());
  REQUIRE(j["axis_contrasts"].size() == 2);
  CHECK(j["axis_contrasts"][0]["twin"] == "gru+none");
  CHECK(j["axis_contrasts"][0]["bootstrap"]["p_value"].get<double>() < 0.01);
  CHECK(j["axis_contrasts"][0]["seeds"]["judged"] == true);
  CHECK_THAT(html.str(), Catch::Contains("id=\"axis-encoder\">The encoder axis: each variant against its rnn twin</h2>") &&
                             Catch::Contains("transformer against rnn, 2 pairs"));
}

TEST_CASE("a grid with one value on every axis but attention has no axis contrasts", "[compare]") {
  const CompareResult g = fake_grid();  // the summary points into its runs
  const CompareSummary s = summarize(g);
  CHECK(s.contrasts.empty());
  std::ostringstream md;
  write_markdown(s, md);
  CHECK_THAT(md.str(), !Catch::Contains("axis: each variant"));
}

TEST_CASE("diagnostics are plotted one chart per measure with a line per variant, none recorded gets a sentence",
          "[compare]") {
  CompareResult g;
  g.data_name = "task reverse";
  g.runs.push_back(curve_run("none", 1, 0, {{10, 1.0}}, 0.3));
  g.runs.push_back(curve_run("bahdanau", 1, 0, {{10, 0.5}}, 0.8));
  {
    const CompareSummary s = summarize(g);
    std::ostringstream html;
    write_html(s, g, html);
    CHECK_THAT(html.str(), Catch::Contains("id=\"no-diagnostics\"") && !Catch::Contains("id=\"diag-sat-"));
  }
  for (std::size_t step : {10, 20}) {
    DiagnosticsPoint p;
    p.step = step;
    p.saturation = {{"h~", step == 10 ? 0.8 : 0.25}, {"decoder gates", 0.05}};
    p.attention_entropy = 1.25;
    p.uniform_entropy = 1.75;
    p.grad_norm = {{"attention", 0.125}, {"decoder", 2.5}};
    g.runs[1].diagnostics.push_back(p);
  }
  const CompareSummary s = summarize(g);
  std::ostringstream html;
  write_html(s, g, html);
  const std::string h = html.str();
  CHECK_THAT(h, !Catch::Contains("id=\"no-diagnostics\""));
  // One chart per unit group, per parameter group and for the entropy; not one per run.
  CHECK_THAT(h, Catch::Contains("id=\"diag-sat-h-\"") && Catch::Contains("id=\"diag-sat-decoder-gates\"") &&
                    Catch::Contains("id=\"diag-ent\"") && Catch::Contains("id=\"diag-grad-attention\"") &&
                    Catch::Contains("id=\"diag-grad-decoder\""));
  CHECK_THAT(h, !Catch::Contains("id=\"diag-sat-gru+bahdanau-s1\""));
  CHECK_THAT(h, Catch::Contains("data-series=\"gru+bahdanau\" data-x=\"10\" data-y=\"0.8\"") &&
                    Catch::Contains("data-series=\"uniform (ln S)\" data-x=\"20\" data-y=\"1.75\"") &&
                    Catch::Contains("data-series=\"gru+bahdanau\" data-x=\"20\" data-y=\"0.125\""));
  const std::string why = h.substr(h.find("id=\"why\""));
  CHECK_THAT(why, !Catch::Contains("data-series=\"gru+none\""));  // no diagnostics recorded for it
}

TEST_CASE("the diagnostics chart of a measure draws the mean over seeds and a thin line per seed", "[compare]") {
  CompareResult g;
  g.data_name = "task reverse";
  for (std::uint64_t seed : {1, 2}) {
    g.runs.push_back(curve_run("bahdanau", seed, 0, {{10, 0.5}}, 0.8));
    for (std::size_t step : {10, 20}) {
      DiagnosticsPoint p;
      p.step = step;
      p.grad_norm = {{"decoder", seed == 1 ? 1.0 : 3.0}};
      g.runs.back().diagnostics.push_back(p);
    }
  }
  std::ostringstream html;
  write_html(summarize(g), g, html);
  const std::string h = html.str();
  const auto chart = h.substr(h.find("id=\"diag-grad-decoder\""));
  CHECK_THAT(chart, Catch::Contains("data-series=\"gru+bahdanau\" data-x=\"10\" data-y=\"2\""));  // mean of 1 and 3
  CHECK_THAT(chart, Catch::Contains("gru+bahdanau s1") && Catch::Contains("gru+bahdanau s2"));
}

TEST_CASE("a fraction of the budget before any validation has no ranking, which is not a change", "[compare]") {
  CompareResult g;
  g.data_name = "task reverse";
  g.budget = "steps:100";
  // The first validation is at step 40: at 25% of the budget nobody has validated.
  for (std::uint64_t seed : {1, 2}) {
    g.runs.push_back(curve_run("none", seed, 0, {{40, 1.0}, {100, 0.8}}, 0.5));
    g.runs.push_back(curve_run("bahdanau", seed, 0, {{40, 0.7}, {100, 0.3}}, 0.8));
  }
  const CompareSummary s = summarize(g);
  REQUIRE(s.rankings.size() == 3);
  CHECK(s.rankings[0].order.empty());
  CHECK_FALSE(s.ranking_changes);
  CHECK_THAT(s.ranking_note, Catch::Contains("is the same at every fraction of the budget where every variant had "
                                             "validated: gru+bahdanau > gru+none") &&
                                 Catch::Contains("At 25% of the budget not every variant had validated yet"));
  std::ostringstream md, html;
  write_markdown(s, md);
  write_html(s, g, html);
  CHECK_THAT(md.str(), Catch::Contains("| 25% | \u2014 | no validation yet |") && !Catch::Contains("**The ranking changes"));
  CHECK_THAT(html.str(), Catch::Contains("no validation yet") && !Catch::Contains("id=\"ranking-note\" class=\"note\""));
}

TEST_CASE("the HTML results table leaves the length buckets to a table of their own", "[compare]") {
  const CompareResult g = fake_grid();
  std::ostringstream html;
  write_html(summarize(g), g, html);
  const std::string h = html.str();
  const auto results = h.substr(h.find("id=\"results-table\""), h.find("</table>", h.find("id=\"results-table\"")) -
                                                                      h.find("id=\"results-table\""));
  CHECK_THAT(results, !Catch::Contains("len ") && Catch::Contains("p (t-test, seeds)"));
  CHECK_THAT(h, Catch::Contains("id=\"length-table\"") && Catch::Contains("<th>len "));
}

TEST_CASE("the markdown report gives each variant's diagnostics at its first step and at the budget fractions",
          "[compare]") {
  CompareResult g;
  g.data_name = "task reverse";
  g.budget = "steps:100";
  for (std::uint64_t seed : {1, 2}) {
    g.runs.push_back(curve_run("none", seed, 0, {{25, 1.0}, {50, 0.8}, {100, 0.6}}, 0.5));
    g.runs.push_back(curve_run("luong-general", seed, 0, {{25, 3.0}, {50, 1.2}, {100, 0.3}}, 0.8));
  }
  std::ostringstream before;
  write_markdown(summarize(g), before);
  CHECK_THAT(before.str(), !Catch::Contains("## Why: training diagnostics"));  // none recorded
  for (auto& r : g.runs) {
    const bool luong = r.spec.variant.attention == "luong-general";
    for (std::size_t step : {10, 50}) {
      DiagnosticsPoint p;
      p.step = step;
      // Seeds 1 and 2 differ, so the table must show their mean.
      p.saturation = {{"decoder gates", r.spec.seed == 1 ? 0.1 : 0.3}};
      if (luong) p.saturation["h~"] = step == 10 ? 0.9 : 0.5;
      p.attention_entropy = luong ? (r.spec.seed == 1 ? 0.01 : 0.03) : -1;
      p.uniform_entropy = luong ? 1.5 : -1;
      p.grad_norm = {{"decoder", 2.0}};
      if (luong) p.grad_norm["attention"] = step == 10 ? 0.001 : 0.25;
      r.diagnostics.push_back(p);
    }
  }
  std::ostringstream md;
  write_markdown(summarize(g), md);
  const std::string m = md.str();
  CHECK_THAT(m, Catch::Contains("## Why: training diagnostics"));
  CHECK_THAT(m, Catch::Contains("| variant | step | h~ saturated | decoder gates saturated | attention entropy | "
                                "\u2016grad\u2016 attention | \u2016grad\u2016 decoder |"));
  // The first recorded step (10) and the ranking's steps (25, 50, 100); at 25 a run's last
  // point is the one of step 10, at 100 the one of step 50.
  CHECK_THAT(m, Catch::Contains("| gru+luong-general | 10 | 90.0 | 20.0 | 0.020 (1.50) | 1.00e-03 | 2.00e+00 |"));
  CHECK_THAT(m, Catch::Contains("| gru+luong-general | 25 | 90.0 | 20.0 | 0.020 (1.50) | 1.00e-03 | 2.00e+00 |"));
  CHECK_THAT(m, Catch::Contains("| gru+luong-general | 100 | 50.0 | 20.0 | 0.020 (1.50) | 2.50e-01 | 2.00e+00 |"));
  CHECK_THAT(m, Catch::Contains("| gru+none | 50 | \u2014 | 20.0 | \u2014 | \u2014 | 2.00e+00 |"));
  CHECK(m.find("## Why: training diagnostics") < m.find("## Alignment"));
}

TEST_CASE("diagnostics in a run's metrics.json are read back on resume", "[compare]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions o = tiny_grid(dir.file("grid"));
  o.seeds = 1;
  const CompareResult r = run_compare(o, source);
  const std::string file = (fs::path(r.runs[1].run_dir) / "metrics.json").string();
  auto j = nlohmann::json::parse(read_file(file));
  REQUIRE(j.contains("diagnostics"));
  CHECK(j["diagnostics"].size() == r.runs[1].diagnostics.size());
  // As the trainer would record one point.
  j["diagnostics"] = nlohmann::json::array({{{"step", 10},
                                             {"saturation", {{"h~", 0.75}}},
                                             {"attention_entropy", 1.5},
                                             {"uniform_entropy", 1.9},
                                             {"grad_norm", {{"decoder", 3.0}, {"output", nullptr}}}}});
  write_file(file, j.dump());
  const CompareResult again = run_compare(o, source);
  REQUIRE(again.runs[1].resumed);
  REQUIRE(again.runs[1].diagnostics.size() == 1);
  const DiagnosticsPoint& p = again.runs[1].diagnostics[0];
  CHECK(p.step == 10);
  CHECK(p.saturation.at("h~") == 0.75);
  CHECK(p.attention_entropy == 1.5);
  CHECK(p.uniform_entropy == 1.9);
  CHECK(p.grad_norm.at("decoder") == 3.0);
  CHECK(std::isnan(p.grad_norm.at("output")));  // written as null when it was not finite
}

TEST_CASE("the time estimate comes from timed steps per variant and counts only runs still to train",
          "[compare]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions o = tiny_grid(dir.file("grid"));
  o.lr_grid = {0.003, 0.01};
  o.seeds = 2;
  const GridEstimate before = estimate_grid(o, source, 5);
  CHECK(before.runs == 6);
  CHECK(before.runs_to_train == 6);
  REQUIRE(before.variants.size() == 2);
  for (const auto& v : before.variants) CHECK(v.step_seconds > 0);
  const double expected = 2 * 30 * before.variants[0].step_seconds + 1 * 30 * before.variants[1].step_seconds +
                          2 * 30 * before.variants[1].step_seconds + 1 * 30 * before.variants[0].step_seconds;
  CHECK(before.seconds >= expected);  // plus the validations
  CHECK_FALSE(before.upper_bound);
  run_compare(o, source);
  const GridEstimate after = estimate_grid(o, source, 5);
  CHECK(after.runs_to_train == 0);
  CHECK(after.seconds == 0);
}

TEST_CASE("attend compare --budget: steps:N is --steps, converge needs --max-steps, bad spellings exit 2",
          "[compare][cli]") {
  TempDir dir;
  const std::string base =
      "compare --task copy --train-size 200 --valid-size 20 --test-size 30 --min-len 3 --max-len 6 "
      "--cells gru --attention none,luong-dot --seeds 1 --hidden 16 --emb 8 --threads 1 -q ";
  CliRun r = run_cli(dir, base + "--steps 20 --out a");
  REQUIRE(r.status == 0);
  r = run_cli(dir, base + "--budget steps:20 --out a");  // the same grid: resumed
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("Budget: steps:20"));
  r = run_cli(dir, base + "--budget steps:20 --steps 30 --out b");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("contradicts --budget steps:20"));
  r = run_cli(dir, base + "--budget converge --steps 30 --out b");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--max-steps"));
  r = run_cli(dir, base + "--budget steps:x --out b");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("whole number"));
  r = run_cli(dir, base + "--budget forever --out b");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("valid: converge, steps:N"));
  r = run_cli(dir, base + "--lr-grid 0.01,abc --out b");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("'abc' is not a number"));
  r = run_cli(dir, base + "--lr-grid 0.01 --lr 0.02 --out b");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--lr or --lr-grid"));
  r = run_cli(dir, base + "--budget converge --max-steps 200 --eval-every 10 --patience 2 --lr-grid 0.003,0.03 --out c");
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("| lr |") && Catch::Contains("## Learning rates") &&
                        Catch::Contains("Budget: converge (patience 2, validation every 10 steps, at most 200 steps)"));
}

TEST_CASE("with a converge budget a run that reached the step cap is noted as maybe not converged",
          "[compare]") {
  CompareResult g;
  g.data_name = "task reverse";
  g.converge = true;
  g.budget = "converge (patience 2, validation every 10 steps, at most 100 steps)";
  g.runs.push_back(curve_run("none", 1, 0, {{10, 1.0}, {20, 0.9}}, 0.3));
  g.runs.push_back(curve_run("bahdanau", 1, 0, {{10, 0.5}, {20, 0.4}}, 0.8));
  g.runs[0].stopped_early = true;
  const CompareSummary s = summarize(g);
  CHECK(s.variants[0].notes.empty());
  REQUIRE(s.variants[1].notes.size() == 1);
  CHECK_THAT(s.variants[1].notes[0], Catch::Contains("reached the step cap") && Catch::Contains("may not have converged"));
  std::ostringstream md;
  write_markdown(s, md);
  CHECK_THAT(md.str(), Catch::Contains("Budget: converge (patience 2"));
}

TEST_CASE("the luong output is a grid axis of the luong-style variants only", "[compare]") {
  TempDir dir;
  CompareOptions o = tiny_grid(dir.file("g"));
  o.attentions = {"bahdanau", "luong-general"};
  o.luong_outputs = {"tanh", "linear"};
  o.seeds = 2;
  validate_grid(o);
  std::vector<std::string> names;
  for (const Variant& v : grid_variants(o)) names.push_back(v.name());
  CHECK(names == std::vector<std::string>{"gru+bahdanau", "gru+luong-general", "gru+luong-general+linear"});
  CHECK(grid_runs(o).size() == 6);
  CHECK(grid_runs(o)[4].name() == "gru+luong-general+linear-s1");
  const DataSource source = task_source(tiny_task());
  const CompareData d = source.load(1);
  CHECK(build_model(o, {"gru", "luong-general", "auto", "linear"}, 1, d)->config().luong_output ==
        LuongOutput::Linear);
  CHECK(build_model(o, {"gru", "luong-general"}, 1, d)->config().luong_output == LuongOutput::Tanh);
  // The default axis leaves the grid's signature as it was before the axis existed.
  CompareOptions plain = tiny_grid(dir.file("p"));
  CHECK(grid_signature(plain, source).count("grid.luong_output") == 0);
  CHECK(grid_signature(o, source).at("grid.luong_output") == "tanh,linear");
  o.luong_outputs = {"tanh", "sigmoid"};
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("sigmoid") && Catch::Contains("linear"));
}

TEST_CASE("in a grid across encoders --bidirectional applies to the recurrent encoders only", "[compare]") {
  TempDir dir;
  CompareOptions o = tiny_grid(dir.file("g"));
  o.attentions = {"bahdanau"};
  o.encoders = {"rnn", "transformer", "rnn+self"};
  o.model.bidirectional = true;
  validate_grid(o);
  const CompareData d = task_source(tiny_task()).load(1);
  for (const Variant& v : grid_variants(o))
    CHECK(build_model(o, v, 1, d)->config().bidirectional == (v.encoder != "transformer"));
  ModelConfig alone = o.model;  // outside a grid the combination stays an error
  alone.encoder = "transformer";
  alone.src_vocab = alone.tgt_vocab = 8;
  CHECK_THROWS_WITH(alone.validate(), Catch::Contains("--bidirectional applies to recurrent encoders"));
}

TEST_CASE("in a grid across decoders --decoder-layers and --tie-embeddings apply to the Transformer decoders only",
          "[compare]") {
  TempDir dir;
  CompareOptions o = tiny_grid(dir.file("g"));
  o.attentions = {"bahdanau"};
  o.decoders = {"auto", "transformer"};
  o.model.decoder_layers = 2;
  o.model.tie_embeddings = true;
  validate_grid(o);
  const CompareData d = task_source(tiny_task()).load(1);
  for (const Variant& v : grid_variants(o)) {
    const ModelConfig c = build_model(o, v, 1, d)->config();
    CHECK(c.decoder_layers == (v.decoder == "transformer" ? 2u : 0u));
    CHECK(c.tie_embeddings == (v.decoder == "transformer"));
  }
}

TEST_CASE("the encoder is a grid axis: rnn, transformer and rnn+self under the same decoder", "[compare]") {
  TempDir dir;
  CompareOptions o = tiny_grid(dir.file("g"));
  o.attentions = {"none", "bahdanau"};
  o.encoders = {"rnn", "transformer", "rnn+self"};
  o.seeds = 1;
  validate_grid(o);
  std::vector<std::string> names;
  for (const Variant& v : grid_variants(o)) names.push_back(v.name());
  CHECK(names == std::vector<std::string>{"gru+none", "gru+bahdanau", "gru+none@transformer",
                                          "gru+bahdanau@transformer", "gru+none@rnn+self",
                                          "gru+bahdanau@rnn+self"});
  const DataSource source = task_source(tiny_task());
  const CompareData d = source.load(1);
  Variant v{"gru", "bahdanau"};
  v.encoder = "transformer";
  CHECK(build_model(o, v, 1, d)->config().encoder == "transformer");
  CHECK(grid_signature(o, source).at("grid.encoder") == "rnn,transformer,rnn+self");
  CHECK(grid_signature(tiny_grid(dir.file("p")), source).count("grid.encoder") == 0);
  o.encoders = {"rnn", "convolutional"};
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("convolutional"));
}

TEST_CASE("adding a grid axis for a model field is one table line", "[compare]") {
  // The line grid_axes() would have for a dropout axis, registered here instead.
  if (!is_grid_axis("grid.dropout")) register_grid_axis({"dropout", "dropouts", "grid.dropout", "dropout rates", 5, "~d"});
  CHECK_THROWS_WITH(register_grid_axis({"dropout", "dropouts", "grid.dropout", "dropout rates", 5, "~d"}),
                    Catch::Contains("clashes"));
  CHECK_THROWS_WITH(register_grid_axis({"no_such_field", "nothing", "grid.nothing", "", 5, "~"}),
                    Catch::Contains("not a model field"));
  const GridAxis& dropout = *std::find_if(grid_axes().begin(), grid_axes().end(),
                                          [](const GridAxis& a) { return std::string(a.field) == "dropout"; });
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions plain = tiny_grid(dir.file("p"));
  plain.attentions = {"bahdanau"};
  CompareOptions o = plain;
  set_axis_values(o, dropout, {"0", "0.25"});
  validate_grid(o);
  std::vector<std::string> names;
  for (const Variant& v : grid_variants(o)) names.push_back(v.name());
  CHECK(names == std::vector<std::string>{"gru+bahdanau~d0", "gru+bahdanau~d0.25"});
  CHECK(grid_runs(o)[3].name() == "gru+bahdanau~d0.25-s2");
  const CompareData d = source.load(1);
  CHECK(build_model(o, grid_variants(o)[1], 1, d)->config().dropout == 0.25);
  const auto signature = grid_signature(o, source);
  CHECK(signature.at("grid.dropout") == "0,0.25");
  CHECK(signature.count("model.dropout") == 0);
  // A grid that does not vary it keeps its names and signature.
  CHECK(grid_variants(plain)[0].name() == "gru+bahdanau");
  CHECK(grid_signature(plain, source).count("grid.dropout") == 0);
  CHECK(grid_signature(plain, source).count("model.dropout") == 1);
  // The summary and the reports read the axes from the same table: the dropout variants are
  // contrasted like any other axis, and results.json names each variant's dropout.
  CompareResult g;
  g.data_name = "task reverse";
  for (const RunSpec& spec : grid_runs(o)) {
    const bool none = spec.variant.more_axes.at("dropout") == "0";
    std::vector<int> correct(120);
    for (int i = 0; i < 120; ++i) correct[i] = none ? i % 10 != 0 : i % 3 == 0;
    RunResult r = fake_run("bahdanau", spec.seed, "ok", correct);
    r.spec = spec;
    g.runs.push_back(r);
  }
  const CompareSummary summary = summarize(g);
  REQUIRE(summary.contrasts.size() == 1);
  CHECK(summary.contrasts[0].axis == "dropout");
  CHECK(summary.contrasts[0].value == "0.25");
  CHECK(summary.contrasts[0].reference_value == "0");
  std::ostringstream js;
  write_json(summary, js);
  CHECK(nlohmann::json::parse(js.str())["variants"][1]["dropout"] == "0.25");
  set_axis_values(o, dropout, {"0", "lots"});
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("dropout") && Catch::Contains("lots"));
  set_axis_values(o, dropout, {"0", "0"});
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("--dropouts names '0' twice"));
  CHECK_THAT(changeable_axes_text(), Catch::EndsWith("--encoder, --hidden, --heads, --attention-fn, --dropouts and --seeds"));
}

TEST_CASE("the width and the heads are grid axes when given two or more values", "[compare][cli]") {
  TempDir dir;
  const std::string base =
      "compare --task copy --train-size 100 --valid-size 10 --test-size 10 --min-len 3 --max-len 5 "
      "--cells gru --attention luong-dot --decoder transformer --encoder transformer --self-layers 1 --ffn 8 "
      "--self-heads 1 --seeds 1 --steps 2 --emb 8 --threads 1 -q";
  CliRun r = run_cli(dir, base + " --hidden 8 --heads 1,4 --out g");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto g = nlohmann::json::parse(read_file(dir.file("g/grid.json")))["signature"];
  CHECK(g["grid.heads"] == "1,4");
  CHECK(g.count("model.heads") == 0);
  CHECK(g["model.hidden"] == "8");  // one value: the shared model's option, as before
  CHECK(g.count("grid.hidden") == 0);
  CHECK(fs::exists(dir.file("g/gru+luong-dot_transformer@transformer~heads1-s1/metrics.json")));
  CHECK(fs::exists(dir.file("g/gru+luong-dot_transformer@transformer~heads4-s1/metrics.json")));
  const ModelBundle m = load_model(dir.file("g/gru+luong-dot_transformer@transformer~heads4-s1/model.safetensors"));
  CHECK(m.model->config().heads == 4);
  CHECK(m.model->config().hidden == 8);
  r = run_cli(dir, base + " --hidden 8,12 --heads 4 --out h");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(load_model(dir.file("h/gru+luong-dot_transformer@transformer~hidden12-s1/model.safetensors"))
            .model->config().hidden == 12);
  r = run_cli(dir, base + " --hidden 8 --heads 3,4 --out k");  // 3 does not divide 8
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--heads 3 does not divide --hidden 8"));
}
