// attend compare: the grid runner (same data and initial values per seed, resume, grid.json
// check, failures, threads), the summary (means over seeds, diverged runs excluded with a note,
// paired bootstrap), the report writers and the attention exports.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attend/compare.hpp"
#include "attend/error.hpp"
#include "attend/report.hpp"

using namespace attend;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("attend_compare_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string str(const std::string& name = "") const { return (path / name).string(); }
};

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

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
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
  CompareOptions o = tiny_grid(dir.str("g"));
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
  CompareOptions o = tiny_grid(dir.str("grid"));
  const CompareResult r = run_compare(o, source);
  REQUIRE(r.runs.size() == 4);
  for (const auto& run : r.runs) {
    INFO(run.spec.name() << " " << run.error);
    CHECK(run.status == "ok");
    CHECK_FALSE(run.resumed);
    CHECK(fs::exists(fs::path(run.run_dir) / "model.h5"));
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
  CHECK(fs::exists(dir.str("grid/grid.json")));

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
                    Catch::Contains("different grid") && Catch::Contains("train.steps: 30") &&
                        Catch::Contains("grid.attention") && Catch::Contains("--force"));
  other.force = true;
  other.seeds = 1;
  const CompareResult forced = run_compare(other, source);
  CHECK(forced.runs.size() == 2);
  CHECK_FALSE(forced.runs[0].resumed);
  CHECK(forced.runs[1].status == "ok");
}

TEST_CASE("two jobs at once give the same numbers as one job", "[compare]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task("copy"));
  CompareOptions o = tiny_grid(dir.str("one"));
  o.attentions = {"bahdanau", "local-p"};
  o.seeds = 1;
  const CompareResult one = run_compare(o, source);
  o.out_dir = dir.str("two");
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
  CompareOptions o = tiny_grid(dir.str("grid"));
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
  r.status = status;
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

TEST_CASE("summary: diverged runs are marked and excluded from the mean; best and p-values",
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

namespace {

struct CliRun {
  int status = -1;
  std::string out, err;
};

CliRun cli(const std::string& args, const TempDir& dir) {
  const std::string out = dir.str("stdout.txt"), err = dir.str("stderr.txt");
  const std::string cmd = "cd '" + dir.str() + "' && '" + std::string(ATTEND_CLI_PATH) + "' " + args +
                          " > '" + out + "' 2> '" + err + "'";
  const int s = std::system(cmd.c_str());
  CliRun r;
  r.status = WIFEXITED(s) ? WEXITSTATUS(s) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace

TEST_CASE("attend compare on the command line: a tiny grid, resume, bad input", "[compare][cli]") {
  TempDir dir;
  const std::string grid =
      "compare --task copy --train-size 200 --valid-size 20 --test-size 30 --min-len 3 --max-len 6 "
      "--cells gru --attention none,luong-dot --seeds 1 --steps 20 --hidden 16 --emb 8 --threads 1 --out g";
  CliRun r = cli(grid, dir);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("| gru+none | 1/1 |") && Catch::Contains("gru+luong-dot") &&
                        Catch::Contains("report.html"));
  CHECK_THAT(r.err, Catch::Contains("gru+luong-dot-s1 finished"));
  for (const char* f : {"g/REPORT.md", "g/results.csv", "g/results.json", "g/report.html", "g/grid.json",
                        "g/gru+none-s1/model.h5", "g/gru+none-s1/metrics.json", "g/gru+none-s1/train.log"})
    CHECK(fs::exists(dir.str(f)));
  r = cli(grid, dir);
  CHECK(r.status == 0);
  CHECK_THAT(r.err, Catch::Contains("2 from earlier") && !Catch::Contains("finished"));
  r = cli(grid + " --lr 0.01", dir);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("different grid") && Catch::Contains("train.lr") && Catch::Contains("--force"));
  r = cli("compare --attention none,bogus --out x", dir);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("unknown attention 'bogus'"));
  r = cli("compare --cells , --out x", dir);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("empty"));
  r = cli("compare --task reverse", dir);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--out is required"));
}
