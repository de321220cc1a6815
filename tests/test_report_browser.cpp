// The HTML report of a real (tiny) grid rendered in headless Chromium: the page's script counts
// what was actually laid out (heatmap cells with a non-zero box per variant, curve paths with a
// non-empty `d` and a visible length) into #render-check, which this test reads from the DOM.
// A screenshot is taken too. Skipped (with a warning) when Chromium is not installed; .ci/run
// does not install it (Debian package `chromium`).
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attend/experiment/compare.hpp"
#include "attend/experiment/report.hpp"
#include "support.hpp"

using namespace attend;
namespace fs = std::filesystem;

namespace {

std::string find_chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

// Runs chromium headless with the network-quiet flags and a fresh profile; returns the exit status.
int chromium(const std::string& exe, const fs::path& profile, const std::string& action,
             const fs::path& page, const fs::path& stdout_file) {
  const std::string cmd = "timeout 120 '" + exe +
                          "' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                          "--disable-background-networking --disable-component-update --disable-sync "
                          "--hide-scrollbars --user-data-dir='" + profile.string() + "' " + action +
                          " 'file://" + page.string() + "' > '" + stdout_file.string() + "' 2>/dev/null";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Chromium and a fresh directory for its profile and files; exe is empty, with a warning, when
// Chromium is not installed (the test is then skipped).
struct Browser {
  std::string exe = find_chromium();
  attend::test::TempDir tmp;
  fs::path dir = tmp.path();
  Browser() {
    if (exe.empty()) WARN("chromium is not installed (apt-get install -y chromium): the browser check is skipped");
    fs::create_directories(dir / "profile");
  }
};

// The page's own render check (#render-check, written by its script) after Chromium laid it out
// at 1,400 px.
nlohmann::json render_check(const std::string& exe, const fs::path& dir, const fs::path& page) {
  REQUIRE(chromium(exe, dir / "profile", "--window-size=1400,2000 --dump-dom", page, dir / "dom.html") == 0);
  const std::string dom = attend::test::read_file((dir / "dom.html").string());
  const std::string open = "<pre id=\"render-check\" data-ok=\"1\">";
  const auto a = dom.find(open);
  REQUIRE(a != std::string::npos);  // the script ran
  const auto b = dom.find("</pre>", a);
  REQUIRE(b != std::string::npos);
  return nlohmann::json::parse(dom.substr(a + open.size(), b - a - open.size()));
}

}  // namespace

TEST_CASE("the HTML report draws heatmaps and curves in headless Chromium", "[browser]") {
  const Browser browser;
  if (browser.exe.empty()) return;
  const std::string& exe = browser.exe;
  const fs::path& dir = browser.dir;

  TaskOptions task;
  task.name = "reverse";
  task.train_size = 400;
  task.valid_size = 40;
  task.test_size = 80;
  task.min_len = 3;
  task.max_len = 8;
  CompareOptions o;
  o.cells = {"gru"};
  o.attentions = {"none", "bahdanau", "local-p"};
  o.seeds = 2;
  o.model.emb = 8;
  o.model.hidden = 16;
  o.train.steps = 40;
  o.train.batch = 32;
  o.train.eval_every = 10;
  o.out_dir = (dir / "grid").string();
  o.threads = 1;
  const CompareResult result = run_compare(o, task_source(task));
  const CompareSummary summary = summarize(result);
  write_reports(summary, result, o.out_dir);
  const fs::path page = dir / "grid" / "report.html";
  REQUIRE(fs::exists(page));

  const auto check = render_check(exe, dir, page);
  INFO(check.dump());

  // Heatmaps: every variant with attention has one per sample sentence, every cell laid out.
  for (const char* v : {"gru+bahdanau", "gru+local-p"}) {
    const auto& x = check["variants"][v];
    CHECK(x["maps"].get<int>() == 3);
    CHECK(x["cells"].get<int>() > 3 * 9);  // at least 3×3 cells per map
    CHECK(x["drawn"].get<int>() == x["cells"].get<int>());
  }
  CHECK(check["variants"]["gru+none"]["cells"].get<int>() == 0);  // drawn as "no attention"
  CHECK(check["gold"].get<int>() > 0);

  // Curves: one mean line per variant (plus thin per-seed lines) with a visible length.
  const auto& train = check["charts"]["curve-train"];
  CHECK(train["nonempty"].get<int>() >= 3);
  CHECK(train["visible"].get<int>() >= 3);
  CHECK(train["width"].get<int>() > 300);
  const auto& valid = check["charts"]["curve-valid"];
  CHECK(valid["visible"].get<int>() >= 3);
  const auto& len = check["charts"]["curve-length"];
  CHECK(len["nonempty"].get<int>() == 3);
  CHECK(len["visible"].get<int>() == 3);

  // At 1,400 px the results table fits the page: its last column (a p-value) is in view.
  const auto& table = check["tables"]["results-table"];
  CHECK(table["width"].get<int>() <= table["room"].get<int>());
  CHECK(table["last_right"].get<int>() <= table["room_right"].get<int>());

  // A screenshot: a real PNG with content (a blank page compresses to a few KB).
  const fs::path shot = dir / "report.png";
  CHECK(chromium(exe, dir / "profile", "--screenshot='" + shot.string() + "' --window-size=1400,2000", page,
                 dir / "shot.log") == 0);
  REQUIRE(fs::exists(shot));
  const std::string png = attend::test::read_file(shot.string());
  CHECK(png.substr(1, 3) == "PNG");
  CHECK(png.size() > 40000);
}

TEST_CASE("the HTML report plots a run's training diagnostics in headless Chromium", "[browser]") {
  const Browser browser;
  if (browser.exe.empty()) return;
  const std::string& exe = browser.exe;
  const fs::path& dir = browser.dir;
  // A real two-run grid (the trainer records diagnostics at every validation), then synthetic
  // diagnostics on the attention run (the values are what the page must draw).
  TaskOptions task;
  task.name = "reverse";
  task.train_size = 200;
  task.valid_size = 20;
  task.test_size = 30;
  task.min_len = 3;
  task.max_len = 6;
  CompareOptions o;
  o.attentions = {"none", "bahdanau"};
  o.seeds = 1;
  o.model.emb = 8;
  o.model.hidden = 16;
  o.train.steps = 20;
  o.train.batch = 32;
  o.train.eval_every = 10;
  o.out_dir = (dir / "grid").string();
  o.threads = 1;
  CompareResult result = run_compare(o, task_source(task));
  REQUIRE(result.runs.size() == 2);
  result.runs[1].diagnostics.clear();
  for (std::size_t step : {10, 20, 30}) {
    DiagnosticsPoint p;
    p.step = step;
    p.saturation = {{"h~", step == 20 ? 0.625 : 0.5}, {"decoder gates", 0.0625}};
    p.attention_entropy = 1.25;
    p.uniform_entropy = 1.5;
    p.grad_norm = {{"attention", 0.03125}, {"decoder", 4.0}};
    result.runs[1].diagnostics.push_back(p);
  }
  const fs::path page = dir / "report.html";
  {
    std::ofstream out(page);
    write_html(summarize(result), result, out);
  }
  const auto check = render_check(exe, dir, page);
  INFO(check.dump());
  // One chart per measure: 2 unit groups, the entropy, and the parameter groups of both runs.
  CHECK(check["diagnostics"].get<int>() >= 5);
  CHECK_FALSE(check["no_diagnostics"].get<bool>());
  auto drawn_value = [&](const std::string& chart, const std::string& series, double x) {
    for (const auto& p : check["charts"][chart]["points"])
      if (p["series"] == series && p["x"].get<double>() == x && p["drawn"].get<bool>()) return p["y"].get<double>();
    return -1.0;
  };
  CHECK(drawn_value("diag-sat-h-", "gru+bahdanau", 20) == 0.625);
  CHECK(drawn_value("diag-sat-decoder-gates", "gru+bahdanau", 30) == 0.0625);
  CHECK(drawn_value("diag-ent", "gru+bahdanau", 10) == 1.25);
  CHECK(drawn_value("diag-ent", "uniform (ln S)", 10) == 1.5);
  CHECK(drawn_value("diag-grad-attention", "gru+bahdanau", 30) == 0.03125);
  for (const char* chart : {"diag-sat-h-", "diag-ent", "diag-grad-attention"}) {
    CHECK(check["charts"][chart]["visible"].get<int>() >= 1);
    CHECK(check["charts"][chart]["width"].get<int>() > 300);
  }
  // The run without attention: its recorded saturation and gradient norms are lines of the same
  // charts, and it has no line in the entropy chart.
  CHECK(drawn_value("diag-grad-output", "gru+none", 10) > 0);
  CHECK(drawn_value("diag-sat-decoder-gates", "gru+none", 10) >= 0);
  for (const auto& p : check["charts"]["diag-ent"]["points"]) CHECK(p["series"] != "gru+none");
}

TEST_CASE("at 1,400 px the results table of a grid with long variant names fits the page", "[browser]") {
  const Browser browser;
  if (browser.exe.empty()) return;
  const std::string& exe = browser.exe;
  const fs::path& dir = browser.dir;
  // The recorded toy grid of the golden test: names up to gru+luong-general+linear@transformer,
  // an lr column and the three p columns.
  const fs::path page = fs::path(ATTEND_FIXTURE_DIR) / "compare_golden/toy/reports/report.html";
  const auto check = render_check(exe, dir, page);
  const auto& table = check["tables"]["results-table"];
  INFO(table.dump());
  CHECK(table["width"].get<int>() <= table["room"].get<int>());
  CHECK(table["last_right"].get<int>() <= table["room_right"].get<int>());
}

TEST_CASE("the scaling chart of a grid over heads draws one visible line per series", "[browser]") {
  const Browser browser;
  if (browser.exe.empty()) return;
  const std::string& exe = browser.exe;
  const fs::path& dir = browser.dir;
  TaskOptions task;
  task.name = "copy";
  task.train_size = 100;
  task.valid_size = 10;
  task.test_size = 20;
  task.min_len = 3;
  task.max_len = 5;
  CompareOptions o;
  o.cells = {"gru"};
  o.attentions = {"scaled-dot", "luong-dot", "bahdanau"};
  o.decoders = {"transformer"};
  o.encoders = {"transformer"};
  o.more_axes["heads"] = {"1", "4"};
  o.seeds = 2;
  o.model.emb = 16;
  o.model.hidden = 16;
  o.model.self_heads = 1;
  o.model.ffn = 16;
  o.train.steps = 10;
  o.train.batch = 16;
  o.out_dir = (dir / "grid").string();
  o.threads = 1;
  o.heatmap_sentences = 1;
  const CompareResult result = run_compare(o, task_source(task));
  const CompareSummary summary = summarize(result);
  REQUIRE(summary.width_series.size() == 1);
  CHECK(summary.width_series[0].xs == std::vector<double>{4, 16});
  write_reports(summary, result, o.out_dir);
  const auto check = render_check(exe, dir, dir / "grid" / "report.html");
  const auto& chart = check["charts"]["chart-scaling-heads"];
  INFO(check.dump());
  CHECK(chart["paths"].get<int>() == 3);
  CHECK(chart["visible"].get<int>() == 3);
  CHECK(chart["width"].get<int>() > 300);
  const auto& table = check["tables"]["scaling-heads-table"];
  CHECK(table["width"].get<int>() <= table["room"].get<int>());
}
