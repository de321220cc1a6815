// `attend train` under mpirun (distributed.hpp): the same parameters as one process with as many
// shards, resuming, a dying rank, and a build without MPI that refuses to run as N copies.
#include <attend/io/checkpoint.hpp>
#include <attend/train/distributed.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
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

arma::Col<float> parameters(const std::string& path) { return attend::load_model(path).model->params().values(); }

// Dropout and an odd batch size: the shards' streams and an uneven split both matter.
const std::string kTask = "train --task reverse --train-size 300 --valid-size 30 --test-size 10 --emb 8 --hidden 12 "
                          "--dropout 0.2 --batch 15 --steps 24 --eval-every 8 --seed 5 --quiet";

// Sentences of letters a-h and their reversals, as parallel text files.
void write_corpus(const TempDir& dir) {
  std::mt19937 rng(11);
  for (const auto& [name, lines] : {std::pair<std::string, int>{"train", 200}, {"valid", 20}}) {
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
  // mpirun starts the ranks as its children (found in /proc: no procps needed); one of them is
  // killed after a few seconds, and a watchdog ends mpirun after 60 s if it hangs instead.
  const std::string script =
      quote(kMpirun) + " --allow-run-as-root --oversubscribe -np 2 " + quote(ATTEND_CLI_PATH) +
      " train --task reverse --steps 1000000 --emb 8 --hidden 12 --quiet --model m.safetensors & m=$!; "
      "(sleep 60; kill -9 $m 2>/dev/null; echo watchdog > watchdog.txt) & w=$!; sleep 4; "
      "for f in /proc/[0-9]*/stat; do read -r pid name state parent rest < $f 2>/dev/null; "
      "[ \"$parent\" = \"$m\" ] && { kill -9 $pid; break; }; done; "
      "wait $m; s=$?; kill $w 2>/dev/null; exit $s";
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_shell(dir, "bash -c " + quote(script));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(r.err);
  CHECK(r.status != 0);
  CHECK(seconds < 50);
  CHECK(attend::test::read_file(dir.file("watchdog.txt")).empty());
  CHECK(contains(r.err, "rank"));
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
