// End-to-end tests of the `attend` command-line tool: the built binary runs in a temporary
// directory; exit statuses, stdout and stderr are checked.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace fs = std::filesystem;
using namespace attend::test;

namespace {

const char* kTiny = "train --task reverse --steps 30 --train-size 200 --hidden 16 --emb 8";

// One tiny reverse model shared by the tests that only use a trained model.
struct TrainedModel {
  TempDir dir;
  std::string model, metrics;
  CliRun run;
  TrainedModel() {
    model = dir.file("tiny.h5");
    metrics = dir.file("tiny.json");
    run = run_cli(dir, std::string(kTiny) + " --model " + quote(model) + " --metrics-json " +
                          quote(metrics));
  }
};

const TrainedModel& trained() {
  static const TrainedModel m;
  REQUIRE(m.run.status == 0);
  return m;
}

}  // namespace

TEST_CASE("tasks lists all five built-in tasks", "[cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, "tasks");
  REQUIRE(r.status == 0);
  const auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 5);
  const char* names[] = {"copy", "reverse", "sort", "add", "dates"};
  for (std::size_t i = 0; i < 5; ++i) CHECK(lines[i].rfind(std::string(names[i]) + " ", 0) == 0);
}

TEST_CASE("a tiny train run exits 0 and writes the model and a metrics JSON with a loss curve",
          "[cli]") {
  const TrainedModel& m = trained();
  CHECK(fs::file_size(m.model) > 0);
  CHECK(contains(m.run.out, "model saved to"));
  const auto j = nlohmann::json::parse(read_file(m.metrics));
  CHECK(j.at("config").at("hidden") == 16);
  CHECK(j.at("steps") == 30);
  CHECK(!j.at("loss_curve").empty());
  CHECK(j.at("test").at("examples") == 1000);
  CHECK(j.at("diverged") == false);
  CHECK(!fs::exists(m.metrics + ".tmp"));
}

TEST_CASE("translate writes one line per input line, an empty line included", "[cli]") {
  const TrainedModel& m = trained();
  const CliRun r = run_cli(m.dir, "translate --model " + quote(m.model), "abcde\n\nfghij\nklm\n");
  REQUIRE(r.status == 0);
  const auto out = lines_of(r.out);
  REQUIRE(out.size() == 4);
  CHECK(out[1].empty());
}

TEST_CASE("translate with --nbest writes N score<TAB>translation lines per input", "[cli]") {
  const TrainedModel& m = trained();
  const CliRun r = run_cli(m.dir, "translate --beam 3 --nbest 2 --model " + quote(m.model), "abc\nde\n");
  REQUIRE(r.status == 0);
  const auto out = lines_of(r.out);
  REQUIRE(out.size() == 4);
  for (const auto& line : out) CHECK(contains(line, "\t"));
}

TEST_CASE("score prints one finite negative log-probability per line pair", "[cli]") {
  const TrainedModel& m = trained();
  write_file(m.dir.file("s.txt"), "abcde\nfgh\nij\n");
  write_file(m.dir.file("t.txt"), "edcba\nhgf\nji\n");
  const CliRun r = run_cli(m.dir, "score --model " + quote(m.model) + " --src s.txt --tgt t.txt");
  REQUIRE(r.status == 0);
  const auto out = lines_of(r.out);
  REQUIRE(out.size() == 3);
  for (const auto& line : out) {
    const double lp = std::stod(line);
    CHECK(std::isfinite(lp));
    CHECK(lp < 0);
  }
}

TEST_CASE("score agrees with the perplexity eval reports for the same pair", "[cli]") {
  const TrainedModel& m = trained();
  write_file(m.dir.file("s1.txt"), "abcdef\n");
  write_file(m.dir.file("t1.txt"), "fedcba\n");
  const CliRun s = run_cli(m.dir, "score --model " + quote(m.model) + " --src s1.txt --tgt t1.txt");
  const CliRun e = run_cli(m.dir, "eval --model " + quote(m.model) + " --src s1.txt --ref t1.txt");
  REQUIRE(s.status == 0);
  REQUIRE(e.status == 0);
  const double log_prob = std::stod(s.out);
  const auto pos = e.out.find("perplexity");
  REQUIRE(pos != std::string::npos);
  const double ppl = std::stod(e.out.substr(pos + 10));
  // 6 target tokens plus </s>
  CHECK(ppl == Approx(std::exp(-log_prob / 7)).epsilon(1e-3));
}

TEST_CASE("eval on the model's recorded task reports all four figures", "[cli]") {
  const TrainedModel& m = trained();
  const CliRun r = run_cli(m.dir, "eval --test-size 50 --model " + quote(m.model));
  REQUIRE(r.status == 0);
  for (const char* key : {"exact match", "token accuracy", "perplexity", "examples        50"})
    CHECK(contains(r.out, key));
}

TEST_CASE("eval with source and reference files of different lengths names both files", "[cli]") {
  const TrainedModel& m = trained();
  write_file(m.dir.file("two.txt"), "abc\nde\n");
  write_file(m.dir.file("one.txt"), "cba\n");
  const CliRun r = run_cli(m.dir, "eval --model " + quote(m.model) + " --src two.txt --ref one.txt");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "two.txt"));
  CHECK(contains(r.err, "one.txt"));
}

namespace {

// Ten reverse pairs of varied lengths, the tiny model's kind of input.
void write_reverse_pairs(const TempDir& dir) {
  write_file(dir.file("lp.src"), "abcde\nfghij\nklm\nnopqrst\nab\ncdefghijk\nlmnop\nqrs\ntabcdefg\nhij\n");
  write_file(dir.file("lp.ref"), "edcba\njihgf\nmlk\ntsrqpon\nba\nkjihgfedc\nponml\nsrq\ngfedcbat\njih\n");
}

double figure_after(const std::string& text, const std::string& key) {
  const auto pos = text.find(key);
  REQUIRE(pos != std::string::npos);
  return std::stod(text.substr(pos + key.size()));
}

}  // namespace

TEST_CASE("eval --length-penalty-grid reports the alpha of the best BLEU and writes its translations", "[cli]") {
  const TrainedModel& m = trained();
  write_reverse_pairs(m.dir);
  const std::string base = "eval --beam 4 --model " + quote(m.model) + " --src lp.src --ref lp.ref";
  const CliRun grid = run_cli(m.dir, base + " --length-penalty-grid 0,0.6,1.5 --out grid.hyp --metrics-json grid.json");
  REQUIRE(grid.status == 0);
  const auto j = nlohmann::json::parse(read_file(m.dir.file("grid.json")));
  REQUIRE(j.at("length_penalty_grid").size() == 3);
  double best_bleu = -1, best_alpha = -1;
  for (const auto& t : j.at("length_penalty_grid"))
    if (t.at("bleu").get<double>() > best_bleu) best_bleu = t.at("bleu"), best_alpha = t.at("length_penalty");
  CHECK(j.at("length_penalty").get<double>() == best_alpha);
  CHECK(j.at("bleu").get<double>() == best_bleu);
  // The same alpha given alone decodes the same translations and the same BLEU.
  std::ostringstream alpha;
  alpha << best_alpha;
  const CliRun one = run_cli(m.dir, base + " --length-penalty " + alpha.str() + " --out one.hyp");
  REQUIRE(one.status == 0);
  CHECK(read_file(m.dir.file("one.hyp")) == read_file(m.dir.file("grid.hyp")));
  CHECK(figure_after(one.out, "BLEU = ") == Approx(figure_after(grid.out, "BLEU = ")));
}

TEST_CASE("eval --length-penalty-grid with one alpha equals eval --length-penalty with it", "[cli]") {
  const TrainedModel& m = trained();
  write_reverse_pairs(m.dir);
  const std::string base = "eval --beam 3 --model " + quote(m.model) + " --src lp.src --ref lp.ref";
  const CliRun grid = run_cli(m.dir, base + " --length-penalty-grid 0.8");
  const CliRun one = run_cli(m.dir, base + " --length-penalty 0.8");
  REQUIRE(grid.status == 0);
  REQUIRE(one.status == 0);
  CHECK(contains(grid.out, "length penalty  0.8 (best BLEU of 1)"));
  const auto bleu_line = [](const std::string& out) { return out.substr(0, out.find('\n')); };
  CHECK(contains(grid.out, bleu_line(one.out)));
}

TEST_CASE("eval --length-penalty-grid notes a best alpha at an end of the grid", "[cli]") {
  const TrainedModel& m = trained();
  write_reverse_pairs(m.dir);
  const std::string base = "eval --beam 4 --model " + quote(m.model) + " --src lp.src --ref lp.ref --metrics-json g.json";
  // Ties go to the first alpha given: where the penalty changes nothing, the two orders pick opposite
  // ends; a grid above 0 always has its best at an end.
  for (const char* grid : {"0,0.6,1.5", "1.5,0.6,0", "0.3,0.6"}) {
    const CliRun r = run_cli(m.dir, base + " --length-penalty-grid " + grid);
    REQUIRE(r.status == 0);
    const auto j = nlohmann::json::parse(read_file(m.dir.file("g.json")));
    double lowest = 1e9, highest = -1;
    for (const auto& t : j.at("length_penalty_grid")) {
      lowest = std::min(lowest, t.at("length_penalty").get<double>());
      highest = std::max(highest, t.at("length_penalty").get<double>());
    }
    const double best = j.at("length_penalty").get<double>();
    const bool edge = best == highest || (best == lowest && lowest > 0);
    INFO("grid " << grid << ", best alpha " << best);
    CHECK(j.at("length_penalty_at_grid_edge").get<bool>() == edge);
    CHECK(contains(r.err, "of --length-penalty-grid; BLEU may be higher beyond it") == edge);
  }
}

TEST_CASE("eval --length-penalty-grid refuses a negative, repeated or non-numeric alpha", "[cli]") {
  const TrainedModel& m = trained();
  write_reverse_pairs(m.dir);
  for (const char* grid : {"0,-0.5", "0.2,0.2", "0,x", "0,"}) {
    const CliRun r = run_cli(m.dir, "eval --model " + quote(m.model) + " --src lp.src --ref lp.ref --length-penalty-grid " + grid);
    CHECK(r.status == 2);
    CHECK(contains(r.err, "--length-penalty-grid"));
  }
}

TEST_CASE("an unknown cell exits 2 and lists the valid cells", "[cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, std::string(kTiny) + " --cell foo");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "attend: error:"));
  for (const char* cell : {"rnn", "lstm", "gru"}) CHECK(contains(r.err, cell));
}

TEST_CASE("an unknown attention exits 2 and lists the valid strategies", "[cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, std::string(kTiny) + " --attention foo");
  CHECK(r.status == 2);
  for (const char* name : {"bahdanau", "luong-general", "location", "multihead"})
    CHECK(contains(r.err, name));
}

TEST_CASE("a bidirectional encoder with an odd --hidden exits 2 saying it must be even", "[cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, "train --task reverse --steps 1 --bidirectional --hidden 15");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "even"));
}

TEST_CASE("multihead attention with heads not dividing --hidden exits 2 mentioning heads", "[cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, "train --task reverse --steps 1 --attention multihead --heads 3 --hidden 16");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "heads"));
}

TEST_CASE("location attention with --max-src-len below the longest source exits 2", "[cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, "train --task reverse --attention location --max-src-len 5 --min-len 5 "
                            "--max-len 15 --train-size 200 --steps 1 --hidden 16 --emb 8");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--max-src-len"));
}

TEST_CASE("a negative count option exits 2 instead of wrapping around", "[cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, "train --task reverse --steps 1 --hidden -3");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--hidden"));
}

TEST_CASE("translate with a missing model file exits 2 naming the file", "[cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, "translate --model nowhere.h5", "abc\n");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "nowhere.h5"));
}

TEST_CASE("translate with an empty model file exits 2 naming the file", "[cli]") {
  TempDir dir;
  write_file(dir.file("empty.h5"), "");
  const CliRun r = run_cli(dir, "translate --model empty.h5", "abc\n");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "empty.h5"));
}

TEST_CASE("translate with a text file as model exits 2 naming the file", "[cli]") {
  TempDir dir;
  write_file(dir.file("text.h5"), "this is not a model\n");
  const CliRun r = run_cli(dir, "translate --model text.h5", "abc\n");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "text.h5"));
}

TEST_CASE("translate with a truncated model file exits 2 naming the file", "[cli]") {
  const TrainedModel& m = trained();
  const std::string whole = read_file(m.model);
  write_file(m.dir.file("half.h5"), whole.substr(0, whole.size() / 2));
  const CliRun r = run_cli(m.dir, "translate --model half.h5", "abc\n");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "half.h5"));
}

TEST_CASE("translate without --model exits 2 saying it is required", "[cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, "translate", "abc\n");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--model"));
  CHECK(contains(r.err, "required"));
}

TEST_CASE("a config file with an unknown key exits 2 naming the file", "[cli]") {
  TempDir dir;
  write_file(dir.file("bad.cfg"), "hidden = 16\nno-such-key = 1\n");
  const CliRun r = run_cli(dir, std::string(kTiny) + " --config bad.cfg");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "bad.cfg"));
  CHECK(contains(r.err, "no-such-key"));
}

TEST_CASE("a config file with a bad value exits 2 naming the file and the key", "[cli]") {
  TempDir dir;
  write_file(dir.file("value.cfg"), "layers = many\n");
  const CliRun r = run_cli(dir, std::string(kTiny) + " --config value.cfg");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "value.cfg"));
  CHECK(contains(r.err, "layers"));
}

TEST_CASE("the command line overrides the config file", "[cli]") {
  TempDir dir;
  write_file(dir.file("run.cfg"), "hidden = 8\nemb = 6\nbidirectional = true\n");
  const CliRun r = run_cli(dir, "train --task reverse --steps 10 --train-size 200 --test-size 50 "
                            "--quiet --config run.cfg --hidden 16 --model m.h5 --metrics-json m.json");
  REQUIRE(r.status == 0);
  const auto config = nlohmann::json::parse(read_file(dir.file("m.json"))).at("config");
  CHECK(config.at("hidden") == 16);   // command line
  CHECK(config.at("emb") == 6);       // config file
  CHECK(config.at("bidirectional") == 1);  // ModelConfig::to_map writes flags as 0/1
}

TEST_CASE("an unknown command exits 2 and lists the commands", "[cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, "frobnicate");
  CHECK(r.status == 2);
  for (const char* cmd : {"train", "translate", "eval", "score", "tasks"}) CHECK(contains(r.err, cmd));
}

TEST_CASE("train --flush-denormals=0 trains and a value that is not a boolean exits 2 naming the option", "[cli]") {
  TempDir dir;
  const CliRun kept = run_cli(dir, std::string(kTiny) + " --flush-denormals=0 --model kept.safetensors");
  CHECK(kept.status == 0);
  CHECK(fs::exists(dir.file("kept.safetensors")));
  const CliRun bad = run_cli(dir, std::string(kTiny) + " --flush-denormals=maybe --model bad.safetensors");
  CHECK(bad.status == 2);
  CHECK(contains(bad.err, "flush-denormals"));
}

TEST_CASE("an unknown option exits 2 with the option named", "[cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, "tasks --bogus");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--bogus"));
}

TEST_CASE("every command's --help exits 0 and shows the options", "[cli]") {
  TempDir dir;
  for (const char* cmd : {"train", "translate", "eval", "score", "tasks"}) {
    const CliRun r = run_cli(dir, std::string(cmd) + " --help");
    CHECK(r.status == 0);
    CHECK(contains(r.out, "--help"));
  }
  CHECK(contains(run_cli(dir, "train --help").out, "(=attend-model.safetensors)"));
}

TEST_CASE("translate --show-attention prints a map headed by the source after each line", "[cli]") {
  const TrainedModel& m = trained();
  const CliRun r = run_cli(m.dir, "translate --show-attention --model " + quote(m.model), "abc\n");
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "|abc|"));
}

TEST_CASE("translate of a line longer than location's --max-src-len exits 2 naming the line",
          "[cli]") {
  TempDir dir;
  REQUIRE(run_cli(dir, "train --task reverse --attention location --train-size 200 --test-size 50 "
                      "--steps 2 --hidden 16 --emb 8 --quiet --model loc.h5")
              .status == 0);
  const CliRun r = run_cli(dir, "translate --model loc.h5", "abc\nabcdefghijklmnopqrst\n");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "line 2"));
  CHECK(contains(r.err, "--max-src-len"));
}

TEST_CASE("translate exports each hypothesis's attention as JSON with one row per output token",
          "[cli]") {
  const TrainedModel& m = trained();
  const CliRun r = run_cli(m.dir, "translate --beam 2 --nbest 2 --show-attention --attention-format json --model " +
                                  quote(m.model), "abcd\n");
  REQUIRE(r.status == 0);
  std::vector<nlohmann::json> objects;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') objects.push_back(nlohmann::json::parse(line));
  REQUIRE(objects.size() == 2);
  for (const auto& j : objects) {
    CHECK(j["source"].size() == 4);
    CHECK(j["weights"].size() == j["output"].size());
    for (const auto& row : j["weights"]) {
      REQUIRE(row.size() == 4);
      double sum = 0;
      for (const auto& w : row) sum += w.get<double>();
      CHECK(sum == Approx(1.0).epsilon(1e-4));
    }
  }
}

TEST_CASE("translate exports attention as CSV and SVG, and rejects an unknown format", "[cli]") {
  const TrainedModel& m = trained();
  const CliRun csv = run_cli(m.dir, "translate --show-attention --attention-format csv --model " + quote(m.model), "abc\n");
  REQUIRE(csv.status == 0);
  CHECK(contains(csv.out, "output\\source,a,b,c"));
  const CliRun svg = run_cli(m.dir, "translate --show-attention --attention-format svg --model " + quote(m.model), "abc\n");
  REQUIRE(svg.status == 0);
  CHECK(contains(svg.out, "<svg"));
  CHECK(contains(svg.out, "<rect"));
  const CliRun bad = run_cli(m.dir, "translate --show-attention --attention-format png --model " + quote(m.model), "abc\n");
  CHECK(bad.status == 2);
  CHECK(contains(bad.err, "svg, json, csv"));
}

TEST_CASE("score accepts an empty target line and scores it as </s> alone", "[cli]") {
  const TrainedModel& m = trained();
  write_file(m.dir.file("s_empty.txt"), "abc\nabc\n");
  write_file(m.dir.file("t_empty.txt"), "\ncba\n");
  const CliRun r = run_cli(m.dir, "score --model " + quote(m.model) + " --src s_empty.txt --tgt t_empty.txt");
  REQUIRE(r.status == 0);
  const auto out = lines_of(r.out);
  REQUIRE(out.size() == 2);
  const double empty = std::stod(out[0]), whole = std::stod(out[1]);
  CHECK(std::isfinite(empty));
  CHECK(empty < 0);
  CHECK(empty != whole);
}

TEST_CASE("score's error for a bad line names it without suggesting --skip-bad-lines", "[cli]") {
  const TrainedModel& m = trained();
  write_file(m.dir.file("s_bad.txt"), "abc\n\n");
  write_file(m.dir.file("t_bad.txt"), "cba\nx\n");
  const CliRun r = run_cli(m.dir, "score --model " + quote(m.model) + " --src s_bad.txt --tgt t_bad.txt");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "s_bad.txt:2"));
  CHECK_FALSE(contains(r.err, "--skip-bad-lines"));
}

TEST_CASE("a config value holding a %placeholder% is refused by line instead of hanging", "[cli]") {
  const TempDir dir;
  write_file(dir.file("p.cfg"), "hidden = 16\ncell = %value%x\n");
  const CliRun r = run_cli(dir, "train --config p.cfg --steps 1");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "p.cfg', line 2"));
  const CliRun c = run_cli(dir, "train --cell %canonical_option% --steps 1");
  CHECK(c.status == 2);
  CHECK(contains(c.err, "command line"));
}

TEST_CASE("a directory or a FIFO given as --config is refused without reading it", "[cli]") {
  const TempDir dir;
  std::filesystem::create_directories(dir.file("cfgdir"));
  CHECK(run_cli(dir, "train --config cfgdir --steps 1").status == 2);
  REQUIRE(::mkfifo(dir.file("cfg.fifo").c_str(), 0600) == 0);
  const CliRun r = run_cli(dir, "train --config cfg.fifo --steps 1");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "not a regular file"));
}
