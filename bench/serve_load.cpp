// `attend serve` under load on loopback: C client threads each send R translate requests of L
// lines back to back; reports throughput and p50/p99 latency with batching on and off (the same
// server, the same model, the same requests). Figures: docs/performance.md, "attend serve".
// Usage: bench_serve_load [--model FILE] [--clients 8] [--requests 50] [--lines 1] [--beam 1]
//                         [--workers 2]
// Without --model it trains a small reverse-task model first (attend train, a few seconds).
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <attend/text/tasks.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string model;
  int clients = 8, requests = 50, lines = 1, beam = 1, workers = 2;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `attend serve` on a free port; returns its pid and port.
std::pair<pid_t, int> start_server(const std::string& args, const std::string& log) {
  const std::string cmd = std::string("exec '") + ATTEND_CLI_PATH + "' serve " + args + " --port 0 2>'" + log + "'";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::regex listening(R"(on http://127\.0\.0\.1:([0-9]+)/)");
  for (int i = 0; i < 600; ++i) {
    std::smatch m;
    const std::string text = slurp(log);
    if (std::regex_search(text, m, listening)) return {pid, std::stoi(m[1])};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fprintf(stderr, "the server did not start:\n%s\n", slurp(log).c_str());
  std::exit(1);
}

struct Result {
  double seconds = 0, p50 = 0, p99 = 0;
  std::size_t answered = 0, failed = 0, batches = 0;
};

Result run(const Args& a, bool batching, const std::vector<std::string>& sentences, const fs::path& dir) {
  const std::string args = "--model '" + a.model + "' --workers " + std::to_string(a.workers) +
                           " --http-threads " + std::to_string(a.clients + 2) + (batching ? "" : " --no-batching");
  const std::string log = (dir / (batching ? "serve-batching.log" : "serve-alone.log")).string();
  const auto [pid, port] = start_server(args, log);
  std::vector<std::vector<double>> latency(a.clients);
  std::vector<std::size_t> failed(a.clients, 0);
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < a.clients; ++c)
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      for (int r = 0; r < a.requests; ++r) {
        nlohmann::json text = nlohmann::json::array();
        for (int l = 0; l < a.lines; ++l) text.push_back(sentences[(c * 131 + r * a.lines + l) % sentences.size()]);
        const std::string body = nlohmann::json({{"text", text}, {"beam", a.beam}}).dump();
        const auto s = Clock::now();
        const auto res = client.Post("/v1/translate", body, "application/json");
        latency[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
        if (!res || res->status != 200) {
          ++failed[c];
          if (failed[c] == 1)
            std::fprintf(stderr, "client %d after %.0f ms: %s\n", c, latency[c].back(),
                         res ? ("HTTP " + std::to_string(res->status) + " " + res->body).c_str()
                             : httplib::to_string(res.error()).c_str());
        }
      }
    });
  for (auto& t : threads) t.join();
  Result out;
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (int c = 0; c < a.clients; ++c) {
    all.insert(all.end(), latency[c].begin(), latency[c].end());
    out.failed += failed[c];
  }
  std::sort(all.begin(), all.end());
  out.answered = all.size() - out.failed;
  out.p50 = all[all.size() / 2];
  out.p99 = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  httplib::Client probe("127.0.0.1", port);
  if (const auto h = probe.Get("/health")) out.batches = nlohmann::json::parse(h->body).at("batches");
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    std::fprintf(stderr, "the server did not exit 0 (status %d):\n%s\n", status, slurp(log).c_str());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") a.model = v;
    else if (k == "--clients") a.clients = std::stoi(v);
    else if (k == "--requests") a.requests = std::stoi(v);
    else if (k == "--lines") a.lines = std::stoi(v);
    else if (k == "--beam") a.beam = std::stoi(v);
    else if (k == "--workers") a.workers = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  const fs::path dir = fs::temp_directory_path() / ("attend_serve_load_" + std::to_string(getpid()));
  fs::create_directories(dir);
  if (a.model.empty()) {
    a.model = (dir / "model.safetensors").string();
    const std::string cmd = std::string("'") + ATTEND_CLI_PATH +
                            "' train --task reverse --steps 300 --emb 32 --hidden 128 --quiet --model '" + a.model +
                            "' > /dev/null";
    if (std::system(cmd.c_str()) != 0) return 1;
  }
  attend::TaskOptions task;
  task.name = "reverse";
  std::vector<std::string> sentences;
  for (const auto& e : attend::make_task(task).test) {
    std::string s;
    for (const auto& t : e.src) s += t;
    sentences.push_back(s);
  }
  std::printf("attend serve, %d clients x %d requests of %d line(s), beam %d, %d workers\n", a.clients, a.requests,
              a.lines, a.beam, a.workers);
  std::printf("%-9s %10s %10s %9s %9s %8s %7s\n", "batching", "requests/s", "lines/s", "p50 ms", "p99 ms", "batches",
              "failed");
  for (const bool batching : {false, true}) {
    const Result r = run(a, batching, sentences, dir);
    std::printf("%-9s %10.1f %10.1f %9.2f %9.2f %8zu %7zu\n", batching ? "on" : "off", r.answered / r.seconds,
                r.answered * a.lines / r.seconds, r.p50, r.p99, r.batches, r.failed);
  }
  fs::remove_all(dir);
  return 0;
}
