#include "test_serve_support.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <regex>
#include <thread>

namespace attend::test {

const ServeModels& serve_models() {
  static TempDir dir;
  static const ServeModels models = [] {
    ServeModels m;
    const std::string common = "train --task reverse --train-size 400 --valid-size 20 --test-size 20 "
                               "--min-len 3 --max-len 8 --steps 150 --batch 32 --emb 12 --hidden 24 --quiet ";
    const CliRun a = run_cli(dir, common + "--attention bahdanau --model bahdanau.safetensors");
    const CliRun b = run_cli(dir, common + "--attention luong-general --model luong.safetensors");
    INFO(a.err << b.err);
    REQUIRE(a.status == 0);
    REQUIRE(b.status == 0);
    m.bahdanau = dir.file("bahdanau.safetensors");
    m.luong = dir.file("luong.safetensors");
    return m;
  }();
  return models;
}

const std::string& serve_transformer_model() {
  static TempDir dir;
  static const std::string path = [] {
    const CliRun r = run_cli(dir, "train --task reverse --train-size 400 --valid-size 20 --test-size 20 "
                                  "--min-len 3 --max-len 8 --steps 60 --batch 32 --encoder transformer "
                                  "--decoder transformer --hidden 16 --self-layers 1 --decoder-layers 2 "
                                  "--heads 2 --self-heads 2 --ffn 32 --quiet --model transformer.safetensors");
    INFO(r.err);
    REQUIRE(r.status == 0);
    return dir.file("transformer.safetensors");
  }();
  return path;
}

ServerProcess::ServerProcess(const std::string& args) {
  const std::string log = dir_.file("serve.log");
  const std::string cmd = "exec " + quote(ATTEND_CLI_PATH) + " serve " + args + " --port 0 2>" + quote(log);
  pid_ = fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::regex listening(R"(on https?://127\.0\.0\.1:([0-9]+)/)");
  for (int i = 0; i < 600 && port_ == 0; ++i) {
    std::smatch m;
    const std::string text = read_file(log);
    if (std::regex_search(text, m, listening)) port_ = std::stoi(m[1]);
    else if (waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
    if (port_ == 0 && pid_ < 0) break;
    if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  INFO(read_file(log));
  REQUIRE(port_ > 0);
}

int ServerProcess::terminate() {
  if (pid_ < 0) return -1;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 600; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return -1;
}

std::string ServerProcess::log() const { return read_file(dir_.file("serve.log")); }

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

}  // namespace attend::test
