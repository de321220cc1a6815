// attend compare --for: per-variant training settings. Parsing (good and bad rules), which
// variants a rule matches and which rule wins, each variant's own rate candidates in the first
// stage and its chosen rate in the second, the warmup reaching the run's training, the runs a
// changed rule retrains (and those it keeps), and the reports' matching section.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "attend/core/error.hpp"
#include "attend/experiment/compare.hpp"
#include "attend/experiment/report.hpp"
#include "attend/io/checkpoint.hpp"
#include "support.hpp"

using namespace attend;
using namespace attend::test;
namespace fs = std::filesystem;

namespace {

TaskOptions tiny_task() {
  TaskOptions t;
  t.name = "reverse";
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
  o.train.steps = 20;
  o.train.batch = 32;
  o.train.eval_every = 10;
  o.train.optimizer.lr = 0.01;
  o.out_dir = out;
  o.threads = 1;
  o.heatmap_sentences = 1;
  return o;
}

std::string error_of(const std::string& rule) {
  try {
    parse_train_rule(rule);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const Variant& variant_named(const std::vector<Variant>& vs, const std::string& name) {
  for (const auto& v : vs)
    if (v.name() == name) return v;
  FAIL("no variant " << name);
  return vs.front();
}

}  // namespace

TEST_CASE("a --for rule parses to axis values and training settings in canonical form", "[compare][for]") {
  const TrainRule r =
      parse_train_rule("decoder=transformer: lr-grid=0.0003,0.001 warmup=4000 lr-schedule=inverse-sqrt");
  CHECK(r.match == std::vector<std::pair<std::string, std::string>>{{"decoder", "transformer"}});
  CHECK(r.settings == std::vector<std::pair<std::string, std::string>>{
                          {"lr-grid", "0.0003,0.001"}, {"warmup", "4000"}, {"lr-schedule", "inverse-sqrt"}});
  CHECK(r.text == "decoder=transformer: lr-grid=0.0003,0.001 warmup=4000 lr-schedule=inverse-sqrt");

  // Axes by field or option name; several pairs; spacing and number spelling do not matter.
  const TrainRule s = parse_train_rule("  cells=lstm   luong_output=linear :lr=3e-3  label-smoothing=0.10 dropout=0.2");
  CHECK(s.match == std::vector<std::pair<std::string, std::string>>{{"cell", "lstm"}, {"luong_output", "linear"}});
  CHECK(s.settings == std::vector<std::pair<std::string, std::string>>{
                          {"lr", "0.003"}, {"label-smoothing", "0.1"}, {"dropout", "0.2"}});
  CHECK(s.text == "cell=lstm luong-output=linear: lr=0.003 label-smoothing=0.1 dropout=0.2");
  CHECK(parse_train_rule("encoder=transformer: clip=1 teacher-forcing=1 lr-decay=0.5 optimizer=sgd momentum=0.9")
            .settings.size() == 5);
  CHECK_THAT(train_rule_help(), Catch::Contains("warmup") && Catch::Contains("lr-grid") && Catch::Contains("encoder"));
}

TEST_CASE("a bad --for rule is refused naming the rule and the problem", "[compare][for]") {
  CHECK_THAT(error_of("decoder=transformer warmup=10"), Catch::Contains("SELECTOR: SETTINGS"));
  CHECK_THAT(error_of(": warmup=10"), Catch::Contains("names no axis=value"));
  CHECK_THAT(error_of("decoder=transformer:"), Catch::Contains("sets nothing"));
  CHECK_THAT(error_of("emb=64: warmup=10"), Catch::Contains("'emb' is not a grid axis"));
  CHECK_THAT(error_of("decoder=nope: warmup=10"), Catch::Contains("unknown decoder 'nope'"));
  CHECK_THAT(error_of("cell=gru cells=lstm: warmup=10"), Catch::Contains("twice"));
  CHECK_THAT(error_of("decoder=transformer: hidden=64"),
             Catch::Contains("'hidden' is a model option") && Catch::Contains("--for 'decoder=transformer: hidden=64'"));
  CHECK_THAT(error_of("decoder=transformer: heads=8"), Catch::Contains("model option"));
  CHECK_THAT(error_of("decoder=transformer: steps=100"), Catch::Contains("same for every variant"));
  CHECK_THAT(error_of("decoder=transformer: time-limit=60"), Catch::Contains("same for every variant"));
  CHECK_THAT(error_of("decoder=transformer: batch=16"), Catch::Contains("same for every variant"));
  CHECK_THAT(error_of("decoder=transformer: bogus=1"),
             Catch::Contains("unknown setting 'bogus'") && Catch::Contains("lr-schedule"));
  CHECK_THAT(error_of("decoder=transformer: warmup"), Catch::Contains("setting=value"));
  CHECK_THAT(error_of("decoder=transformer: lr=fast"), Catch::Contains("not a number"));
  CHECK_THAT(error_of("decoder=transformer: lr=-0.1"), Catch::Contains("must be in"));
  CHECK_THAT(error_of("decoder=transformer: lr-grid=0.1,,0.2"), Catch::Contains("empty rate"));
  CHECK_THAT(error_of("decoder=transformer: lr-grid=0.1,0.1"), Catch::Contains("twice"));
  CHECK_THAT(error_of("decoder=transformer: warmup=1.5"), Catch::Contains("whole number"));
  CHECK_THAT(error_of("decoder=transformer: warmup=99999999999999999999999"), Catch::Contains("too large"));
  CHECK_THAT(error_of("decoder=transformer: lr-schedule=cosine"), Catch::Contains("cosine"));
  CHECK_THAT(error_of("decoder=transformer: label-smoothing=1"), Catch::Contains("must be in [0, 1)"));
  CHECK_THAT(error_of("decoder=transformer: warmup=1 warmup=2"), Catch::Contains("'warmup' twice"));
  CHECK_THAT(error_of("decoder=transformer: lr=0.1 lr-grid=0.1,0.2"), Catch::Contains("either lr"));
}

TEST_CASE("a rule matches the variants with its axis values, and later rules win", "[compare][for]") {
  CompareOptions o = tiny_grid("unused");
  o.cells = {"gru", "lstm"};
  o.attentions = {"bahdanau", "luong-general"};
  o.lr_grid = {0.01, 0.03};
  o.rules = {parse_train_rule("cell=gru: warmup=10 label-smoothing=0.1 lr-grid=0.001,0.003"),
             parse_train_rule("attention=bahdanau: warmup=20 lr=0.002"),
             parse_train_rule("cell=lstm attention=luong-general: dropout=0.3")};
  validate_grid(o);
  const auto vs = grid_variants(o);
  REQUIRE(vs.size() == 4);
  auto matched = [&](const TrainRule& r) {
    std::vector<std::string> names;
    for (const auto& v : vs)
      if (rule_matches(o, r, v)) names.push_back(v.name());
    return names;
  };
  CHECK(matched(o.rules[0]) == std::vector<std::string>{"gru+bahdanau", "gru+luong-general"});
  CHECK(matched(o.rules[1]) == std::vector<std::string>{"gru+bahdanau", "lstm+bahdanau"});
  CHECK(matched(o.rules[2]) == std::vector<std::string>{"lstm+luong-general"});

  const VariantTraining gb = variant_training(o, variant_named(vs, "gru+bahdanau"));
  CHECK(gb.train.lr_schedule.warmup == 20);          // the later rule
  CHECK(gb.train.label_smoothing == Approx(0.1));    // the earlier rule, not overridden
  CHECK(gb.lr_grid.empty());                         // lr replaces the earlier lr-grid
  CHECK(gb.train.optimizer.lr == Approx(0.002));
  CHECK(gb.settings.count("lr-grid") == 0);
  CHECK(gb.rules.size() == 2);
  const VariantTraining gl = variant_training(o, variant_named(vs, "gru+luong-general"));
  CHECK(gl.train.lr_schedule.warmup == 10);
  CHECK(gl.lr_grid == std::vector<double>{0.001, 0.003});
  const VariantTraining lb = variant_training(o, variant_named(vs, "lstm+bahdanau"));
  CHECK(lb.train.label_smoothing == 0);
  CHECK(lb.lr_grid.empty());
  const VariantTraining ll = variant_training(o, variant_named(vs, "lstm+luong-general"));
  CHECK(ll.lr_grid == std::vector<double>{0.01, 0.03});  // the grid's candidates
  CHECK(ll.settings == std::map<std::string, std::string>{{"dropout", "0.3"}});
  CHECK(variant_config(o, variant_named(vs, "lstm+luong-general")).dropout == Approx(0.3));
  CHECK(variant_config(o, variant_named(vs, "lstm+bahdanau")).dropout == 0);
  // gru+bahdanau at one rate: 2 seeds; gru+luong 2 rates + 1; lstm+bahdanau 2 seeds; lstm+luong 2 + 1.
  CHECK(planned_runs(o) == 2 + 3 + 2 + 3);
  std::multiset<std::string> names;
  for (const auto& spec : grid_runs(o)) names.insert(spec.name());
  CHECK(names == std::multiset<std::string>{"gru+bahdanau-s1", "gru+bahdanau-s2", "gru+luong-general-lr0.001-s1",
                                            "gru+luong-general-lr0.003-s1", "lstm+bahdanau-s1", "lstm+bahdanau-s2",
                                            "lstm+luong-general-lr0.01-s1", "lstm+luong-general-lr0.03-s1"});

  // An axis that does not apply to a variant holds for no value: luong-output=tanh matches the
  // luong-style variants only (luong-general under the auto decoder is one).
  CompareOptions l = tiny_grid("unused");
  l.attentions = {"bahdanau", "luong-general"};
  l.decoders = {"auto", "luong"};
  l.rules = {parse_train_rule("luong-output=tanh: warmup=5")};
  std::vector<std::string> with_warmup;
  for (const auto& v : grid_variants(l))
    if (variant_training(l, v).train.lr_schedule.warmup == 5) with_warmup.push_back(v.name());
  CHECK(with_warmup ==
        std::vector<std::string>{"gru+bahdanau/luong", "gru+luong-general", "gru+luong-general/luong"});
}

TEST_CASE("a rule that matches no variant, or gives a variant invalid training, is refused", "[compare][for]") {
  CompareOptions o = tiny_grid("unused");
  o.rules = {parse_train_rule("attention=none: warmup=10"), parse_train_rule("decoder=transformer: warmup=4000")};
  try {
    validate_grid(o);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("--for 'decoder=transformer: warmup=4000' matches no variant") &&
                                          Catch::Contains("gru+none, gru+luong-general"));
  }
  o.rules = {parse_train_rule("cells=lstm: warmup=10")};
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("matches no variant"));
  // teacher forcing below 1 on a decoder that trains with teacher forcing only is the run's
  // error; an optimizer setting out of range is the grid's.
  o.rules = {parse_train_rule("attention=none: optimizer=sgd momentum=0.5 lr=0.1")};
  CHECK_NOTHROW(validate_grid(o));
}

TEST_CASE("each variant searches its own rate candidates and trains its other seeds at its choice",
          "[compare][for]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions o = tiny_grid(dir.file("grid"));
  o.lr_grid = {0.01, 0.02};
  o.rules = {parse_train_rule("attention=luong-general: lr-grid=0.003,0.005,0.03")};
  CHECK(planned_runs(o) == (2 + 1) + (3 + 1));
  const CompareResult r = run_compare(o, source);
  REQUIRE(r.runs.size() == 7);
  std::map<std::string, std::set<double>> first_stage;
  for (const auto& run : r.runs) {
    INFO(run.spec.name() << " " << run.error);
    REQUIRE(run.status == "ok");
    if (run.spec.seed == 1) first_stage[run.spec.variant.name()].insert(run.spec.lr);
  }
  CHECK(first_stage["gru+none"] == std::set<double>{0.01, 0.02});
  CHECK(first_stage["gru+luong-general"] == std::set<double>{0.003, 0.005, 0.03});
  // The chosen rate: the first-seed run with the lowest validation loss among the variant's own.
  const double chosen = r.chosen_lr.at("gru+luong-general");
  double best = INFINITY, best_lr = 0;
  for (const auto& run : r.runs)
    if (run.spec.variant.name() == "gru+luong-general" && run.spec.seed == 1) {
      double lo = INFINITY;
      for (const auto& p : run.valid_loss) lo = std::min(lo, p.value);
      if (lo < best) best = lo, best_lr = run.spec.lr;
    }
  CHECK(chosen == best_lr);
  for (const auto& run : r.runs)
    if (run.spec.seed == 2) CHECK(run.spec.lr == r.chosen_lr.at(run.spec.variant.name()));
  CHECK(r.lr_grid == std::vector<double>{0.003, 0.005, 0.01, 0.02, 0.03});  // every candidate, ascending

  const CompareSummary s = summarize(r);
  for (const auto& v : s.variants) {
    CHECK(v.runs.size() == 2);
    CHECK(v.rates.size() == (v.name == "gru+none" ? 2u : 3u));
  }
  std::ostringstream md;
  write_markdown(s, md);
  CHECK_THAT(md.str(), Catch::Contains("| lr 0.003 | lr 0.005 | lr 0.01 | lr 0.02 | lr 0.03 |") &&
                           Catch::Contains("trained at those only") &&
                           Catch::Contains("(of 0.003, 0.005, 0.03), no warmup"));

  // Without a grid-wide --lr-grid a rule's candidates search that variant alone; the other
  // trains every seed at --lr.
  CompareOptions one = tiny_grid(dir.file("one"));
  one.rules = {parse_train_rule("attention=luong-general: lr-grid=0.005,0.02")};
  const CompareResult q = run_compare(one, source);
  std::multiset<std::string> names;
  for (const auto& run : q.runs) names.insert(run.spec.name());
  const std::string second = "gru+luong-general-lr" + std::string(q.chosen_lr.at("gru+luong-general") == 0.005 ? "0.005" : "0.02") + "-s2";
  CHECK(names == std::multiset<std::string>{"gru+none-s1", "gru+none-s2", "gru+luong-general-lr0.005-s1",
                                            "gru+luong-general-lr0.02-s1", second});
  CHECK(q.chosen_lr.count("gru+none") == 0);
  CHECK(summarize(q).variants[0].training_text == "lr 0.01, no warmup");
}

TEST_CASE("a rule's warmup and schedule reach the run's training", "[compare][for]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions o = tiny_grid(dir.file("grid"));
  o.seeds = 1;
  o.rules = {parse_train_rule("attention=luong-general: warmup=1000 lr-schedule=inverse-sqrt label-smoothing=0.1")};
  std::map<std::string, double> lr_at_10;
  const CompareResult r = run_compare(o, source, [&](const GridStatus& g) {
    for (const auto& run : g.running)
      if (run.progress.step == 10) lr_at_10[run.name] = run.progress.lr;
  });
  REQUIRE(lr_at_10.size() == 2);
  CHECK(lr_at_10.at("gru+none-s1") == Approx(0.01));
  CHECK(lr_at_10.at("gru+luong-general-s1") == Approx(0.01 * 10 / 1000.0));  // lr / W per warmup step
  const ModelBundle b = load_model(dir.file("grid/gru+luong-general-s1/model.safetensors"));
  CHECK(b.info.at("warmup") == "1000");
  CHECK(b.info.at("lr-schedule") == "inverse-sqrt");
  CHECK(load_model(dir.file("grid/gru+none-s1/model.safetensors")).info.count("warmup") == 0);
  const auto metrics = nlohmann::json::parse(read_file(dir.file("grid/gru+luong-general-s1/metrics.json")));
  CHECK(metrics.at("training").at("warmup") == "1000");
  CHECK(metrics.at("training").at("label-smoothing") == "0.1");
  CHECK_FALSE(nlohmann::json::parse(read_file(dir.file("grid/gru+none-s1/metrics.json"))).contains("training"));
  CHECK_THAT(read_file(dir.file("grid/gru+luong-general-s1/train.log")),
             Catch::Contains("warmup 1000 steps, inverse-sqrt") && Catch::Contains("--for 'attention=luong-general"));
  const CompareSummary s = summarize(r);
  CHECK(s.variants[1].training_text == "lr 0.01, warmup 1000, inverse-sqrt, label smoothing 0.1");
}

TEST_CASE("a changed rule retrains the variants it touches and keeps the others' runs", "[compare][for]") {
  TempDir dir;
  const DataSource source = task_source(tiny_task());
  CompareOptions o = tiny_grid(dir.file("grid"));
  o.seeds = 1;
  const auto plain = grid_signature(o, source);
  CHECK(plain.count("grid.for") == 0);
  CHECK(plain.count("train.warmup") == 0);  // absent at the default: older grids keep their signature
  CHECK(plain.count("train.lr_schedule") == 0);
  o.rules = {parse_train_rule("attention=luong-general: warmup=5")};
  const auto with_rule = grid_signature(o, source);
  CHECK(with_rule.at("grid.for") == "attention=luong-general: warmup=5");
  CHECK(is_grid_axis("grid.for"));
  CompareOptions warm = o;
  warm.train.lr_schedule.warmup = 7;
  CHECK(grid_signature(warm, source).at("train.warmup") == "7");

  auto trained = [&](const CompareOptions& opts) {
    std::set<std::string> names;
    run_compare(opts, source, [&](const GridStatus& g) {
      if (g.event.find(" finished") != std::string::npos) names.insert(g.event.substr(0, g.event.find(' ')));
    });
    return names;
  };
  CHECK(trained(o) == std::set<std::string>{"gru+none-s1", "gru+luong-general-s1"});
  CHECK(trained(o).empty());  // the same rules: everything is reused
  o.rules = {parse_train_rule("attention=luong-general: warmup=6")};
  CHECK(grid_axis_changes(o, source).size() == 1);
  CHECK(trained(o) == std::set<std::string>{"gru+luong-general-s1"});
  // A rule for the other variant: it retrains, the first keeps its run.
  o.rules.push_back(parse_train_rule("attention=none: label-smoothing=0.1"));
  CHECK(trained(o) == std::set<std::string>{"gru+none-s1"});
  // No rules at all: both ran with settings they no longer have.
  o.rules.clear();
  CHECK(trained(o) == std::set<std::string>{"gru+none-s1", "gru+luong-general-s1"});
  // A grid-wide setting still makes a different grid.
  o.train.lr_schedule.warmup = 3;
  CHECK_THROWS_WITH(run_compare(o, source), Catch::Contains("different grid") && Catch::Contains("train.warmup"));
}

namespace {

RunResult fake_run(const std::string& cell, const std::string& attention, std::size_t parameters, std::uint64_t seed) {
  RunResult r;
  r.spec.variant.cell = cell;
  r.spec.variant.attention = attention;
  r.spec.seed = seed;
  r.parameters = parameters;
  r.steps = 1000 + 100 * seed;
  r.seconds = 60;
  r.tokens_per_s = 5000;
  r.exact_match = 0.5;
  r.test_correct = {1, 0};
  r.test_src_len = {3, 4};
  r.train_min_len = 3;
  r.train_max_len = 4;
  return r;
}

CompareResult fake_result() {
  CompareResult g;
  g.data_name = "fake";
  g.budget = "steps:1200";
  for (std::uint64_t seed : {1, 2}) {
    g.runs.push_back(fake_run("gru", "bahdanau", 4100000, seed));
    g.runs.push_back(fake_run("gru", "multihead", 9600000, seed));
  }
  VariantTraining t;
  t.train.optimizer.lr = 0.001;
  t.train.lr_schedule.warmup = 4000;
  t.train.lr_schedule.schedule = LrSchedule::InverseSqrt;
  t.settings = {{"warmup", "4000"}, {"lr-schedule", "inverse-sqrt"}};
  g.training["gru+multihead"] = t;
  VariantTraining plain;
  plain.train.optimizer.lr = 0.003;
  g.training["gru+bahdanau"] = plain;
  return g;
}

}  // namespace

TEST_CASE("the reports say how the variants are matched, the parameters' spread and each variant's settings",
          "[compare][for]") {
  CompareResult g = fake_result();
  CompareSummary s = summarize(g);
  CHECK(s.matching == "equal-steps");
  CHECK(s.parameter_ratio == Approx(9.6 / 4.1));
  CHECK(s.parameters_text == "Parameters differ by up to 2.3x: gru+bahdanau 4.1M, gru+multihead 9.6M.");
  CHECK(s.variants[1].training_text == "lr 0.001, warmup 4000, inverse-sqrt");
  CHECK(s.variants[0].training_text == "lr 0.003, no warmup");
  CHECK(s.variants[0].steps.mean == Approx(1150));
  std::ostringstream md, csv, js, html;
  write_markdown(s, md);
  write_csv(s, csv);
  write_json(s, js);
  write_html(s, g, html);
  CHECK_THAT(md.str(), Catch::Contains("## Matching: is the comparison fair?") &&
                           Catch::Contains("Matching: equal steps: every run trained the same number of updates (steps:1200)") &&
                           Catch::Contains("Parameters differ by up to 2.3x: gru+bahdanau 4.1M, gru+multihead 9.6M.") &&
                           Catch::Contains("| variant | parameters | training | steps | train time | tokens/s |") &&
                           Catch::Contains("| gru+multihead | 9600000 | lr 0.001, warmup 4000, inverse-sqrt | 1150 ± 71 | "
                                           "1:00 min | 5000 |"));
  CHECK_THAT(csv.str(), Catch::Contains(",steps_mean,lr_candidates,warmup,lr_schedule,label_smoothing,training\n") &&
                            Catch::Contains(",1150,,4000,inverse-sqrt,0,\"lr 0.001, warmup 4000, inverse-sqrt\"\n"));
  const auto j = nlohmann::json::parse(js.str());
  CHECK(j["matching"]["kind"] == "equal-steps");
  CHECK(j["matching"]["parameter_ratio"].get<double>() == Approx(9.6 / 4.1));
  CHECK(j["variants"][1]["training"]["warmup"] == 4000);
  CHECK(j["variants"][1]["training"]["lr_schedule"] == "inverse-sqrt");
  CHECK(j["variants"][1]["training"]["lr"].get<double>() == Approx(0.001));
  CHECK(j["variants"][1]["steps"]["mean"].get<double>() == Approx(1150));
  CHECK_THAT(html.str(), Catch::Contains("id=\"matching-table\"") &&
                             Catch::Contains("<td>lr 0.001, warmup 4000, inverse-sqrt</td>") &&
                             Catch::Contains("Parameters differ by up to 2.3x"));

  g.time_limit = 600;
  s = summarize(g);
  CHECK(s.matching == "equal-time");
  CHECK_THAT(s.matching_text, Catch::Contains("equal time: every run trained for at most 10:00 min (--time-limit)"));
  g.time_limit = 0;
  g.converge = true;
  g.budget = "converge (patience 5, validation every 100 steps, at most 20000 steps)";
  s = summarize(g);
  CHECK(s.matching == "convergence");
  CHECK_THAT(s.matching_text, Catch::StartsWith("Matching: at convergence: every run trained until its validation loss"));
  for (auto& run : g.runs) run.parameters = 5176;
  CHECK(summarize(g).parameters_text == "Parameters are equal: 5.2k in every variant.");
}

TEST_CASE("attend compare --for on the command line: applies, resumes per variant, bad rules exit 2",
          "[compare][for][cli]") {
  TempDir dir;
  const std::string grid =
      "compare --task reverse --train-size 200 --valid-size 20 --test-size 30 --min-len 3 --max-len 6 "
      "--cells gru --attention none,luong-dot --seeds 1 --steps 20 --hidden 16 --emb 8 --threads 1 --out g "
      "--estimate-steps 0";
  CliRun r = run_cli(dir, grid + " --for 'attention=luong-dot: warmup=10 lr-schedule=inverse-sqrt'");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.err, Catch::Contains("--for 'attention=luong-dot: warmup=10 lr-schedule=inverse-sqrt' applies to "
                                    "gru+luong-dot\n"));
  CHECK_THAT(r.out, Catch::Contains("## Matching: is the comparison fair?") &&
                        Catch::Contains("| gru+luong-dot | ") && Catch::Contains("warmup 10, inverse-sqrt"));
  r = run_cli(dir, grid + " --for 'attention=luong-dot: warmup=20 lr-schedule=inverse-sqrt'");
  REQUIRE(r.status == 0);
  CHECK_THAT(r.err, Catch::Contains("the --for rules differ") && Catch::Contains("gru+luong-dot-s1 finished") &&
                        !Catch::Contains("gru+none-s1 finished") && Catch::Contains("1 from earlier"));

  r = run_cli(dir, grid + " --for 'decoder=transformer: warmup=4000'");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--for 'decoder=transformer: warmup=4000' matches no variant"));
  r = run_cli(dir, grid + " --for 'attention=none: hidden=32'");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("'hidden' is a model option"));
  r = run_cli(dir, grid + " --for 'attention=none: speed=2'");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("unknown setting 'speed'"));
}

TEST_CASE("a grid with only-selectors keeps the variants of the product that match one of them", "[compare][only]") {
  TempDir dir;
  CompareOptions o = tiny_grid(dir.file("grid"));
  o.cells = {"gru", "lstm"};
  o.attentions = {"bahdanau", "luong-dot"};
  o.encoders = {"rnn", "transformer"};
  CHECK(grid_variants(o).size() == 8);
  o.only = {parse_variant_selector("cell=gru attention=bahdanau"),
            parse_variant_selector("cells=lstm attention=luong-dot encoder=rnn")};
  std::vector<std::string> names;
  for (const Variant& v : grid_variants(o)) names.push_back(v.name());
  CHECK(names == std::vector<std::string>{"gru+bahdanau", "lstm+luong-dot", "gru+bahdanau@transformer"});
  CHECK(planned_runs(o) == 3 * o.seeds);
  const DataSource source = task_source(tiny_task());
  CHECK(grid_signature(o, source).at("grid.only") == "cell=gru attention=bahdanau ; cell=lstm attention=luong-dot encoder=rnn");
  CHECK(is_grid_axis("grid.only"));  // narrowing or widening the selection keeps the runs both have
  CHECK_NOTHROW(validate_grid(o));
}

TEST_CASE("an --only selector that matches nothing, or is malformed, is refused", "[compare][only]") {
  TempDir dir;
  CompareOptions o = tiny_grid(dir.file("grid"));
  o.only = {parse_variant_selector("attention=bahdanau")};  // the grid has none and luong-general
  CHECK_THROWS_WITH(validate_grid(o), Catch::Contains("--only 'attention=bahdanau' matches no variant") &&
                                          Catch::Contains("gru+luong-general"));
  CHECK_THROWS_WITH(parse_variant_selector(""), Catch::Contains("names no axis=value pair"));
  CHECK_THROWS_WITH(parse_variant_selector("emb=4"), Catch::Contains("'emb' is not a grid axis"));
  CHECK_THROWS_WITH(parse_variant_selector("cell=gru cells=lstm"), Catch::Contains("names the axis 'cells' twice"));
  CHECK_THROWS_WITH(parse_variant_selector("cell=bogus"), Catch::Contains("bogus"));
}
