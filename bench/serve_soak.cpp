// The soak test of `attend serve` (issue 26; figures in docs/serve.md, "Soak test"): starts the
// server on a free loopback port with small limits, then for --seconds (default 300) 64 clients
// mix good requests, malformed ones, trickling clients, hang-ups, idle connections and bursts
// beyond the queue (bench/serve_soak.hpp). Prints the outcomes, the good requests' p50/p99
// latency and the server's resident memory after the warm-up and at the end; exits 1 when a good
// request was answered wrongly or failed otherwise than with 503, a misbehaving client was not
// cut off, or the server died or did not exit 0 on SIGTERM.
// Usage: bench_serve_soak --model FILE [--seconds 300] [--warmup 30] [--clients 64]
//                         [--server-args '...'] [--log FILE]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "serve_soak.hpp"

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, log = "/tmp/attend_soak_server.log";
  std::string server_args = "--workers 2 --max-queue 4 --max-connections 48 --http-threads 16 "
                            "--read-timeout 5 --request-timeout 5 --deadline 10";
  attend::soak::SoakOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model") model = next();
    else if (a == "--seconds") o.seconds = std::stod(next());
    else if (a == "--warmup") o.warmup_seconds = std::stod(next());
    else if (a == "--clients") o.clients = std::stoi(next());
    else if (a == "--server-args") server_args = next();
    else if (a == "--log") log = next();
    else {
      std::fprintf(stderr, "usage: bench_serve_soak --model FILE [--seconds 300] [--warmup 30] [--clients 64] "
                           "[--server-args '...'] [--log FILE]\n");
      return 2;
    }
  }
  if (model.empty()) {
    std::fprintf(stderr, "give --model FILE (e.g. attend train --task reverse ... --model /tmp/soak.safetensors)\n");
    return 2;
  }
  const std::string cmd = std::string("exec '") + ATTEND_CLI_PATH + "' serve --model '" + model + "' " + server_args +
                          " --port 0 2>'" + log + "'";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::regex listening(R"(on http://127\.0\.0\.1:([0-9]+)/)");
  for (int i = 0; i < 1200 && o.port == 0; ++i) {
    std::smatch m;
    const std::string text = slurp(log);
    if (std::regex_search(text, m, listening)) o.port = std::stoi(m[1]);
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (o.port == 0) {
    std::fprintf(stderr, "the server did not start:\n%s\n", slurp(log).c_str());
    kill(pid, SIGKILL);
    return 1;
  }
  o.server_pid = pid;
  // The expected translations: each sentence alone, before the load.
  if (!attend::soak::learn_expected(o, {"abc", "hello", "serve", "attention", "xyzzy", "reverse", "abcdefg", "qwerty",
                                        "a", "batching", "mm", "loopback", "soak", "memory", "deadline", "prometheus"})) {
    std::fprintf(stderr, "a warm-up request failed\n");
    kill(pid, SIGKILL);
    return 1;
  }
  std::printf("attend serve %s (pid %d, port %d); %d clients for %.0f s, warm-up %.0f s\n", server_args.c_str(),
              static_cast<int>(pid), o.port, o.clients, o.seconds, o.warmup_seconds);
  std::fflush(stdout);
  const attend::soak::SoakReport r = attend::soak::Soak(o).run();
  std::printf("%s", attend::soak::describe(r).c_str());
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  const bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::printf("server exit on SIGTERM: %s\n", clean_exit ? "status 0" : "NOT clean");
  const bool ok = r.good_wrong == 0 && r.good_failed == 0 && r.trickle_not_cut == 0 && r.idle_not_cut == 0 &&
                  r.malformed_other == 0 && r.server_alive && clean_exit;
  std::printf("%s\n", ok ? "soak: passed" : "soak: FAILED");
  return ok ? 0 : 1;
}
