// `attend serve` facing a network (issue 26, docs/serve.md "Facing a network"): API keys, the
// refusal to listen beyond loopback without them, connection and queue limits, timeouts and
// deadlines, the metrics in Prometheus' format and the access log. Every server here listens on
// 127.0.0.1; assertions are on behaviour (statuses, closed connections), with generous waits.
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <attend/serve/access.hpp>
#include <attend/serve/explorer.hpp>
#include <attend/serve/metrics.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "../bench/serve_soak.hpp"
#include "test_serve_support.hpp"

using namespace attend;
using namespace attend::test;
using attend::soak::RawConnection;
using nlohmann::json;

namespace {

const std::string kKey = "test-key-0123456789abcdef";

std::string key_file(const TempDir& dir, const std::string& content, mode_t mode = 0600) {
  const std::string path = dir.file("keys.txt");
  write_file(path, content);
  chmod(path.c_str(), mode);
  return path;
}

httplib::Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

// A request that keeps a worker busy for a while: 64 long lines, each searched with a wide beam.
json slow_request() {
  json text = json::array();
  for (int i = 0; i < 64; ++i) text.push_back(std::string(200, static_cast<char>('a' + i % 26)));
  return {{"text", text}, {"beam", 16}, {"nbest", 16}, {"attention", true}};
}

// Runs /usr/bin/python3 with prometheus_client's parser over `text`: its summary on stdout, or
// an exception's message and a non-zero status.
CliRun parse_with_prometheus_client(const TempDir& dir, const std::string& text) {
  write_file(dir.file("metrics.txt"), text);
  write_file(dir.file("parse.py"),
             "import json, sys\n"
             "from prometheus_client.parser import text_string_to_metric_families\n"
             "for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
             "    for s in f.samples:\n"
             "        labels = ','.join(k + '=' + v for k, v in sorted(s.labels.items()))\n"
             "        print(json.dumps([f.type, s.name, labels, float(s.value)]))\n");
  CliRun r;
  const std::string out = dir.file("parsed.txt"), err = dir.file("parse.err");
  const int status = std::system(("/usr/bin/python3 " + quote(dir.file("parse.py")) + " " + quote(dir.file("metrics.txt")) +
                                  " >" + quote(out) + " 2>" + quote(err)).c_str());
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// The value of the parsed sample `name` with exactly `labels` ("a=x,b=y", sorted), or -1.
double sample(const std::string& parsed, const std::string& name, const std::string& labels) {
  for (const auto& line : lines_of(parsed)) {
    const json s = json::parse(line);  // [family type, sample name, labels, value]
    if (s[1] == name && s[2] == labels) return s[3].get<double>();
  }
  return -1;
}
bool has_family(const std::string& parsed, const std::string& type, const std::string& name) {
  for (const auto& line : lines_of(parsed)) {
    const json s = json::parse(line);
    if (s[0] == type && s[1].get<std::string>().rfind(name, 0) == 0) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("an API key is accepted only as a Bearer header with a listed key", "[serve][access]") {
  const ApiKeys keys({"first-key-0123456789", "second-key-0123456789"});
  CHECK(keys.accepts("Bearer first-key-0123456789"));
  CHECK(keys.accepts("bearer second-key-0123456789"));
  CHECK_FALSE(keys.accepts(""));
  CHECK_FALSE(keys.accepts("first-key-0123456789"));
  CHECK_FALSE(keys.accepts("Basic first-key-0123456789"));
  CHECK_FALSE(keys.accepts("Bearer first-key-012345678"));
  CHECK_FALSE(keys.accepts("Bearer first-key-01234567890"));
  CHECK_FALSE(keys.accepts("Bearer "));
  CHECK(ApiKeys().accepts(""));  // no keys: no access control
}

TEST_CASE("constant_time_equal agrees with == on equal, different and differently long strings", "[serve][access]") {
  for (const std::string a : {"", "a", "abcdef", "abcdeg", "abcdefg", "bbcdef"})
    for (const std::string b : {"a", "abcdef", "abcdeg", "abcdefg"}) CHECK(constant_time_equal(a, b) == (a == b));
}

TEST_CASE("a key file is read one key per line with comments and blank lines skipped", "[serve][access]") {
  TempDir dir;
  const ApiKeys keys = ApiKeys::load(key_file(dir, "# keys\n\n  " + kKey + "  \nanother-key-0123456789\n"));
  CHECK(keys.size() == 2);
  CHECK(keys.accepts("Bearer " + kKey));
  CHECK(keys.accepts("Bearer another-key-0123456789"));
}

TEST_CASE("a key file others may read, an empty one, or one with a short key is refused", "[serve][access]") {
  TempDir dir;
  CHECK_THROWS_WITH(ApiKeys::load(key_file(dir, kKey + "\n", 0644)), Catch::Contains("chmod 600"));
  CHECK_THROWS_WITH(ApiKeys::load(key_file(dir, "# nothing\n\n")), Catch::Contains("holds no key"));
  CHECK_THROWS_WITH(ApiKeys::load(key_file(dir, "short\n")), Catch::Contains("at least 16 characters"));
  CHECK_THROWS_WITH(ApiKeys::load(key_file(dir, "with a space 0123456789\n")), Catch::Contains("printable ASCII"));
  CHECK_THROWS_WITH(ApiKeys::load(dir.file("missing.txt")), Catch::Contains("cannot be read"));
}

TEST_CASE("loopback addresses are told from the others", "[serve][access]") {
  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("127.1.2.3"));
  CHECK(is_loopback_host("::1"));
  CHECK(is_loopback_host("localhost"));
  CHECK_FALSE(is_loopback_host("0.0.0.0"));
  CHECK_FALSE(is_loopback_host("::"));
  CHECK_FALSE(is_loopback_host("192.168.1.10"));
  CHECK_FALSE(is_loopback_host("example.org"));
}

TEST_CASE("the metrics registry writes text that prometheus_client parses", "[serve][metrics]") {
  Metrics m;
  m.counter("demo_requests_total", "Requests, by status.");
  m.gauge("demo_queue", "Waiting.");
  m.histogram("demo_seconds", "Latency.", {0.1, 1});
  m.add("demo_requests_total", {{"status", "200"}}, 3);
  m.add("demo_requests_total", {{"status", "a \"quoted\" \\ value\nnext"}});
  m.set("demo_queue", 4);
  m.observe("demo_seconds", 0.05);
  m.observe("demo_seconds", 0.5);
  m.observe("demo_seconds", 5);
  CHECK(m.value("demo_requests_total", {{"status", "200"}}) == 3);
  CHECK_THROWS(m.add("demo_queue"));        // a gauge is not a counter
  CHECK_THROWS(m.add("undeclared_total"));
  TempDir dir;
  const CliRun parsed = parse_with_prometheus_client(dir, m.render());
  INFO(m.render() << parsed.err);
  REQUIRE(parsed.status == 0);
  CHECK(sample(parsed.out, "demo_requests_total", "status=200") == 3);
  CHECK(sample(parsed.out, "demo_requests_total", "status=a \"quoted\" \\ value\nnext") == 1);
  CHECK(sample(parsed.out, "demo_queue", "") == 4);
  CHECK(sample(parsed.out, "demo_seconds_bucket", "le=0.1") == 1);
  CHECK(sample(parsed.out, "demo_seconds_bucket", "le=1") == 2);
  CHECK(sample(parsed.out, "demo_seconds_bucket", "le=+Inf") == 3);
  CHECK(sample(parsed.out, "demo_seconds_count", "") == 3);
  CHECK(sample(parsed.out, "demo_seconds_sum", "") == Approx(5.55));
}

TEST_CASE("serve refuses a non-loopback host without an API key file before binding", "[serve][access]") {
  TempDir dir;
  // The model is not even loaded: the refusal comes first (and nothing is bound).
  const CliRun r = run_cli(dir, "serve --model not-loaded.safetensors --host 0.0.0.0 --port 0");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--api-key-file"));
  CHECK(contains(r.err, "--insecure-no-auth"));
  CHECK_FALSE(contains(r.err, "not-loaded.safetensors"));
  const CliRun readable =
      run_cli(dir, "serve --model not-loaded.safetensors --api-key-file " + quote(key_file(dir, kKey + "\n", 0644)));
  CHECK(readable.status == 2);
  CHECK(contains(readable.err, "chmod 600"));
}

TEST_CASE("with a key file a request without the key gets 401", "[serve][access][http]") {
  TempDir dir;
  ServerProcess server("--model " + quote(serve_models().luong) + " --api-key-file " + quote(key_file(dir, kKey + "\n")));
  httplib::Client c("127.0.0.1", server.port());
  const std::string body = json({{"text", {"abc"}}}).dump();
  const auto none = c.Post("/v1/translate", body, "application/json");
  REQUIRE(none);
  CHECK(none->status == 401);
  CHECK(contains(none->get_header_value("WWW-Authenticate"), "Bearer"));
  CHECK(contains(json::parse(none->body).at("error").get<std::string>(), "API key"));
  const auto wrong = c.Post("/v1/translate", bearer("wrong-key-0123456789abcdef"), body, "application/json");
  REQUIRE(wrong);
  CHECK(wrong->status == 401);
  for (const char* path : {"/health", "/metrics", "/v1/models"}) {
    const auto res = c.Get(path);
    REQUIRE(res);
    CHECK(res->status == 401);
  }
  const auto ok = c.Post("/v1/translate", bearer(kKey), body, "application/json");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  const auto page = c.Get("/");  // the explorer page holds no data; it asks for the key itself
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(contains(page->body, "Authorization"));
  CHECK(server.terminate() == 0);
}

TEST_CASE("a client that sends nothing is disconnected after the read timeout", "[serve][limits][http]") {
  ServerProcess server("--model " + quote(serve_models().luong) + " --read-timeout 1");
  RawConnection idle(server.port());
  REQUIRE(idle.ok());
  CHECK(idle.closed_within(30000));
  CHECK(server.terminate() == 0);  // the log is complete only after the server has ended
  CHECK(contains(server.log(), "cut: no request within --read-timeout"));
}

TEST_CASE("a trickling client cannot hold the only HTTP thread past the request timeout", "[serve][limits][http]") {
  ServerProcess server("--model " + quote(serve_models().luong) +
                       " --http-threads 1 --max-connections 8 --read-timeout 10 --request-timeout 2");
  // One byte every 200 ms: each arrives well within the read timeout, but the whole request
  // would take over 30 s.
  RawConnection slow(server.port());
  REQUIRE(slow.ok());
  std::atomic<bool> cut{false};
  std::thread trickler([&] {
    const std::string request = "POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                "Content-Length: 150\r\n\r\n" + std::string(150, ' ');
    for (std::size_t i = 0; i < request.size(); ++i)
      if (!slow.send_all(request.substr(i, 1)) || slow.closed_within(200)) {
        cut = true;
        return;
      }
  });
  // This request waits for the one HTTP thread, which it gets only when the trickler is cut.
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60, 0);
  const auto res = c.Post("/v1/translate", json({{"text", {"abc"}}}).dump(), "application/json");
  trickler.join();
  CHECK(cut);
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(server.terminate() == 0);  // the log is complete only after the server has ended
  CHECK(contains(server.log(), "longer than --request-timeout"));
}

TEST_CASE("connections beyond max-connections are answered 503 with Retry-After", "[serve][limits][http]") {
  ServerProcess server("--model " + quote(serve_models().luong) +
                       " --http-threads 1 --max-connections 2 --read-timeout 60");
  // Two idle connections fill the pool (one served, one waiting), so the third is refused.
  RawConnection first(server.port()), second(server.port());
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60, 0);
  const auto res = c.Get("/health");
  REQUIRE(res);
  CHECK(res->status == 503);
  CHECK(res->get_header_value("Retry-After") == "1");
  CHECK(server.terminate() == 0);  // the log is complete only after the server has ended
  CHECK(contains(server.log(), "refused (--max-connections 2"));
}

TEST_CASE("a full decode queue answers 503 with Retry-After and every request ends 200 or 503",
          "[serve][limits][http]") {
  ServerProcess server("--model " + quote(serve_models().bahdanau) + " --workers 1 --max-queue 1 --max-tokens 256");
  std::mutex m;
  std::vector<int> statuses;
  std::vector<std::string> retry_after;
  std::vector<std::thread> clients;
  for (int i = 0; i < 5; ++i)
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", server.port());
      c.set_read_timeout(300, 0);
      const auto res = c.Post("/v1/translate", slow_request().dump(), "application/json");
      std::lock_guard<std::mutex> lock(m);
      statuses.push_back(res ? res->status : -1);
      if (res && res->status == 503) retry_after.push_back(res->get_header_value("Retry-After"));
    });
  for (auto& t : clients) t.join();
  int ok = 0, busy = 0;
  for (const int s : statuses) {
    if (s == 200) ++ok;
    if (s == 503) ++busy;
  }
  CHECK(ok + busy == 5);
  CHECK(ok >= 1);
  CHECK(busy >= 1);
  for (const auto& r : retry_after) CHECK(r == "1");
  CHECK(server.terminate() == 0);
}

TEST_CASE("requests past their deadline are answered 503 and not decoded", "[serve][limits][http]") {
  // One worker, four slow requests at once (64 lines each, so none batch together) and a
  // deadline of 50 ms: those that wait behind the first decode pass it.
  ServerProcess server("--model " + quote(serve_models().bahdanau) + " --workers 1 --deadline 0.05");
  std::mutex m;
  int ok = 0, late = 0, other = 0;
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", server.port());
      c.set_read_timeout(300, 0);
      const auto res = c.Post("/v1/translate", slow_request().dump(), "application/json");
      std::lock_guard<std::mutex> lock(m);
      if (res && res->status == 200) ++ok;
      else if (res && res->status == 503 && contains(res->body, "deadline")) ++late;
      else ++other;
    });
  for (auto& t : clients) t.join();
  CHECK(other == 0);
  CHECK(late >= 1);
  // The worker drops the late requests when it next looks at the queue: their lines are never
  // decoded.
  httplib::Client c("127.0.0.1", server.port());
  c.set_keep_alive(true);
  TempDir dir;
  std::string parsed;
  double dropped = 0, decoded = 0;
  for (int i = 0; i < 300 && dropped + decoded / 64 < 4; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto res = c.Get("/metrics");
    REQUIRE(res);
    const std::string parsed = parse_with_prometheus_client(dir, res->body).out;
    dropped = std::max(0.0, sample(parsed, "attend_requests_dropped_total", "reason=deadline"));
    decoded = std::max(0.0, sample(parsed, "attend_decoded_lines_total", "model=bahdanau"));
  }
  CHECK(dropped >= 1);
  CHECK(decoded >= 64 * ok);
  CHECK(dropped + decoded / 64 == 4);  // each request either decoded (64 lines) or dropped
  CHECK(server.terminate() == 0);
}

TEST_CASE("a request whose client hangs up while it waits is dropped from the queue", "[serve][limits][http]") {
  ServerProcess server("--model " + quote(serve_models().bahdanau) + " --workers 1");
  // Three slow requests keep the one worker busy; the fourth, sent raw, is queued behind them
  // and its client hangs up at once.
  std::vector<std::thread> busy;
  for (int i = 0; i < 3; ++i)
    busy.emplace_back([&] {
      httplib::Client c("127.0.0.1", server.port());
      c.set_read_timeout(300, 0);
      c.Post("/v1/translate", slow_request().dump(), "application/json");
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  {
    const std::string body = json({{"text", {"abc"}}}).dump();
    RawConnection gone(server.port());
    REQUIRE(gone.ok());
    REQUIRE(gone.send_all("POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
  }
  for (auto& t : busy) t.join();
  httplib::Client c("127.0.0.1", server.port());
  double dropped = 0;
  for (int i = 0; i < 300 && dropped < 1; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto res = c.Get("/metrics");
    REQUIRE(res);
    if (contains(res->body, "attend_requests_dropped_total{reason=\"abandoned\"} 1")) dropped = 1;
  }
  CHECK(dropped == 1);
  CHECK(server.terminate() == 0);
  CHECK(contains(server.log(), "POST /v1/translate 499 "));
}

TEST_CASE("GET /metrics is parsed by prometheus_client and counts the requests", "[serve][metrics][http]") {
  ServerProcess server("--model " + quote(serve_models().luong));
  httplib::Client c("127.0.0.1", server.port());
  c.set_keep_alive(true);  // one connection: each answer is counted before the next request is read
  for (int i = 0; i < 3; ++i) REQUIRE(c.Post("/v1/translate", json({{"text", {"abc", "hello"}}}).dump(), "application/json")->status == 200);
  REQUIRE(c.Post("/v1/translate", "{", "application/json")->status == 400);
  const auto res = c.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(contains(res->get_header_value("Content-Type"), "text/plain; version=0.0.4"));
  TempDir dir;
  const CliRun parsed = parse_with_prometheus_client(dir, res->body);
  INFO(res->body << parsed.err);
  REQUIRE(parsed.status == 0);
  CHECK(sample(parsed.out, "attend_http_requests_total", "method=POST,path=/v1/translate,status=200") == 3);
  CHECK(sample(parsed.out, "attend_http_requests_total", "method=POST,path=/v1/translate,status=400") == 1);
  CHECK(sample(parsed.out, "attend_http_request_duration_seconds_count", "path=/v1/translate") == 4);
  CHECK(sample(parsed.out, "attend_decoded_lines_total", "model=luong") == 6);
  CHECK(sample(parsed.out, "attend_decoded_tokens_total", "model=luong") > 0);
  CHECK(sample(parsed.out, "attend_batch_lines_count", "") >= 1);
  CHECK(sample(parsed.out, "attend_queue_requests", "") == 0);
  CHECK(sample(parsed.out, "attend_queue_limit", "") == 64);
  CHECK(has_family(parsed.out, "gauge", "attend_model_info"));
  CHECK(contains(parsed.out, "file=luong.safetensors,model=luong,summary=gru encoder"));
  for (const char* family : {"attend_http_connections", "attend_workers", "attend_model_load_timestamp_seconds"})
    CHECK(has_family(parsed.out, "gauge", family));
  for (const char* family : {"attend_batch_requests", "attend_decode_seconds"})
    CHECK(has_family(parsed.out, "histogram", family));
  CHECK(server.terminate() == 0);
}

TEST_CASE("the access log has a line per request and the text only when asked", "[serve][metrics][http]") {
  const std::string body = json({{"text", {"secretword", "abc"}}}).dump();
  {
    ServerProcess server("--model " + quote(serve_models().luong));
    httplib::Client c("127.0.0.1", server.port());
    REQUIRE(c.Post("/v1/translate", body, "application/json")->status == 200);
    REQUIRE(c.Get("/nowhere")->status == 404);
    CHECK(server.terminate() == 0);
    const std::string log = server.log();
    CHECK(contains(log, "127.0.0.1 POST /v1/translate 200 "));
    CHECK(contains(log, "lines=2"));
    CHECK(contains(log, "127.0.0.1 GET /nowhere 404 "));
    CHECK_FALSE(contains(log, "secretword"));
  }
  ServerProcess server("--model " + quote(serve_models().luong) + " --access-log-text");
  httplib::Client c("127.0.0.1", server.port());
  REQUIRE(c.Post("/v1/translate", body, "application/json")->status == 200);
  CHECK(server.terminate() == 0);
  CHECK(contains(server.log(), "text=\"secretword\\nabc\""));
}

TEST_CASE("SIGHUP reloads the models while a request in flight is answered", "[serve][reload][http]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  std::filesystem::copy_file(serve_models().bahdanau, path);
  ServerProcess server("--model " + quote(path));
  int status = 0;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(300, 0);
    const auto res = c.Post("/v1/translate", slow_request().dump(), "application/json");
    status = res ? res->status : -1;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // Replace the file (a new inode, as a deployment would), then ask for the reload.
  std::filesystem::copy_file(serve_models().luong, dir.file("new.safetensors"));
  std::filesystem::rename(dir.file("new.safetensors"), path);
  REQUIRE(kill(server.pid(), SIGHUP) == 0);
  httplib::Client c("127.0.0.1", server.port());
  std::string attention;
  for (int i = 0; i < 600 && attention != "luong-general"; ++i) {
    const auto models = c.Get("/v1/models");
    REQUIRE(models);
    attention = json::parse(models->body)["models"][0]["config"]["attention"].get<std::string>();
    if (attention != "luong-general") std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(attention == "luong-general");
  client.join();
  CHECK(status == 200);
  const auto after = c.Post("/v1/translate", json({{"text", {"abc"}}}).dump(), "application/json");
  REQUIRE(after);
  CHECK(after->status == 200);
  CHECK(server.terminate() == 0);
  CHECK(contains(server.log(), "reloaded the models"));
}

TEST_CASE("a SIGHUP with a broken model file keeps serving the models loaded before", "[serve][reload][http]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  std::filesystem::copy_file(serve_models().luong, path);
  ServerProcess server("--model " + quote(path));
  write_file(path, "not a model");
  REQUIRE(kill(server.pid(), SIGHUP) == 0);
  for (int i = 0; i < 600 && !contains(server.log(), "reload failed"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(contains(server.log(), "reload failed, still serving the models loaded before"));
  httplib::Client c("127.0.0.1", server.port());
  const auto res = c.Post("/v1/translate", json({{"text", {"abc"}}}).dump(), "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(server.terminate() == 0);
}

TEST_CASE("the explorer page draws exact zero weights hatched with a legend", "[serve][explorer]") {
  const std::string& page = attend::explorer_page();
  CHECK(contains(page, "<pattern id=\"zero-hatch\""));
  CHECK(contains(page, "fill: zero ? \"url(#zero-hatch)\" : shade(w)"));
  CHECK(contains(page, "w === 0"));
  CHECK(contains(page, "function zeroLegend"));
  CHECK(contains(page, "exactly 0 (a sparse attention"));
}

TEST_CASE("with --tls-cert and --tls-key serve answers HTTPS and checks the key inside it", "[serve][tls][http]") {
  TempDir dir;
  const std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
  const int made = std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                                "-addext subjectAltName=IP:127.0.0.1 -keyout " + quote(key) + " -out " + quote(cert) +
                                " >/dev/null 2>&1").c_str());
  if (made != 0) {
    WARN("no openssl command: the TLS test is skipped");
    return;
  }
  ServerProcess server("--model " + quote(serve_models().luong) + " --tls-cert " + quote(cert) + " --tls-key " +
                       quote(key) + " --api-key-file " + quote(key_file(dir, kKey + "\n")));
  CHECK(contains(server.log(), "on https://127.0.0.1:"));
  httplib::SSLClient tls("127.0.0.1", server.port());
  tls.set_ca_cert_path(cert.c_str());
  tls.enable_server_certificate_verification(true);
  tls.set_read_timeout(60, 0);
  const auto refused = tls.Get("/health");
  REQUIRE(refused);
  CHECK(refused->status == 401);
  const auto res = tls.Post("/v1/translate", bearer(kKey), json({{"text", {"abc"}}}).dump(), "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(json::parse(res->body).at("translations").size() == 1);
  // Plain HTTP on the TLS port gets no answer.
  httplib::Client plain("127.0.0.1", server.port());
  plain.set_read_timeout(30, 0);
  const auto nothing = plain.Get("/health");
  CHECK((!nothing || nothing->status >= 400));
  CHECK(server.terminate() == 0);
}

TEST_CASE("serve refuses a TLS certificate without its key and a key that does not match", "[serve][tls]") {
  TempDir dir;
  const CliRun alone = run_cli(dir, "serve --model " + quote(serve_models().luong) + " --tls-cert x.pem --port 0");
  CHECK(alone.status == 2);
  CHECK(contains(alone.err, "--tls-cert and --tls-key go together"));
  write_file(dir.file("x.pem"), "not a certificate");
  const CliRun bad = run_cli(dir, "serve --model " + quote(serve_models().luong) +
                                      " --tls-cert " + quote(dir.file("x.pem")) + " --tls-key " + quote(dir.file("x.pem")) +
                                      " --port 0");
  CHECK(bad.status == 2);
  CHECK(contains(bad.err, "not a readable PEM certificate"));
}
