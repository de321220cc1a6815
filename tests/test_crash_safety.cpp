// Crash safety of checkpoint writing: `attend train` validates and saves after every step and is
// killed with SIGKILL at random moments, many times. After every kill the checkpoint on disk is a
// complete one (it loads and its checksums hold), it is the one that was there before the run or
// a newer one, a temporary file left behind is never taken for it, and `--resume` carries the
// run on to the same parameters, bit for bit, as a run that was never interrupted.
#include <attend/core/error.hpp>
#include <attend/io/checkpoint.hpp>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

extern char** environ;

namespace fs = std::filesystem;
using namespace attend::test;

namespace {

const char* const kModel = "m.safetensors";
const char* const kLast = "m.safetensors.last";  // what train saves after every validation

// A parallel corpus of three-word sentences and their reversals, written into `dir`.
void write_corpus(const TempDir& dir) {
  const char* vocab[] = {"red", "blue", "cat", "dog", "sun", "moon", "tree", "hill", "sea"};
  std::string src, tgt;
  for (int i = 0; i < 120; ++i) {
    const std::string a = vocab[i % 9], b = vocab[(i / 9) % 9], c = vocab[(i * 4 + 1) % 9];
    src += a + " " + b + " " + c + "\n";
    tgt += c + " " + b + " " + a + "\n";
  }
  write_file(dir.file("train.src"), src);
  write_file(dir.file("train.tgt"), tgt);
  write_file(dir.file("valid.src"), src.substr(0, src.find('\n', 60) + 1));
  write_file(dir.file("valid.tgt"), tgt.substr(0, tgt.find('\n', 60) + 1));
}

std::vector<std::string> train_args(bool resume) {
  std::vector<std::string> a = {"train", "--train-src", "train.src", "--train-tgt", "train.tgt",
                                "--valid-src", "valid.src", "--valid-tgt", "valid.tgt", "--hidden", "12",
                                "--emb", "8", "--batch", "8", "--steps", "40", "--bleu-every", "1",
                                "--threads", "1", "--seed", "3", "-q", "--model", kModel};
  if (resume) a.insert(a.end(), {"--resume", kLast});
  return a;
}

// `attend ARGS` started in `dir` (output to files there), without waiting for it.
pid_t start_cli(const TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> words = {ATTEND_CLI_PATH};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_words = {"OPENBLAS_NUM_THREADS=1"};
  for (char** e = environ; *e; ++e)
    if (std::string(*e).rfind("OPENBLAS_NUM_THREADS=", 0) != 0) env_words.push_back(*e);
  std::vector<char*> envp;
  for (auto& w : env_words) envp.push_back(w.data());
  envp.push_back(nullptr);
  const std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt"), cwd = dir.file();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // The child runs in `dir`: the relative paths above are resolved there.
  const std::string cd_then_exec = "cd " + quote(cwd) + " && exec \"$0\" \"$@\"";
  std::vector<char*> sh = {const_cast<char*>("/bin/sh"), const_cast<char*>("-c"),
                           const_cast<char*>(cd_then_exec.c_str())};
  sh.insert(sh.end(), argv.begin(), argv.end());
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/bin/sh", &actions, nullptr, sh.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// The step a checkpoint's training state records, or -1 when there is no file.
long saved_step(const std::string& path) {
  if (!fs::exists(path)) return -1;
  const attend::ModelBundle b = attend::load_model(path);  // throws on a torn or damaged file
  REQUIRE(b.train_state);
  return static_cast<long>(b.train_state->step);
}

std::vector<float> parameters(const std::string& path) {
  const attend::ModelBundle b = attend::load_model(path);
  const auto& v = b.model->params().values();
  return std::vector<float>(v.begin(), v.end());
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("a training run killed at random moments always leaves a whole checkpoint, and resuming it reaches "
          "the uninterrupted run's parameters",
          "[crash-safety][cli]") {
  TempDir reference;
  write_corpus(reference);
  const auto t0 = std::chrono::steady_clock::now();
  const int ref_status = wait_for(start_cli(reference, train_args(false)));
  const double run_seconds = seconds_since(t0);
  INFO(read_file(reference.file("stderr.txt")));
  REQUIRE(WIFEXITED(ref_status));
  REQUIRE(WEXITSTATUS(ref_status) == 0);
  REQUIRE(saved_step(reference.file(kLast)) == 40);
  const std::vector<float> expected = parameters(reference.file(kLast));

  TempDir dir;
  write_corpus(dir);
  const std::set<std::string> known = {"train.src", "train.tgt", "valid.src", "valid.tgt", "stdout.txt",
                                       "stderr.txt", kModel, kLast};
  std::mt19937 rng(20261201);
  // Kill moments spread over start-up, training and the saves; a resumed run has less left to
  // do than a whole one, so the spread is half a whole run.
  std::uniform_real_distribution<double> delay(0.0, run_seconds / 2);
  int kills = 0, changed = 0, temporaries_left = 0, finished_early = 0;
  while (kills < 30) {
    const std::string before = read_file(dir.file(kLast));
    const long before_step = saved_step(dir.file(kLast));
    const pid_t pid = start_cli(dir, train_args(before_step >= 0));
    std::this_thread::sleep_for(std::chrono::duration<double>(delay(rng)));
    ::kill(pid, SIGKILL);
    const int status = wait_for(pid);
    INFO("kill " << kills << " after step " << before_step << ": " << read_file(dir.file("stderr.txt")));
    if (WIFEXITED(status)) {  // the run ended before the kill: it must have succeeded; start over
      REQUIRE(WEXITSTATUS(status) == 0);
      CHECK(parameters(dir.file(kLast)) == expected);
      ++finished_early;
      fs::remove(dir.file(kModel));
      fs::remove(dir.file(kLast));
      continue;
    }
    REQUIRE(WIFSIGNALED(status));
    ++kills;
    const std::string after = read_file(dir.file(kLast));
    if (after != before) {
      // Not the previous checkpoint: then a complete newer one (load_model checks every CRC).
      long after_step = -1;
      REQUIRE_NOTHROW(after_step = saved_step(dir.file(kLast)));
      CHECK(after_step > before_step);
      ++changed;
    }
    if (fs::exists(dir.file(kModel))) CHECK_NOTHROW(attend::load_model(dir.file(kModel)));
    for (const auto& entry : fs::directory_iterator(dir.path())) {
      const std::string name = entry.path().filename().string();
      if (name == std::string(kModel) + ".tmp" || name == std::string(kLast) + ".tmp")
        ++temporaries_left;
      else
        CHECK(known.count(name) == 1);
    }
  }
  // The last kill's checkpoint, resumed, finishes the run where the uninterrupted one ended.
  const bool any_checkpoint = fs::exists(dir.file(kLast));
  const int status = wait_for(start_cli(dir, train_args(any_checkpoint)));
  INFO(read_file(dir.file("stderr.txt")));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(saved_step(dir.file(kLast)) == 40);
  CHECK(parameters(dir.file(kLast)) == expected);
  CHECK(changed > 0);  // the kills did land while the run was making progress
  WARN("30 kills: " << changed << " found a newer checkpoint, " << temporaries_left
                    << " left a temporary file, " << finished_early << " runs ended before their kill");
}
