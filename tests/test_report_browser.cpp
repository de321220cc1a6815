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

}  // namespace

TEST_CASE("the HTML report draws heatmaps and curves in headless Chromium", "[browser]") {
  const std::string exe = find_chromium();
  if (exe.empty()) {
    WARN("chromium is not installed (apt-get install -y chromium): the browser check is skipped");
    return;
  }
  const attend::test::TempDir tmp;
  const fs::path dir = tmp.path();
  fs::create_directories(dir / "profile");

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

  REQUIRE(chromium(exe, dir / "profile", "--dump-dom", page, dir / "dom.html") == 0);
  const std::string dom = attend::test::read_file((dir / "dom.html").string());
  const std::string open = "<pre id=\"render-check\" data-ok=\"1\">";
  const auto a = dom.find(open);
  REQUIRE(a != std::string::npos);  // the script ran
  const auto b = dom.find("</pre>", a);
  REQUIRE(b != std::string::npos);
  const auto check = nlohmann::json::parse(dom.substr(a + open.size(), b - a - open.size()));
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
  const std::string exe = find_chromium();
  if (exe.empty()) {
    WARN("chromium is not installed (apt-get install -y chromium): the browser check is skipped");
    return;
  }
  const attend::test::TempDir tmp;
  const fs::path dir = tmp.path();
  fs::create_directories(dir / "profile");
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
  REQUIRE(chromium(exe, dir / "profile", "--dump-dom", page, dir / "dom.html") == 0);
  const std::string dom = attend::test::read_file((dir / "dom.html").string());
  const std::string open = "<pre id=\"render-check\" data-ok=\"1\">";
  const auto a = dom.find(open);
  REQUIRE(a != std::string::npos);
  const auto b = dom.find("</pre>", a);
  const auto check = nlohmann::json::parse(dom.substr(a + open.size(), b - a - open.size()));
  INFO(check.dump());
  CHECK(check["diagnostics"].get<int>() == 2);
  CHECK_FALSE(check["no_diagnostics"].get<bool>());
  auto drawn_value = [&](const std::string& chart, const std::string& series, double x) {
    for (const auto& p : check["charts"][chart]["points"])
      if (p["series"] == series && p["x"].get<double>() == x && p["drawn"].get<bool>()) return p["y"].get<double>();
    return -1.0;
  };
  CHECK(drawn_value("diag-sat-gru+bahdanau-s1", "h~", 20) == 0.625);
  CHECK(drawn_value("diag-sat-gru+bahdanau-s1", "decoder gates", 30) == 0.0625);
  CHECK(drawn_value("diag-ent-gru+bahdanau-s1", "attention entropy", 10) == 1.25);
  CHECK(drawn_value("diag-ent-gru+bahdanau-s1", "uniform (ln S)", 10) == 1.5);
  CHECK(drawn_value("diag-grad-gru+bahdanau-s1", "attention", 30) == 0.03125);
  for (const char* chart : {"diag-sat-gru+bahdanau-s1", "diag-ent-gru+bahdanau-s1", "diag-grad-gru+bahdanau-s1"}) {
    CHECK(check["charts"][chart]["visible"].get<int>() >= 1);
    CHECK(check["charts"][chart]["width"].get<int>() > 300);
  }
  // The run without attention: its recorded saturation and gradient norms are drawn, and it has
  // no attention entropy to draw.
  CHECK(check["charts"]["diag-sat-gru+none-s1"]["visible"].get<int>() >= 1);
  CHECK(check["charts"]["diag-grad-gru+none-s1"]["visible"].get<int>() >= 1);
  CHECK(drawn_value("diag-grad-gru+none-s1", "output", 10) > 0);
  CHECK_FALSE(check["charts"].contains("diag-ent-gru+none-s1"));
}
