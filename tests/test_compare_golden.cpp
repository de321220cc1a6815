// The files `attend compare` writes for two fixed grids, byte for byte: the recorded runs
// (tests/fixtures/compare_golden/<grid>/runs/: grid.json and each run's metrics.json) are read
// back by run_compare (nothing trains), summarised and written by the report writers, and every
// output must equal the recorded one. A restructuring of experiment/ that changes no behaviour
// leaves these files as they are; a deliberate change of a report regenerates them with
//   ATTEND_WRITE_GOLDEN=1 build/attend_tests "[golden]"
// (which trains both grids afresh and rewrites the fixtures), or with ATTEND_WRITE_GOLDEN=reports
// (which rewrites only the reports from the recorded runs), and shows the change in the diff.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "attend/experiment/compare.hpp"
#include "attend/experiment/report.hpp"
#include "support.hpp"

using namespace attend;
using namespace attend::test;
namespace fs = std::filesystem;

namespace {

const fs::path kGolden = fs::path(ATTEND_FIXTURE_DIR) / "compare_golden";
const char* const kReports[] = {"REPORT.md", "results.csv", "results.json", "report.html"};

// Every axis with more than one value, a two-stage rate search and a converge budget, so every
// section of the reports has content.
CompareOptions toy_grid(const std::string& out) {
  CompareOptions o;
  o.cells = {"gru"};
  o.attentions = {"none", "bahdanau", "luong-general"};
  o.luong_outputs = {"tanh", "linear"};
  o.encoders = {"rnn", "transformer"};
  o.seeds = 3;
  o.model.emb = 8;
  o.model.hidden = 16;
  o.model.ffn = 32;
  o.train.batch = 32;
  o.train.steps = 160;
  o.train.eval_every = 20;
  o.train.patience = 3;
  o.budget = Budget::Converge;
  o.lr_grid = {0.01, 0.03};
  o.out_dir = out;
  o.threads = 1;
  o.heatmap_sentences = 2;
  return o;
}

DataSource toy_source() {
  TaskOptions t;
  t.name = "reverse";
  t.train_size = 300;
  t.valid_size = 40;
  t.test_size = 60;
  t.min_len = 3;
  t.max_len = 7;
  return task_source(t);
}

CompareOptions corpus_grid(const std::string& out) {
  CompareOptions o;
  o.cells = {"gru", "lstm"};
  o.attentions = {"none", "bahdanau"};
  o.seeds = 2;
  o.model.emb = 8;
  o.model.hidden = 16;
  o.train.batch = 16;
  o.train.steps = 24;
  o.train.eval_every = 8;
  o.train.optimizer.lr = 0.01;
  o.out_dir = out;
  o.threads = 1;
  o.heatmap_sentences = 2;
  return o;
}

// A report with the run directories' common prefix (a temporary directory) written as "OUT".
std::string report_text(const std::string& file, const std::string& out_dir) {
  std::string text = read_file(file);
  for (std::size_t at = text.find(out_dir); at != std::string::npos; at = text.find(out_dir, at))
    text.replace(at, out_dir.size(), "OUT");
  return text;
}

// grid.json and every run's metrics.json from `from` into `to` (nothing else: no checkpoints).
void copy_runs(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  fs::copy_file(from / "grid.json", to / "grid.json", fs::copy_options::overwrite_existing);
  for (const auto& entry : fs::directory_iterator(from)) {
    const fs::path metrics = entry.path() / "metrics.json";
    if (!entry.is_directory() || !fs::exists(metrics)) continue;
    fs::create_directories(to / entry.path().filename());
    fs::copy_file(metrics, to / entry.path().filename() / "metrics.json", fs::copy_options::overwrite_existing);
  }
}

// Reads the recorded runs of grid `name` back under dir/grid (every one resumed: nothing trains)
// and writes the reports there; returns the output directory. The corpus grid's signature holds
// the absolute paths of its files, which differ between checkouts, so with `same_signature`
// false its grid.json is written anew from this grid's signature (the toy grid's grid.json,
// compared byte for byte, covers grid_signature).
std::string read_back(const std::string& name, const CompareOptions& options, const DataSource& source,
                      bool same_signature, const TempDir& dir) {
  CompareOptions o = options;
  o.out_dir = dir.file("grid");
  copy_runs(kGolden / name / "runs", o.out_dir);
  if (!same_signature)
    write_file(dir.file("grid/grid.json"),
               nlohmann::json{{"signature", grid_signature(o, source)}}.dump(2) + "\n");
  const CompareResult result = run_compare(o, source);
  REQUIRE(result.runs.size() == planned_runs(o));
  for (const auto& run : result.runs) {
    INFO(run.spec.name());
    REQUIRE(run.resumed);
  }
  write_reports(summarize(result), result, o.out_dir);
  return o.out_dir;
}

// Rewrites the recorded reports from the recorded runs (a deliberate change of a report writer).
void record_reports(const std::string& name, const CompareOptions& options, const DataSource& source,
                    bool same_signature) {
  TempDir back;
  const std::string out = read_back(name, options, source, same_signature, back);
  for (const char* file : kReports)
    write_file((kGolden / name / "reports" / file).string(), report_text(out + "/" + file, out));
}

// Trains the grid and records its runs, then the reports of reading them back.
void record(const std::string& name, const CompareOptions& options, const DataSource& source,
            bool same_signature) {
  TempDir train;
  CompareOptions o = options;
  o.out_dir = train.file("grid");
  const CompareResult result = run_compare(o, source);
  for (const auto& run : result.runs) REQUIRE(run.status == "ok");
  fs::remove_all(kGolden / name);
  copy_runs(o.out_dir, kGolden / name / "runs");
  fs::create_directories(kGolden / name / "reports");
  record_reports(name, options, source, same_signature);
}

// Equal JSON values, numbers to 12 significant digits: a compiler that fuses a·b + c into one
// FMA (g++ -march=native, the plain tree) and one that does not (the sanitizer tree) differ in
// the last bit of a mean or a p-value, which results.json prints in full.
bool same_json(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    return x == y || std::abs(x - y) <= 1e-12 * std::max(std::abs(x), std::abs(y));
  }
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key()) || !same_json(it.value(), b.at(it.key()))) return false;
    return true;
  }
  if (a.is_array()) {
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same_json(a[i], b[i])) return false;
    return true;
  }
  return a == b;
}

void check(const std::string& name, const CompareOptions& options, const DataSource& source,
           bool same_signature) {
  TempDir dir;
  const std::string out = read_back(name, options, source, same_signature, dir);
  if (same_signature)
    CHECK(read_file(out + "/grid.json") == read_file((kGolden / name / "runs/grid.json").string()));
  for (const char* file : kReports) {
    INFO(name << "/" << file);
    const std::string expected = read_file((kGolden / name / "reports" / file).string());
    REQUIRE_FALSE(expected.empty());
    const std::string got = report_text(out + "/" + file, out);
    if (const char* dump = std::getenv("ATTEND_GOLDEN_DUMP")) write_file(std::string(dump) + "/" + name + "-" + file, got);
    if (std::string(file) == "results.json" && got != expected)
      CHECK(same_json(nlohmann::json::parse(got), nlohmann::json::parse(expected)));
    else
      CHECK(got == expected);
  }
}

}  // namespace

TEST_CASE("a toy grid's reports and grid.json are byte-identical to the recorded ones", "[compare][golden]") {
  if (const char* write = std::getenv("ATTEND_WRITE_GOLDEN"))
    (std::string(write) == "reports" ? record_reports : record)("toy", toy_grid(""), toy_source(), true);
  check("toy", toy_grid(""), toy_source(), true);
}

TEST_CASE("a corpus grid's reports are byte-identical to the recorded ones", "[compare][golden]") {
  TempDir data;
  const DataSource source = corpus_source(synthetic_corpus(data));
  if (const char* write = std::getenv("ATTEND_WRITE_GOLDEN"))
    (std::string(write) == "reports" ? record_reports : record)("corpus", corpus_grid(""), source, false);
  check("corpus", corpus_grid(""), source, false);
}
