// `attend train` and `attend compare` under mpirun (distributed.hpp): the same parameters as one
// process with as many shards, a grid spread over ranks with a local grid's results, resuming,
// a dying rank, and a build without MPI that refuses to run as N copies.
#include <attend/experiment/run.hpp>
#include <attend/io/checkpoint.hpp>
#include <attend/train/distributed.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <utility>
#include <vector>
#include <string>

#include "support.hpp"

namespace {

using attend::test::contains;
using attend::test::quote;
using attend::test::TempDir;

const std::string kMpirun = ATTEND_MPIRUN;

// Without MPI in the build or without mpirun these cases have nothing to run; they say so.
bool mpirun_usable() {
  if (kMpirun.empty()) {
    WARN("skipped: this build has no MPI (ATTEND_MPI=OFF or MPI not found)");
    return false;
  }
  if (std::system((quote(kMpirun) + " --version >/dev/null 2>&1").c_str()) != 0) {
    WARN("skipped: " + kMpirun + " does not run");
    return false;
  }
  return true;
}

std::string mpirun(std::size_t ranks) {
  // As root (CI containers) Open MPI wants --allow-run-as-root; --oversubscribe allows more ranks
  // than cores. A bound on the whole job keeps a hang from stalling the suite.
  return "timeout -s KILL 300 " + quote(kMpirun) + " --allow-run-as-root --oversubscribe -np " + std::to_string(ranks) +
         " " + quote(ATTEND_CLI_PATH);
}

attend::test::CliRun run_shell(const TempDir& dir, const std::string& command) {
  const std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  const std::string cmd = "cd " + quote(dir.file()) + " && " + command + " </dev/null >" + quote(out) + " 2>" + quote(err);
  const int raw = std::system(cmd.c_str());
  attend::test::CliRun r;
  if (raw != -1 && WIFEXITED(raw)) r.status = WEXITSTATUS(raw);
  r.out = attend::test::read_file(out);
  r.err = attend::test::read_file(err);
  return r;
}

// `attend ARGS` as 2 MPI ranks, one of which is killed with SIGKILL after 4 s. mpirun starts the
// ranks as its children (found in /proc: no procps needed); a watchdog ends mpirun after 60 s if
// it hangs instead, and leaves watchdog.txt behind.
struct KilledRankJob {
  attend::test::CliRun run;
  double seconds = 0;
  bool watchdog_fired = false;
};

KilledRankJob kill_one_rank(const TempDir& dir, const std::string& args) {
  const std::string script =
      quote(kMpirun) + " --allow-run-as-root --oversubscribe -np 2 " + quote(ATTEND_CLI_PATH) + " " + args +
      " & m=$!; "
      "(sleep 60; kill -9 $m 2>/dev/null; echo watchdog > watchdog.txt) & w=$!; sleep 4; "
      "for f in /proc/[0-9]*/stat; do read -r pid name state parent rest < $f 2>/dev/null; "
      "[ \"$parent\" = \"$m\" ] && { kill -9 $pid; break; }; done; "
      "wait $m; s=$?; kill $w 2>/dev/null; exit $s";
  KilledRankJob job;
  const auto start = std::chrono::steady_clock::now();
  job.run = run_shell(dir, "bash -c " + quote(script));
  job.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  job.watchdog_fired = !attend::test::read_file(dir.file("watchdog.txt")).empty();
  return job;
}

arma::Col<float> parameters(const std::string& path) { return attend::load_model(path).model->params().values(); }

// Dropout and an odd batch size: the shards' streams and an uneven split both matter.
const std::string kTask = "train --task reverse --train-size 300 --valid-size 30 --test-size 10 --emb 8 --hidden 12 "
                          "--dropout 0.2 --batch 15 --steps 24 --eval-every 8 --seed 5 --quiet";

// Sentences of letters a-h and their reversals, as parallel text files (train, valid, test).
void write_corpus(const TempDir& dir) {
  std::mt19937 rng(11);
  for (const auto& [name, lines] : {std::pair<std::string, int>{"train", 200}, {"valid", 20}, {"test", 12}}) {
    std::string src, tgt;
    for (int i = 0; i < lines; ++i) {
      std::vector<std::string> words(3 + rng() % 4);
      for (auto& w : words) w = std::string(1, char('a' + rng() % 8));
      for (std::size_t k = 0; k < words.size(); ++k) src += (k ? " " : "") + words[k];
      for (std::size_t k = words.size(); k-- > 0;) tgt += words[k] + (k ? " " : "");
      src += "\n";
      tgt += "\n";
    }
    attend::test::write_file(dir.file(name + ".src"), src);
    attend::test::write_file(dir.file(name + ".tgt"), tgt);
  }
}

const std::string kFiles = "train --train-src train.src --train-tgt train.tgt --valid-src valid.src --valid-tgt valid.tgt "
                           "--emb 8 --hidden 12 --dropout 0.2 --batch 16 --bleu-every 10 --seed 3 --quiet";

// ---- compare grids ----

// 2 variants x 2 seeds: 4 runs of a few hundredths of a second at 30 steps.
std::string grid_of(std::size_t steps, const std::string& attentions = "none,bahdanau") {
  return "compare --task reverse --train-size 200 --valid-size 20 --test-size 12 --emb 8 --hidden 12 --batch 16 "
         "--steps " + std::to_string(steps) + " --eval-every 10 --cells gru --attention " + attentions +
         " --seeds 2 --seed 3 --estimate-steps 0 --quiet";
}
const std::string kGrid = grid_of(30) + " --threads 1";
const std::vector<std::string> kGridRuns = {"gru+none-s3", "gru+none-s4", "gru+bahdanau-s3", "gru+bahdanau-s4"};

bool timing_key(const std::string& key) {
  return key.find("seconds") != std::string::npos || key.find("tokens_per_s") != std::string::npos;
}

// A results.json or metrics.json without its clock readings.
nlohmann::json without_timing(nlohmann::json j) {
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto& [key, value] : j.items())
      if (!timing_key(key)) out[key] = without_timing(value);
    return out;
  }
  if (j.is_array())
    for (auto& x : j) x = without_timing(x);
  return j;
}

std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  for (std::string f; std::getline(in, f, ',');) fields.push_back(f);
  return fields;
}

// results.csv without the timing columns (a field with a comma in it would shift the columns and
// make the comparison fail, not pass).
std::string csv_without_timing(const std::string& csv) {
  const auto lines = attend::test::lines_of(csv);
  if (lines.empty()) return "";
  std::vector<bool> keep;
  for (const auto& h : csv_fields(lines[0])) keep.push_back(!timing_key(h));
  std::string out;
  for (const auto& line : lines) {
    const auto fields = csv_fields(line);
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (i >= keep.size() || keep[i]) out += fields[i] + ",";
    out += "\n";
  }
  return out;
}

nlohmann::json json_file(const std::string& path) { return nlohmann::json::parse(attend::test::read_file(path)); }

// The run directories under a grid's --out.
std::set<std::string> run_dirs(const std::string& out) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(out))
    if (e.is_directory() && e.path().filename().string()[0] != '.') names.insert(e.path().filename().string());
  return names;
}

// Two grids' reports and runs agree in everything but the clock: results.json, results.csv, each
// run's metrics.json and its parameters bit for bit.
void check_same_grid(const std::string& a, const std::string& b) {
  CHECK(without_timing(json_file(a + "/results.json")) == without_timing(json_file(b + "/results.json")));
  CHECK(csv_without_timing(attend::test::read_file(a + "/results.csv")) ==
        csv_without_timing(attend::test::read_file(b + "/results.csv")));
  REQUIRE(run_dirs(a) == run_dirs(b));
  for (const auto& run : run_dirs(a)) {
    INFO(run);
    CHECK(without_timing(json_file(a + "/" + run + "/metrics.json")) ==
          without_timing(json_file(b + "/" + run + "/metrics.json")));
    const arma::Col<float> pa = parameters(a + "/" + run + "/model.safetensors");
    const arma::Col<float> pb = parameters(b + "/" + run + "/model.safetensors");
    REQUIRE(pa.n_elem == pb.n_elem);
    CHECK(std::memcmp(pa.memptr(), pb.memptr(), pa.n_elem * sizeof(float)) == 0);
  }
}

// The rank a run's train.log names ("trained by rank R of N on HOST"); -1 for a run trained
// without mpirun, -2 when the log names more than one.
int trained_by(const std::string& run_dir) {
  int rank = -1;
  for (const auto& line : attend::test::lines_of(attend::test::read_file(run_dir + "/train.log")))
    if (line.rfind("trained by rank ", 0) == 0) rank = rank == -1 ? std::atoi(line.c_str() + 16) : -2;
  return rank;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Rank 1 of 2 whose collective calls leave the data as it is: enough for one process to take the
// path a rank other than 0 takes.
class SecondOfTwo : public attend::Communicator {
 public:
  std::size_t rank() const override { return 1; }
  std::size_t size() const override { return 2; }
  void sum(float*, std::size_t) override {}
  void sum(double*, std::size_t) override {}
  void broadcast(double*, std::size_t) override {}
  void broadcast(std::string&) override {}
  std::vector<std::string> all_gather(const std::string& mine) override { return {mine, mine}; }
  [[noreturn]] void abort(int status) override { std::exit(status); }
};

}  // namespace

TEST_CASE("2 MPI ranks of 1 thread train the same parameters as 1 process with 2 shards, bit for bit", "[mpi]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  const auto alone = run_shell(dir, quote(ATTEND_CLI_PATH) + " " + kTask + " --threads 2 --model alone.safetensors");
  REQUIRE(alone.status == 0);
  const auto ranks = run_shell(dir, mpirun(2) + " " + kTask + " --threads 1 --model ranks.safetensors");
  INFO(ranks.err);
  REQUIRE(ranks.status == 0);
  const arma::Col<float> a = parameters(dir.file("alone.safetensors")), b = parameters(dir.file("ranks.safetensors"));
  REQUIRE(a.n_elem == b.n_elem);
  CHECK(arma::abs(a - b).max() == 0.0f);
  CHECK(std::memcmp(a.memptr(), b.memptr(), a.n_elem * sizeof(float)) == 0);
}

// The Transformer decoder over the Transformer encoder and over a GRU (the hybrid), with kTask's
// dropout and uneven split.
const std::string kTransformer = " --decoder transformer --heads 2 --self-heads 2 --self-layers 1 --decoder-layers 2 --ffn 16";

TEST_CASE("2 MPI ranks of the Transformer decoder train 1 process's 2-shard parameters, bit for bit",
          "[mpi][transformer-decoder]") {
  if (!mpirun_usable()) return;
  for (const std::string encoder : {"transformer", "rnn"}) {
    INFO("encoder " << encoder);
    TempDir dir;
    const std::string args = kTask + kTransformer + " --encoder " + encoder;
    REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + args + " --threads 2 --model alone.safetensors").status == 0);
    const auto ranks = run_shell(dir, mpirun(2) + " " + args + " --threads 1 --model ranks.safetensors");
    INFO(ranks.err);
    REQUIRE(ranks.status == 0);
    const arma::Col<float> a = parameters(dir.file("alone.safetensors")), b = parameters(dir.file("ranks.safetensors"));
    REQUIRE(a.n_elem == b.n_elem);
    CHECK(std::memcmp(a.memptr(), b.memptr(), a.n_elem * sizeof(float)) == 0);
    // And the check can fail: 1 shard draws other dropout masks.
    REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + args + " --threads 1 --model one.safetensors").status == 0);
    CHECK(arma::abs(parameters(dir.file("one.safetensors")) - b).max() > 0.0f);
  }
}

TEST_CASE("2 MPI ranks of 1 thread differ from 1 process with 1 shard only by dropout streams and rounding", "[mpi]") {
  // A check that the comparison above can fail: one shard draws other dropout masks.
  if (!mpirun_usable()) return;
  TempDir dir;
  REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + kTask + " --threads 1 --model one.safetensors").status == 0);
  REQUIRE(run_shell(dir, mpirun(2) + " " + kTask + " --threads 1 --model ranks.safetensors").status == 0);
  CHECK(arma::abs(parameters(dir.file("one.safetensors")) - parameters(dir.file("ranks.safetensors"))).max() > 0.0f);
}

TEST_CASE("2 MPI ranks of 2 threads train 1 process's 4-shard parameters to float tolerance", "[mpi]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + kTask + " --threads 4 --model alone.safetensors").status == 0);
  const auto ranks = run_shell(dir, mpirun(2) + " " + kTask + " --threads 2 --model ranks.safetensors");
  INFO(ranks.err);
  REQUIRE(ranks.status == 0);
  const arma::Col<float> a = parameters(dir.file("alone.safetensors")), b = parameters(dir.file("ranks.safetensors"));
  CHECK(arma::abs(a - b).max() < 1e-4f);
}

TEST_CASE("under mpirun the loss curves and diagnostics summed over ranks equal 1 process's with 2 shards", "[mpi]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  const std::string args = kTask + " --diagnostics-every 4";
  REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + args + " --threads 2 --model a.safetensors --metrics-json a.json").status == 0);
  REQUIRE(run_shell(dir, mpirun(2) + " " + args + " --threads 1 --model b.safetensors --metrics-json b.json").status == 0);
  const auto a = nlohmann::json::parse(attend::test::read_file(dir.file("a.json")));
  const auto b = nlohmann::json::parse(attend::test::read_file(dir.file("b.json")));
  REQUIRE(a["diagnostics"].size() > 0);
  CHECK(a["diagnostics"] == b["diagnostics"]);
  CHECK(a["loss_curve"] == b["loss_curve"]);
  CHECK(a["valid_curve"] == b["valid_curve"]);
}

TEST_CASE("under mpirun only rank 0 prints the report and writes the metrics", "[mpi]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  const auto r = run_shell(dir, mpirun(2) + " " + kTask + " --model m.safetensors --metrics-json m.json");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto lines = attend::test::lines_of(r.out);
  std::size_t saved = 0;
  for (const auto& l : lines) saved += contains(l, "model saved to m.safetensors");
  CHECK(saved == 1);
  CHECK(contains(attend::test::read_file(dir.file("m.json")), "\"steps\": 24"));
}

TEST_CASE("an MPI run on files resumed from its step-10 checkpoint ends as the uninterrupted one, bit for bit", "[mpi][resume]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  write_corpus(dir);
  const auto whole = run_shell(dir, mpirun(2) + " " + kFiles + " --steps 20 --model whole.safetensors");
  INFO(whole.err);
  REQUIRE(whole.status == 0);
  REQUIRE(run_shell(dir, mpirun(2) + " " + kFiles + " --steps 10 --model part.safetensors").status == 0);
  const auto resumed = run_shell(dir, mpirun(2) + " " + kFiles + " --steps 20 --resume part.safetensors.last");
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  // The latest state after step 20's validation: whole.safetensors.last and, resumed (the model
  // path defaults to the resumed file), part.safetensors.last.last.
  const arma::Col<float> a = parameters(dir.file("whole.safetensors.last"));
  const arma::Col<float> b = parameters(dir.file("part.safetensors.last.last"));
  CHECK(arma::abs(a - b).max() == 0.0f);
}

TEST_CASE("an MPI run on files gives the same parameters as one process with as many shards", "[mpi]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  write_corpus(dir);
  REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + kFiles + " --steps 20 --threads 2 --model alone.safetensors").status == 0);
  REQUIRE(run_shell(dir, mpirun(2) + " " + kFiles + " --steps 20 --threads 1 --model ranks.safetensors").status == 0);
  CHECK(arma::abs(parameters(dir.file("alone.safetensors")) - parameters(dir.file("ranks.safetensors"))).max() == 0.0f);
}

TEST_CASE("a rank that dies ends the whole MPI training job with an error instead of a hang", "[mpi]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  const KilledRankJob job =
      kill_one_rank(dir, "train --task reverse --steps 1000000 --emb 8 --hidden 12 --quiet --model m.safetensors");
  INFO(job.run.err);
  CHECK(job.run.status != 0);
  CHECK(job.seconds < 50);
  CHECK_FALSE(job.watchdog_fired);
  CHECK(contains(job.run.err, "rank"));
}

TEST_CASE("attend train launched as 2 processes by a build without MPI refuses to run", "[mpi]") {
  if (attend::mpi_built_in()) {
    WARN("skipped: this build has MPI (the check is for builds with ATTEND_MPI=OFF)");
    return;
  }
  TempDir dir;
  const auto r = run_shell(dir, "OMPI_COMM_WORLD_SIZE=2 " + quote(ATTEND_CLI_PATH) + " train --task reverse --steps 2 --quiet");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "attend: error: launched as one of 2 processes (mpirun?), but this attend was built without MPI"));
}

TEST_CASE("train_on_files on a rank other than 0 neither evaluates, decodes the test set nor saves", "[mpi]") {
  TempDir dir;
  write_corpus(dir);
  attend::FileRunOptions run;
  run.text.files = {dir.file("train.src"), dir.file("train.tgt"), dir.file("valid.src"),
                    dir.file("valid.tgt"), dir.file("test.src"),  dir.file("test.tgt")};
  run.train.steps = 6;
  run.train.batch = 16;
  run.train.eval_every = 3;
  run.threads = 1;
  attend::ModelConfig config;
  config.emb = 8;
  config.hidden = 12;
  SecondOfTwo second;
  run.train.ranks = &second;
  run.model_path = dir.file("second.safetensors");
  const attend::FileRunResult r = attend::train_on_files(run, config, false);
  CHECK(r.train.steps == 6);
  CHECK(r.test_hypotheses.empty());
  CHECK(r.valid.examples == 0);
  CHECK_FALSE(std::filesystem::exists(run.model_path));
  // The same call as one process does all three.
  run.train.ranks = nullptr;
  run.model_path = dir.file("alone.safetensors");
  const attend::FileRunResult alone = attend::train_on_files(run, config, false);
  CHECK(alone.test_hypotheses.size() == 12);
  CHECK(alone.valid.examples == 20);
  CHECK(std::filesystem::exists(run.model_path));
}

TEST_CASE("a compare grid over 2 MPI ranks gives the results of the same grid in one process", "[mpi][compare]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + kGrid + " --out local").status == 0);
  const auto ranks = run_shell(dir, mpirun(2) + " " + kGrid + " --out ranks");
  INFO(ranks.err);
  REQUIRE(ranks.status == 0);
  CHECK(run_dirs(dir.file("ranks")) == std::set<std::string>(kGridRuns.begin(), kGridRuns.end()));
  check_same_grid(dir.file("local"), dir.file("ranks"));
}

TEST_CASE("a compare grid over 2 MPI ranks of --jobs 2 each gives the results of one process", "[mpi][compare]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  const std::string grid = grid_of(30, "none,bahdanau,luong-dot");  // 6 runs
  REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + grid + " --threads 1 --out local").status == 0);
  const auto ranks = run_shell(dir, mpirun(2) + " " + grid + " --jobs 2 --threads 2 --out ranks");
  INFO(ranks.err);
  REQUIRE(ranks.status == 0);
  CHECK(run_dirs(dir.file("ranks")).size() == 6);
  check_same_grid(dir.file("local"), dir.file("ranks"));
}

TEST_CASE("a compare grid with --lr-grid over 2 MPI ranks chooses the rates and gives the results of one process",
          "[mpi][compare]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  const std::string grid = kGrid + " --lr-grid 0.02,0.2";
  REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + grid + " --out local").status == 0);
  const auto ranks = run_shell(dir, mpirun(2) + " " + grid + " --out ranks");
  INFO(ranks.err);
  REQUIRE(ranks.status == 0);
  // 2 variants at 2 rates on seed 3, then seed 4 of each at its chosen rate.
  CHECK(run_dirs(dir.file("ranks")).size() == 6);
  check_same_grid(dir.file("local"), dir.file("ranks"));
  const auto results = json_file(dir.file("ranks/results.json"));
  for (const auto& v : results["variants"]) {
    std::size_t chosen = 0;
    for (const auto& r : v["rates"]) chosen += r["chosen"].get<bool>();
    CHECK(chosen == 1);
  }
}

TEST_CASE("a compare grid on files over 2 MPI ranks gives the results of the same grid in one process",
          "[mpi][compare]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  write_corpus(dir);
  // Each rank builds the text side itself (SentencePiece models included) from the same files.
  const std::string grid =
      "compare --train-src train.src --train-tgt train.tgt --valid-src valid.src --valid-tgt valid.tgt "
      "--test-src test.src --test-tgt test.tgt --tokenizer spm --spm-vocab 16 --shared-vocab --emb 8 --hidden 12 "
      "--batch 16 --steps 20 --bleu-every 10 --cells gru --attention none,bahdanau --seeds 2 --estimate-steps 0 "
      "--threads 1 --quiet";
  REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + grid + " --out local").status == 0);
  const auto ranks = run_shell(dir, mpirun(2) + " " + grid + " --out ranks");
  INFO(ranks.err);
  REQUIRE(ranks.status == 0);
  check_same_grid(dir.file("local"), dir.file("ranks"));
}

TEST_CASE("every run of an MPI grid is trained by one rank, both ranks train, rank 0 alone reports", "[mpi][compare]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  // Runs of about a quarter second: a rank that starts a little later still finds runs to claim.
  const auto r = run_shell(dir, mpirun(2) + " " + grid_of(300) + " --threads 1 --out g");
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::map<int, std::size_t> runs_of;
  for (const auto& run : kGridRuns) ++runs_of[trained_by(dir.file("g/" + run))];
  CHECK(runs_of.size() == 2);
  CHECK(runs_of[0] >= 1);
  CHECK(runs_of[1] >= 1);
  CHECK(occurrences(r.out, "reports written:") == 1);
  // The job's claim files are gone with it.
  for (const auto& e : std::filesystem::directory_iterator(dir.file("g")))
    CHECK(e.path().filename().string().rfind(".claims-", 0) != 0);
}

TEST_CASE("an interrupted MPI grid resumes without MPI, and an interrupted local one under MPI, with the same results",
          "[mpi][compare][resume]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + kGrid + " --out reference").status == 0);
  REQUIRE(run_shell(dir, mpirun(2) + " " + kGrid + " --out g").status == 0);
  // A run writes metrics.json last: without it the run counts as unfinished.
  std::filesystem::remove(dir.file("g/gru+none-s4/metrics.json"));
  std::filesystem::remove(dir.file("g/gru+bahdanau-s3/metrics.json"));
  const auto local = run_shell(dir, quote(ATTEND_CLI_PATH) + " " + kGrid + " --out g");
  INFO(local.err);
  REQUIRE(local.status == 0);
  CHECK(trained_by(dir.file("g/gru+none-s4")) == -1);  // retrained here
  CHECK(trained_by(dir.file("g/gru+bahdanau-s3")) == -1);
  CHECK(trained_by(dir.file("g/gru+none-s3")) >= 0);  // kept from the MPI job
  check_same_grid(dir.file("reference"), dir.file("g"));

  // Now the local grid interrupted, with the claims an interrupted MPI job left behind.
  std::filesystem::remove(dir.file("g/gru+none-s4/metrics.json"));
  std::filesystem::remove(dir.file("g/gru+bahdanau-s4/metrics.json"));
  std::filesystem::create_directory(dir.file("g/.claims-00000000000000ff"));
  attend::test::write_file(dir.file("g/.claims-00000000000000ff/gru+none-s4"), "rank 1 of 2 on elsewhere\n");
  const auto ranks = run_shell(dir, mpirun(2) + " " + kGrid + " --out g");
  INFO(ranks.err);
  REQUIRE(ranks.status == 0);
  CHECK(trained_by(dir.file("g/gru+none-s4")) >= 0);
  CHECK(trained_by(dir.file("g/gru+bahdanau-s4")) >= 0);
  CHECK(trained_by(dir.file("g/gru+bahdanau-s3")) == -1);  // finished, not retrained
  check_same_grid(dir.file("reference"), dir.file("g"));
}

TEST_CASE("an MPI grid whose ranks are killed mid-way resumes without MPI to the uninterrupted grid's results",
          "[mpi][compare][resume]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  // Runs of one to two seconds: the ranks are killed as soon as the first run has finished.
  const std::string grid = grid_of(2000) + " --threads 1";
  REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + grid + " --out reference").status == 0);
  const std::string script =
      quote(kMpirun) + " --allow-run-as-root --oversubscribe -np 2 " + quote(ATTEND_CLI_PATH) + " " + grid +
      " --out g & m=$!; "
      "for i in $(seq 600); do ls g/*/metrics.json >/dev/null 2>&1 && break; sleep 0.05; done; "
      "for f in /proc/[0-9]*/stat; do read -r pid name state parent rest < $f 2>/dev/null; "
      "[ \"$parent\" = \"$m\" ] && kill -9 $pid; done; "
      "wait $m; ls g/*/metrics.json | wc -l > finished.txt";
  run_shell(dir, "timeout -s KILL 120 bash -c " + quote(script));
  const int finished = std::atoi(attend::test::read_file(dir.file("finished.txt")).c_str());
  INFO("runs finished when the ranks were killed: " << finished);
  REQUIRE(finished >= 1);
  REQUIRE(finished < 4);  // else the grid was not interrupted
  const auto resumed = run_shell(dir, quote(ATTEND_CLI_PATH) + " " + grid + " --out g");
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  check_same_grid(dir.file("reference"), dir.file("g"));
}

TEST_CASE("under MPI a different grid in --out is refused once, exit 2, before any run trains", "[mpi][compare]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  REQUIRE(run_shell(dir, quote(ATTEND_CLI_PATH) + " " + kGrid + " --out g").status == 0);
  const std::string log_before = attend::test::read_file(dir.file("g/gru+none-s3/train.log"));
  const auto r = run_shell(dir, mpirun(2) + " " + kGrid + " --lr 0.05 --out g");
  CHECK(r.status == 2);
  CHECK(occurrences(r.err, "holds the results of a different grid") == 1);
  CHECK(contains(r.err, "train.lr: "));
  CHECK(attend::test::read_file(dir.file("g/gru+none-s3/train.log")) == log_before);
}

TEST_CASE("a run that fails on one rank of an MPI grid is reported by rank 0 and the job exits 1", "[mpi][compare]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  // A directory where the run's checkpoint goes: saving it fails after training.
  std::filesystem::create_directories(dir.file("g/gru+bahdanau-s4/model.safetensors/x"));
  const auto r = run_shell(dir, mpirun(2) + " " + kGrid + " --out g");
  INFO(r.err);
  CHECK(r.status == 1);
  CHECK(contains(r.out, "1 run failed"));
  CHECK(occurrences(r.out, "  gru+bahdanau-s4: ") == 1);
  for (const std::string run : {"gru+none-s3", "gru+none-s4", "gru+bahdanau-s3"})
    CHECK(std::filesystem::exists(dir.file("g/" + run + "/metrics.json")));
}

TEST_CASE("a rank that dies ends an MPI compare grid with an error instead of a hang", "[mpi][compare]") {
  if (!mpirun_usable()) return;
  TempDir dir;
  const KilledRankJob job = kill_one_rank(
      dir, "compare --task reverse --emb 8 --hidden 12 --steps 1000000 --attention none,bahdanau --seeds 2 "
           "--estimate-steps 0 --threads 1 --quiet --out g");
  INFO(job.run.err);
  CHECK(job.run.status != 0);
  CHECK(job.seconds < 50);
  CHECK_FALSE(job.watchdog_fired);
}

TEST_CASE("attend compare launched as 2 processes by a build without MPI refuses to run", "[mpi][compare]") {
  if (attend::mpi_built_in()) {
    WARN("skipped: this build has MPI (the check is for builds with ATTEND_MPI=OFF)");
    return;
  }
  TempDir dir;
  const auto r = run_shell(dir, "OMPI_COMM_WORLD_SIZE=2 " + quote(ATTEND_CLI_PATH) + " " + kGrid + " --out g");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "attend: error: launched as one of 2 processes (mpirun?), but this attend was built without MPI"));
  CHECK_FALSE(std::filesystem::exists(dir.file("g")));
}
