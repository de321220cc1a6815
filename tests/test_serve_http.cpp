// `attend serve` as a user meets it: a process on a loopback port answering HTTP. The load test
// is bounded (4 clients x 40 requests) and compares every answer with `attend translate`.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_serve_support.hpp"

using namespace attend::test;
using nlohmann::json;

namespace {

std::string two_models() {
  return "--model bahdanau=" + quote(serve_models().bahdanau) + " --model luong=" + quote(serve_models().luong);
}

json post(httplib::Client& c, const json& body, int expected_status = 200) {
  const auto res = c.Post("/v1/translate", body.dump(), "application/json");
  REQUIRE(res);
  INFO(res->body);
  CHECK(res->status == expected_status);
  CHECK(res->get_header_value("Content-Type") == "application/json");
  return json::parse(res->body);
}

// `attend translate` on `lines` (one per line) with the given model and options: stdout's lines.
std::vector<std::string> cli_translations(const std::string& model, const std::vector<std::string>& lines,
                                          const std::string& options) {
  TempDir dir;
  std::string input;
  for (const auto& l : lines) input += l + "\n";
  const CliRun r = run_cli(dir, "translate --model " + quote(model) + " " + options, input);
  REQUIRE(r.status == 0);
  return lines_of(r.out);
}

const std::vector<std::string> kSentences = {"abc", "hello", "serve", "attention", "xyzzy", "reverse",
                                             "abcdefg", "qwerty", "a", "batching", "mm", "loopback"};

}  // namespace

TEST_CASE("attend serve answers health, models and the explorer page", "[serve][http]") {
  ServerProcess server(two_models());
  httplib::Client c("127.0.0.1", server.port());
  const auto health = c.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(json::parse(health->body).at("status") == "ok");

  const auto models = c.Get("/v1/models");
  REQUIRE(models);
  const json m = json::parse(models->body).at("models");
  REQUIRE(m.size() == 2);
  CHECK(m[0].at("name") == "bahdanau");
  CHECK(m[1].at("name") == "luong");
  CHECK(m[0].at("config").at("attention") == "bahdanau");
  CHECK(m[1].at("config").at("attention") == "luong-general");
  CHECK(m[0].at("src_vocab").get<int>() > 4);

  const auto page = c.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(contains(page->get_header_value("Content-Type"), "text/html"));
  CHECK(contains(page->body, "attention explorer"));
  // Nothing fetched from elsewhere: the only address in the page is the SVG namespace's name.
  std::string page_text = page->body;
  for (std::size_t at; (at = page_text.find("http://www.w3.org/2000/svg")) != std::string::npos;) page_text.erase(at, 26);
  CHECK_FALSE(contains(page_text, "http:"));
  CHECK_FALSE(contains(page_text, "https:"));
  CHECK_FALSE(contains(page_text, "<link"));
  CHECK_FALSE(contains(page_text, "<script src"));
  CHECK(server.terminate() == 0);
}

TEST_CASE("attend serve translates as attend translate does", "[serve][http]") {
  ServerProcess server(two_models());
  httplib::Client c("127.0.0.1", server.port());
  const json greedy = post(c, {{"text", kSentences}, {"model", "luong"}});
  const auto cli = cli_translations(serve_models().luong, kSentences, "");
  REQUIRE(greedy.at("translations").size() == kSentences.size());
  for (std::size_t i = 0; i < kSentences.size(); ++i) CHECK(greedy["translations"][i].at("text") == cli[i]);

  const json beam = post(c, {{"text", kSentences}, {"model", "bahdanau"}, {"beam", 4}, {"nbest", 3}, {"attention", true}});
  const auto cli_nbest = cli_translations(serve_models().bahdanau, kSentences, "--beam 4 --nbest 3");
  REQUIRE(cli_nbest.size() == 3 * kSentences.size());
  for (std::size_t i = 0; i < kSentences.size(); ++i) {
    const json& t = beam["translations"][i];
    REQUIRE(t.at("nbest").size() == 3);
    for (std::size_t k = 0; k < 3; ++k) {
      const std::string& line = cli_nbest[3 * i + k];  // score<TAB>text
      const auto tab = line.find('\t');
      CHECK(t["nbest"][k].at("text") == line.substr(tab + 1));
      CHECK(t["nbest"][k].at("score").get<double>() == Approx(std::stod(line.substr(0, tab))).margin(1e-5));
    }
    // One attention row per output token (and </s>), one weight per source token, rows sum to 1.
    const std::size_t rows = t.at("tokens").size() + (t.at("finished").get<bool>() ? 1 : 0);
    REQUIRE(t.at("attention").size() == rows);
    for (const auto& row : t["attention"]) {
      CHECK(row.size() == t.at("source_tokens").size());
      double sum = 0;
      for (const auto& w : row) sum += w.get<double>();
      CHECK(sum == Approx(1).margin(1e-4));
    }
  }
  CHECK(server.terminate() == 0);
}

TEST_CASE("attend serve answers bad requests with a 4xx and a JSON reason and stays up", "[serve][http]") {
  ServerProcess server(two_models() + " --max-body 4000 --max-lines 4 --max-tokens 20 --max-beam 5");
  httplib::Client c("127.0.0.1", server.port());
  const auto check_error = [&](const httplib::Result& res, int status, const std::string& expected) {
    REQUIRE(res);
    INFO(res->body);
    CHECK(res->status == status);
    CHECK(contains(json::parse(res->body).at("error").get<std::string>(), expected));
  };
  check_error(c.Post("/v1/translate", "{\"text\": [", "application/json"), 400, "not valid JSON");
  check_error(c.Post("/v1/translate", R"({"text": "abc"})", "application/json"), 400, "must be a list of strings");
  check_error(c.Post("/v1/translate", R"({"text": ["abc"], "model": "x"})", "application/json"), 400, "unknown model");
  check_error(c.Post("/v1/translate", R"({"text": ["abc"], "beam": 6})", "application/json"), 400, "from 1 to 5");
  check_error(c.Post("/v1/translate", R"({"text": ["a", "b", "c", "d", "e"]})", "application/json"), 413, "limit of 4");
  check_error(c.Post("/v1/translate", json({{"text", {std::string(21, 'a')}}}).dump(), "application/json"), 413,
              "21 tokens");
  check_error(c.Post("/v1/translate", std::string(5000, ' '), "application/json"), 413, "larger than the limit");
  check_error(c.Get("/v2/nothing"), 404, "no GET /v2/nothing");
  // Still answering.
  const json ok = post(c, {{"text", {"abc"}}});
  CHECK(ok.at("translations").size() == 1);
  CHECK(server.terminate() == 0);
}

TEST_CASE("concurrent clients are all answered with the CLI's translations", "[serve][http][load]") {
  ServerProcess server(two_models() + " --workers 2");
  const auto cli_luong = cli_translations(serve_models().luong, kSentences, "--beam 3");
  const auto cli_bahdanau = cli_translations(serve_models().bahdanau, kSentences, "--beam 3");
  constexpr int kClients = 4, kRequests = 40;
  std::mutex m;
  std::vector<std::string> problems;
  int answered = 0;
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t)
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", server.port());
      for (int i = 0; i < kRequests; ++i) {
        // 1-3 sentences per request, alternating models.
        const std::size_t first = (t * 7 + i * 5) % kSentences.size(), n = 1 + (t + i) % 3;
        const bool luong = (t + i) % 2 == 0;
        json text = json::array();
        for (std::size_t k = 0; k < n; ++k) text.push_back(kSentences[(first + k) % kSentences.size()]);
        const json body = {{"text", text}, {"model", luong ? "luong" : "bahdanau"}, {"beam", 3}};
        const auto res = c.Post("/v1/translate", body.dump(), "application/json");
        std::lock_guard<std::mutex> lock(m);
        if (!res || res->status != 200) {
          problems.push_back("client " + std::to_string(t) + " request " + std::to_string(i) + " failed");
          continue;
        }
        const json answer = json::parse(res->body);
        for (std::size_t k = 0; k < n; ++k) {
          const std::string& expected = (luong ? cli_luong : cli_bahdanau)[(first + k) % kSentences.size()];
          if (answer["translations"][k]["text"] != expected)
            problems.push_back("client " + std::to_string(t) + " request " + std::to_string(i) + ": " +
                               answer["translations"][k]["text"].dump() + " instead of " + expected);
        }
        ++answered;
      }
    });
  for (auto& c : clients) c.join();
  for (const auto& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());
  CHECK(answered == kClients * kRequests);
  httplib::Client c("127.0.0.1", server.port());
  const json health = json::parse(c.Get("/health")->body);
  CHECK(health.at("requests") == kClients * kRequests);
  CHECK(server.terminate() == 0);
  CHECK(contains(server.log(), "stopped after 160 translate requests"));
}

TEST_CASE("SIGTERM lets the request in flight finish and exits 0", "[serve][http]") {
  ServerProcess server(two_models());
  // A slow request: 64 long lines, each searched with a beam of 16.
  json text = json::array();
  for (int i = 0; i < 64; ++i) text.push_back(std::string(200, static_cast<char>('a' + i % 26)));
  int answer_status = 0;
  std::string answer_body;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(60, 0);
    const auto res = c.Post("/v1/translate", json({{"text", text}, {"beam", 16}, {"nbest", 16}, {"attention", true}}).dump(),
                            "application/json");
    if (res) answer_status = res->status, answer_body = res->body;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  httplib::Client probe("127.0.0.1", server.port());
  const auto health = probe.Get("/health");
  REQUIRE(health);
  CHECK(json::parse(health->body).at("requests") == 0);  // still being decoded
  const int status = server.terminate();
  client.join();
  CHECK(status == 0);
  REQUIRE(answer_status == 200);
  CHECK(json::parse(answer_body).at("translations").size() == 64);
  CHECK(contains(server.log(), "stopped after 1 translate requests"));
}

TEST_CASE("attend serve refuses a missing model file and an unusable address with exit 2", "[serve][http]") {
  TempDir dir;
  const CliRun missing = run_cli(dir, "serve --model nothing.safetensors --port 0");
  CHECK(missing.status == 2);
  CHECK(contains(missing.err, "nothing.safetensors"));
  const CliRun address = run_cli(dir, "serve --model " + quote(serve_models().luong) + " --host 203.0.113.9 --insecure-no-auth --port 0");
  CHECK(address.status == 2);
  CHECK(contains(address.err, "cannot listen on 203.0.113.9"));
  const CliRun none = run_cli(dir, "serve --port 0");
  CHECK(none.status == 2);
  CHECK(contains(none.err, "--model"));
}
