// The serve layer without HTTP: the request parser's answers to good and bad bodies, the JSON it
// writes back, and the batching service's translations against the Translator's.
#include <catch2/catch.hpp>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "attend/serve/request.hpp"
#include "attend/serve/service.hpp"
#include "test_serve_support.hpp"

using namespace attend;
using attend::test::contains;
using nlohmann::json;

namespace {

const std::vector<std::string> kModels = {"bahdanau", "luong"};

TranslateRequest parse(const std::string& body, const ServeLimits& limits = {}) {
  return parse_translate_request(body, kModels, limits);
}

// The status and message parse() refuses `body` with (0, "" when it accepts it).
std::pair<int, std::string> refusal(const std::string& body, const ServeLimits& limits = {}) {
  try {
    parse(body, limits);
  } catch (const RequestError& e) {
    return {e.status(), e.what()};
  }
  return {0, ""};
}

std::vector<ServedModel> both_models() {
  std::vector<ServedModel> m;
  m.push_back({"bahdanau", attend::test::serve_models().bahdanau, Translator::load(attend::test::serve_models().bahdanau)});
  m.push_back({"luong", attend::test::serve_models().luong, Translator::load(attend::test::serve_models().luong)});
  return m;
}

}  // namespace

TEST_CASE("a translate request is read into its fields", "[serve]") {
  const TranslateRequest r = parse(R"({"text": ["abc", ""], "model": "luong", "beam": 4, "nbest": 2, "attention": true})");
  CHECK(r.text == std::vector<std::string>{"abc", ""});
  CHECK(r.model == "luong");
  CHECK(r.beam == 4);
  CHECK(r.nbest == 2);
  CHECK(r.attention);
}

TEST_CASE("a request without options asks the first model for greedy search without attention", "[serve]") {
  const TranslateRequest r = parse(R"({"text": ["abc"]})");
  CHECK(r.model == "bahdanau");
  CHECK(r.beam == 1);
  CHECK(r.nbest == 1);
  CHECK_FALSE(r.attention);
  CHECK(parse(R"({"text": ["abc"], "beam": 3.0})").beam == 3);  // a JSON number written with a point
}

TEST_CASE("malformed JSON is refused with 400 and the parser's position", "[serve]") {
  // 1e999: a number beyond double's range, which the JSON parser reports as out_of_range (found
  // by fuzz_serve_request).
  for (const char* body : {"", "{", "{\"text\": [\"a\"]", "text=abc", "{\"text\": [\"a\"],}",
                           "{\"text\": [\"a\"], \"beam\": -1e999}"}) {
    const auto [status, message] = refusal(body);
    INFO(body);
    CHECK(status == 400);
    CHECK(contains(message, "not valid JSON"));
  }
}

TEST_CASE("fields of the wrong type are refused with 400 naming the field", "[serve]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"([1, 2])", "must be a JSON object"},
      {R"({"text": "abc"})", "\"text\" must be a list of strings, not a string"},
      {R"({"text": [1]})", "\"text\"[0] must be a string, not a number"},
      {R"({"text": ["a", null]})", "\"text\"[1] must be a string, not null"},
      {R"({"text": ["a"], "model": 3})", "\"model\" must be a string"},
      {R"({"text": ["a"], "beam": "3"})", "\"beam\" must be a whole number from 1 to 16, not a string"},
      {R"({"text": ["a"], "beam": 2.5})", "\"beam\" must be a whole number from 1 to 16, not 2.5"},
      {R"({"text": ["a"], "beam": true})", "not a boolean"},
      {R"({"text": ["a"], "attention": "yes"})", "\"attention\" must be true or false"},
      {R"({"model": "luong"})", "missing field \"text\""},
      {R"({"text": []})", "\"text\" is empty"},
      {R"({"text": ["a"], "beem": 2})", "unknown field \"beem\""},
  };
  for (const auto& [body, expected] : cases) {
    const auto [status, message] = refusal(body);
    INFO(body << " -> " << message);
    CHECK(status == 400);
    CHECK(contains(message, expected));
  }
}

TEST_CASE("out-of-range options are refused with 400", "[serve]") {
  ServeLimits limits;
  limits.max_beam = 8;
  for (const char* body : {R"({"text": ["a"], "beam": 0})", R"({"text": ["a"], "beam": -2})",
                           R"({"text": ["a"], "beam": 9})", R"({"text": ["a"], "nbest": 0})",
                           R"({"text": ["a"], "beam": 1e30})", R"({"text": ["a"], "beam": 18446744073709551615})"}) {
    const auto [status, message] = refusal(body, limits);
    INFO(body << " -> " << message);
    CHECK(status == 400);
    CHECK(contains(message, "from 1 to 8"));
  }
  const auto [status, message] = refusal(R"({"text": ["a"], "beam": 2, "nbest": 3})");
  CHECK(status == 400);
  CHECK(contains(message, "\"nbest\" 3 needs at least as wide a beam"));
}

TEST_CASE("an unknown model is refused with 400 listing the loaded ones", "[serve]") {
  const auto [status, message] = refusal(R"({"text": ["a"], "model": "transformer"})");
  CHECK(status == 400);
  CHECK(contains(message, "unknown model \"transformer\" (loaded: bahdanau, luong)"));
}

TEST_CASE("requests over the size limits are refused with 413", "[serve]") {
  ServeLimits limits;
  limits.max_lines = 2;
  limits.max_line_bytes = 5;
  limits.max_body_bytes = 60;
  CHECK(refusal(R"({"text": ["a", "b", "c"]})", limits).first == 413);
  CHECK(contains(refusal(R"({"text": ["a", "b", "c"]})", limits).second, "3 entries, more than the limit of 2"));
  CHECK(refusal(R"({"text": ["abcdef"]})", limits).first == 413);
  CHECK(refusal(R"({"text": ["a"], "model": "bahdanau", "beam": 1, "nbest": 1, "attention": false})", limits).first == 413);
  CHECK(refusal(R"({"text": ["abcde", "b"]})", limits).first == 0);
}

TEST_CASE("text that is not one line of valid UTF-8 is refused with 400", "[serve]") {
  CHECK(contains(refusal("{\"text\": [\"ab\\ncd\"]}").second, "line break"));
  CHECK(contains(refusal("{\"text\": [\"a\\ud800b\"]}").second, "not valid JSON"));  // lone surrogate
  // Raw bytes that are not UTF-8 inside a JSON string: the JSON parser refuses them already.
  CHECK(refusal("{\"text\": [\"a\xff\"]}").first == 400);
}

TEST_CASE("the answer has the translation's fields and attention only when asked for", "[serve]") {
  ServedTranslation t;
  t.text = "cba";
  t.tokens = {"c", "b", "a"};
  t.source_tokens = {"a", "b", "c"};
  t.score = -0.5;
  t.finished = true;
  t.attention = {{0.1f, 0.2f, 0.7f}};
  t.nbest.push_back({"cba", {"c", "b", "a"}, -0.5, -0.5, true, {}});
  TranslateRequest r;
  r.text = {"abc"};
  const json without = json::parse(translations_json({t}, r));
  const json& one = without.at("translations").at(0);
  CHECK(one.at("text") == "cba");
  CHECK(one.at("tokens") == json({"c", "b", "a"}));
  CHECK(one.at("source_tokens") == json({"a", "b", "c"}));
  CHECK(one.at("score") == -0.5);
  CHECK(one.at("nbest").at(0).at("text") == "cba");
  CHECK_FALSE(one.contains("attention"));
  r.attention = true;
  const json with = json::parse(translations_json({t}, r));
  CHECK(with["translations"][0]["attention"][0][2].get<double>() == Approx(0.7));
  CHECK(json::parse(error_json("bad \"x\"")).at("error") == "bad \"x\"");
}

TEST_CASE("the service translates as the Translator does, for each model and search", "[serve]") {
  ServiceOptions o;
  TranslationService service(both_models(), o);
  const std::vector<std::string> lines = {"abcde", "", "hello", "xyz"};
  for (const char* model : {"bahdanau", "luong"}) {
    const Translator tr = Translator::load(model == std::string("luong") ? attend::test::serve_models().luong
                                                                         : attend::test::serve_models().bahdanau);
    for (const std::size_t beam : {1, 4}) {
      TranslateRequest r;
      r.text = lines;
      r.model = model;
      r.beam = beam;
      r.nbest = beam == 1 ? 1 : 3;
      r.attention = true;
      SearchOptions s;
      s.beam = r.beam;
      s.nbest = r.nbest;
      s.keep_attention = true;
      const auto expected = tr.translate(lines, s);
      const auto got = service.translate(r);
      REQUIRE(got.size() == lines.size());
      for (std::size_t i = 0; i < lines.size(); ++i) {
        INFO(model << " beam " << beam << " line " << i);
        CHECK(got[i].text == expected[i].text);
        CHECK(got[i].score == Approx(expected[i].score).margin(1e-5));
        CHECK(got[i].nbest.size() == expected[i].nbest.size());
        CHECK(got[i].attention.size() == expected[i].attention.size());
      }
      CHECK(got[1].nbest.empty());  // the empty line
    }
  }
}

TEST_CASE("concurrent requests are decoded together with batching on and one by one with it off", "[serve]") {
  for (const bool batching : {true, false}) {
    ServiceOptions o;
    o.workers = 1;
    o.batching = batching;
    TranslationService service(both_models(), o);
    // Rounds of 12 simultaneous requests: with one worker busy on the first, the others queue.
    std::size_t rounds = 0;
    do {
      std::vector<std::future<std::vector<ServedTranslation>>> answers;
      for (int i = 0; i < 12; ++i) {
        TranslateRequest r;
        r.text = {"abcdefgh", "hgfedcba"};
        r.beam = 4;
        answers.push_back(std::async(std::launch::async, [&service, r] { return service.translate(r); }));
      }
      for (auto& a : answers) CHECK(a.get().size() == 2);
      ++rounds;
    } while (batching && service.stats().batches == service.stats().requests && rounds < 5);
    const ServiceStats s = service.stats();
    CHECK(s.requests == 12 * rounds);
    CHECK(s.lines == 24 * rounds);
    if (batching) CHECK(s.batches < s.requests);
    else CHECK(s.batches == s.requests);
  }
}

TEST_CASE("the service refuses a line of too many tokens with 413 and requests after stop with 503", "[serve]") {
  ServiceOptions o;
  o.limits.max_tokens = 5;
  TranslationService service(both_models(), o);
  TranslateRequest r;
  r.text = {"abc", "abcdef"};
  try {
    service.translate(r);
    FAIL("a 6-token line passed a limit of 5");
  } catch (const RequestError& e) {
    CHECK(e.status() == 413);
    CHECK(contains(e.what(), "\"text\"[1] has 6 tokens, more than the limit of 5"));
  }
  r.text = {"abc"};
  CHECK(service.translate(r).size() == 1);
  service.stop();
  try {
    service.translate(r);
    FAIL("a request after stop() was answered");
  } catch (const RequestError& e) {
    CHECK(e.status() == 503);
  }
}

TEST_CASE("two models of one name are refused", "[serve]") {
  auto models = both_models();
  models[1].name = "bahdanau";
  CHECK_THROWS_WITH(TranslationService(std::move(models), ServiceOptions{}), Catch::Contains("two models are named"));
}

TEST_CASE("a Transformer model's answer carries each layer's and head's attention when asked for", "[serve][attention-views]") {
  std::vector<ServedModel> m;
  const std::string path = attend::test::serve_transformer_model();
  m.push_back({"transformer", path, Translator::load(path)});
  m.push_back({"bahdanau", attend::test::serve_models().bahdanau, Translator::load(attend::test::serve_models().bahdanau)});
  TranslationService service(std::move(m), ServiceOptions{});
  for (const int beam : {1, 3}) {
    const json with = json::parse(service.handle_translate(
        "{\"text\": [\"abcde\", \"xy\"], \"attention\": true, \"beam\": " + std::to_string(beam) + "}"));
    for (const json& t : with.at("translations")) {
      INFO(t.dump());
      CHECK(t.at("default_view") == "mean over the last layer's heads");
      const json& names = t.at("attention_view_names");
      REQUIRE(names == json({"layer 0 head 0", "layer 0 head 1", "layer 1 head 0", "layer 1 head 1"}));
      const json& views = t.at("attention_views");
      REQUIRE(views.size() == 4);
      const json& attention = t.at("attention");
      for (const auto& name : names) REQUIRE(views.at(name.get<std::string>()).size() == attention.size());
      // "attention" is the mean of the last layer's two heads.
      for (std::size_t i = 0; i < attention.size(); ++i)
        for (std::size_t j = 0; j < attention[i].size(); ++j)
          CHECK(attention[i][j].get<double>() ==
                Approx((views["layer 1 head 0"][i][j].get<double>() + views["layer 1 head 1"][i][j].get<double>()) / 2)
                    .margin(1e-6));
    }
  }
  const json without = json::parse(service.handle_translate("{\"text\": [\"abcde\"]}"));
  CHECK_FALSE(without["translations"][0].contains("attention_views"));
  const json rnn = json::parse(service.handle_translate("{\"text\": [\"abcde\"], \"model\": \"bahdanau\", \"attention\": true}"));
  CHECK(rnn["translations"][0].contains("attention"));
  CHECK_FALSE(rnn["translations"][0].contains("attention_views"));
}
