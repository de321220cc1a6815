// The soak test of `attend serve` (issue 26, docs/serve.md "Soak test"): for a while, many client
// threads on loopback mix good translate requests, malformed ones, clients that trickle a
// request a byte at a time, clients that hang up mid-request, clients that connect and send
// nothing, and bursts beyond the decode queue. It records every outcome, the latency of the
// good requests that were answered, and the server's resident memory after the warm-up and at
// the end. Used by bench/serve_soak.cpp (5 minutes) and tests/test_serve_soak.cpp (~20 s).
// Header-only; needs cpp-httplib and nlohmann_json. Loopback only; stops by itself.
#pragma once
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace attend::soak {

using SoakClock = std::chrono::steady_clock;

struct SoakOptions {
  int port = 0;
  pid_t server_pid = -1;  // for its resident memory (/proc/PID/status)
  double seconds = 300;   // the whole run
  double warmup_seconds = 30;  // resident memory is taken at the end of this
  int clients = 64;
  // Good requests' sentences and the translation each must get (the server's own answer to the
  // sentence alone, before the load); a good request is 1-3 of them.
  std::map<std::string, std::string> expected;
  // The same sentences' translations with beam 4: burst requests are 8 sentences searched with
  // beam 4 (heavier, so that bursts overflow the queue).
  std::map<std::string, std::string> expected_beam;
  int burst_every_seconds = 10;  // every so often, burst_size good requests at once
  int burst_size = 48;
  std::string api_key;  // sent as Authorization: Bearer when not empty
  // How long an idle or trickling client waits for the server to close its connection (more
  // than the server's --read-timeout and --request-timeout).
  int cut_wait_ms = 20000;
};

struct SoakReport {
  // Good requests (steady and in bursts): answered right, answered wrong, refused with 503
  // (busy queue, deadline or too many connections), or failed otherwise (another status, a
  // connection error).
  long good_ok = 0, good_wrong = 0, good_503 = 0, good_failed = 0;
  long burst_ok = 0, burst_503 = 0;  // the burst requests among them
  long malformed_4xx = 0, malformed_other = 0;
  long trickle_cut = 0, trickle_not_cut = 0;  // closed by the server before they finished
  long idle_cut = 0, idle_not_cut = 0;        // connections that sent nothing
  long hangups = 0;                           // clients that hung up mid-request
  double p50_ms = 0, p99_ms = 0, max_ms = 0;  // good requests answered 200
  long rss_after_warmup_kb = 0, rss_end_kb = 0, rss_peak_kb = 0;
  std::vector<std::string> problems;  // the first few wrong answers and failures
  bool server_alive = false;          // GET /health answered 200 after the run
};

inline long resident_kb(pid_t pid, const char* field = "VmRSS:") {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == field) {
      in >> value;
      return value;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return 0;
}

// A raw loopback connection (for the clients httplib would not let misbehave).
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  bool ok() const { return fd_ >= 0; }
  bool send_all(const std::string& s) {
    std::size_t at = 0;
    while (at < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + at, s.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<std::size_t>(n);
    }
    return true;
  }
  // True when the server has closed the connection (reads end, or fail with a reset) within
  // `ms`; whatever it sent first is read and dropped.
  bool closed_within(int ms) {
    const auto until = SoakClock::now() + std::chrono::milliseconds(ms);
    char buf[4096];
    while (SoakClock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - SoakClock::now()).count();
      if (poll(&p, 1, static_cast<int>(std::max<long long>(1, std::min<long long>(left, 200)))) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
    return false;
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

class Soak {
 public:
  explicit Soak(SoakOptions o) : o_(std::move(o)) {
    for (const auto& [source, target] : o_.expected) sentences_.push_back(source);
  }

  SoakReport run() {
    // A client writing to a connection the server has closed must not end this process.
    std::signal(SIGPIPE, SIG_IGN);
    start_ = SoakClock::now();
    const auto end = start_ + std::chrono::duration_cast<SoakClock::duration>(std::chrono::duration<double>(o_.seconds));
    std::vector<std::thread> threads;
    for (int c = 0; c < o_.clients; ++c) threads.emplace_back([this, c, end] { client(c, end); });
    threads.emplace_back([this, end] { bursts(end); });
    // Resident memory: after the warm-up, and its peak sampled every second.
    const auto warm = start_ + std::chrono::duration_cast<SoakClock::duration>(std::chrono::duration<double>(o_.warmup_seconds));
    bool warmed = false;
    while (SoakClock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      const long rss = resident_kb(o_.server_pid);
      std::lock_guard<std::mutex> lock(mutex_);
      report_.rss_peak_kb = std::max(report_.rss_peak_kb, rss);
      if (!warmed && SoakClock::now() >= warm) {
        report_.rss_after_warmup_kb = rss;
        warmed = true;
      }
    }
    for (auto& t : threads) t.join();
    report_.rss_end_kb = resident_kb(o_.server_pid);
    std::sort(latencies_.begin(), latencies_.end());
    if (!latencies_.empty()) {
      const auto at = [&](double q) {
        return latencies_[std::min(latencies_.size() - 1, static_cast<std::size_t>(q * latencies_.size()))];
      };
      report_.p50_ms = at(0.50);
      report_.p99_ms = at(0.99);
      report_.max_ms = latencies_.back();
    }
    httplib::Client c("127.0.0.1", o_.port);
    c.set_read_timeout(30, 0);
    const auto health = c.Get("/health", headers());
    report_.server_alive = health && health->status == 200;
    return report_;
  }

 private:
  httplib::Headers headers() const {
    if (o_.api_key.empty()) return {};
    return {{"Authorization", "Bearer " + o_.api_key}};
  }
  void problem(const std::string& p) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (report_.problems.size() < 20) report_.problems.push_back(p);
  }

  // One good request of 1-3 sentences from `rng` (a burst's: 8, beam 4); counts its outcome.
  void good(std::mt19937& rng, bool burst) {
    nlohmann::json text = nlohmann::json::array();
    const int n = burst ? 8 : 1 + static_cast<int>(rng() % 3);
    std::vector<std::string> chosen;
    for (int k = 0; k < n; ++k) chosen.push_back(sentences_[rng() % sentences_.size()]);
    for (const auto& s : chosen) text.push_back(s);
    httplib::Client c("127.0.0.1", o_.port);
    c.set_connection_timeout(30, 0);
    c.set_read_timeout(120, 0);
    c.set_write_timeout(30, 0);
    const auto t0 = SoakClock::now();
    nlohmann::json body = {{"text", text}};
    if (burst) body["beam"] = 4;
    const auto res = c.Post("/v1/translate", headers(), body.dump(), "application/json");
    const double ms = std::chrono::duration<double, std::milli>(SoakClock::now() - t0).count();
    std::lock_guard<std::mutex> lock(mutex_);
    retry_after_ = false;
    if (!res) {
      report_.good_failed += 1;
      if (report_.problems.size() < 20)
        report_.problems.push_back("good request: no answer (" + httplib::to_string(res.error()) + ")");
      return;
    }
    if (res->status == 503) {
      report_.good_503 += 1;
      if (burst) report_.burst_503 += 1;
      retry_after_ = true;
      return;
    }
    if (res->status != 200) {
      report_.good_failed += 1;
      if (report_.problems.size() < 20)
        report_.problems.push_back("good request: status " + std::to_string(res->status) + " " + res->body.substr(0, 200));
      return;
    }
    bool right = false;
    try {
      const auto answer = nlohmann::json::parse(res->body).at("translations");
      right = answer.size() == chosen.size();
      for (std::size_t k = 0; right && k < chosen.size(); ++k)
        right = answer[k].at("text").get<std::string>() == (burst ? o_.expected_beam : o_.expected).at(chosen[k]);
    } catch (const std::exception&) {
      right = false;
    }
    if (!right) {
      report_.good_wrong += 1;
      if (report_.problems.size() < 20) report_.problems.push_back("wrong answer: " + res->body.substr(0, 200));
      return;
    }
    report_.good_ok += 1;
    if (burst) report_.burst_ok += 1;
    latencies_.push_back(ms);
  }

  void malformed(std::mt19937& rng) {
    static const char* bodies[] = {"{\"text\": [", "{\"text\": \"abc\"}", "{\"text\": [\"abc\"], \"beam\": 0}",
                                   "{\"text\": [\"abc\"], \"colour\": 1}", "[1, 2, 3]", "\xff\xfe not json",
                                   "{\"text\": [\"a\\nb\"]}", "{\"text\": []}"};
    httplib::Client c("127.0.0.1", o_.port);
    c.set_read_timeout(60, 0);
    const auto res = c.Post("/v1/translate", headers(), bodies[rng() % 8], "application/json");
    std::lock_guard<std::mutex> lock(mutex_);
    // A refusal for too many connections (503) is also a fine answer to a bad request.
    if (res && ((res->status >= 400 && res->status < 500) || res->status == 503)) report_.malformed_4xx += 1;
    else report_.malformed_other += 1;
  }

  std::string request_head(std::size_t body_bytes) const {
    std::string head = "POST /v1/translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";
    if (!o_.api_key.empty()) head += "Authorization: Bearer " + o_.api_key + "\r\n";
    return head + "Content-Length: " + std::to_string(body_bytes) + "\r\n\r\n";
  }

  // Sends a request a byte every 300 ms, stopping when the server closes the connection; the
  // whole request would take far longer than any request timeout.
  void trickle(const SoakClock::time_point end) {
    const std::string body = nlohmann::json({{"text", {sentences_.front()}}}).dump();
    const std::string request = request_head(body.size()) + body;
    RawConnection conn(o_.port);
    bool cut = !conn.ok();
    for (std::size_t i = 0; i < request.size() && !cut && SoakClock::now() < end; ++i) {
      if (!conn.send_all(request.substr(i, 1))) cut = true;
      else if (conn.closed_within(300)) cut = true;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (cut) report_.trickle_cut += 1;
    else if (SoakClock::now() < end) report_.trickle_not_cut += 1;
  }

  // Connects and sends nothing: the server must close it (its read timeout).
  void idle(const SoakClock::time_point end) {
    RawConnection conn(o_.port);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - SoakClock::now()).count();
    if (left < o_.cut_wait_ms) {  // not enough time left to wait for the server's read timeout
      std::this_thread::sleep_for(std::chrono::milliseconds(std::max<long long>(0, left)));
      return;
    }
    const bool cut = !conn.ok() || conn.closed_within(o_.cut_wait_ms);
    std::lock_guard<std::mutex> lock(mutex_);
    if (cut) report_.idle_cut += 1;
    else report_.idle_not_cut += 1;
  }

  // Hangs up mid-request: after half the body, or after the whole request before the answer.
  void hangup(std::mt19937& rng) {
    nlohmann::json text = nlohmann::json::array();
    for (int k = 0; k < 8; ++k) text.push_back(sentences_[rng() % sentences_.size()]);
    const std::string body = nlohmann::json({{"text", text}, {"beam", 4}}).dump();
    RawConnection conn(o_.port);
    if (!conn.ok()) return;
    if (rng() % 2) conn.send_all(request_head(body.size()) + body.substr(0, body.size() / 2));
    else conn.send_all(request_head(body.size()) + body);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::lock_guard<std::mutex> lock(mutex_);
    report_.hangups += 1;
  }

  // Client c's life: most clients send good requests; every 8th mixes in malformed ones, and
  // clients 1, 2, 3 (mod 16) trickle, hang up and idle in turn.
  void client(int c, SoakClock::time_point end) {
    std::mt19937 rng(1000 + c);
    while (SoakClock::now() < end) {
      switch (c % 16) {
        case 1: trickle(end); break;
        case 2: hangup(rng); std::this_thread::sleep_for(std::chrono::milliseconds(100)); break;
        case 3: idle(end); break;
        case 4: case 12:
          malformed(rng);
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          break;
        default:
          good(rng, false);
          // A well-behaved client: after a 503, wait as Retry-After says (1 s).
          if (retry_after_) std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    }
  }

  void bursts(SoakClock::time_point end) {
    std::mt19937 rng(7);
    auto next = start_ + std::chrono::seconds(o_.burst_every_seconds);
    while (SoakClock::now() < end) {
      if (SoakClock::now() < next) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      next += std::chrono::seconds(o_.burst_every_seconds);
      std::vector<std::thread> burst;
      for (int i = 0; i < o_.burst_size; ++i)
        burst.emplace_back([this, seed = rng()] {
          std::mt19937 r(seed);
          good(r, true);
        });
      for (auto& t : burst) t.join();
    }
  }

  SoakOptions o_;
  static thread_local bool retry_after_;  // this thread's last good request was refused with 503
  std::vector<std::string> sentences_;
  SoakClock::time_point start_;
  std::mutex mutex_;
  SoakReport report_;
  std::vector<double> latencies_;
};

inline thread_local bool Soak::retry_after_ = false;

// Fills o.expected and o.expected_beam with the server's answers to each sentence alone (greedy,
// and beam 4), before the load. False when a request fails.
inline bool learn_expected(SoakOptions& o, const std::vector<std::string>& sentences) {
  httplib::Client c("127.0.0.1", o.port);
  c.set_read_timeout(60, 0);
  httplib::Headers h;
  if (!o.api_key.empty()) h = {{"Authorization", "Bearer " + o.api_key}};
  for (const auto& s : sentences)
    for (const int beam : {1, 4}) {
      const auto res = c.Post("/v1/translate", h, nlohmann::json({{"text", {s}}, {"beam", beam}}).dump(), "application/json");
      if (!res || res->status != 200) return false;
      (beam == 1 ? o.expected : o.expected_beam)[s] =
          nlohmann::json::parse(res->body)["translations"][0]["text"].get<std::string>();
    }
  return true;
}

inline std::string describe(const SoakReport& r) {
  char buf[2048];
  std::snprintf(buf, sizeof buf,
                "good requests: %ld answered right, %ld refused 503, %ld wrong, %ld failed (bursts: %ld right, "
                "%ld refused 503)\n"
                "latency of the good requests answered: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n"
                "malformed: %ld answered 4xx/503, %ld otherwise\n"
                "trickling clients: %ld cut by the server, %ld not cut\n"
                "idle connections: %ld closed by the server, %ld not closed\n"
                "hang-ups mid-request: %ld\n"
                "server resident memory: %ld kB after the warm-up, %ld kB at the end (%+.1f %%), peak %ld kB\n"
                "server alive at the end: %s\n",
                r.good_ok, r.good_503, r.good_wrong, r.good_failed, r.burst_ok, r.burst_503, r.p50_ms, r.p99_ms,
                r.max_ms, r.malformed_4xx, r.malformed_other, r.trickle_cut, r.trickle_not_cut, r.idle_cut,
                r.idle_not_cut, r.hangups, r.rss_after_warmup_kb, r.rss_end_kb,
                r.rss_after_warmup_kb ? 100.0 * (r.rss_end_kb - r.rss_after_warmup_kb) / r.rss_after_warmup_kb : 0.0,
                r.rss_peak_kb, r.server_alive ? "yes" : "NO");
  std::string out = buf;
  for (const auto& p : r.problems) out += "  problem: " + p + "\n";
  return out;
}

}  // namespace attend::soak
