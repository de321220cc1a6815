// Ensembles as a library class and in `attend serve` (docs/ensembles.md, docs/serve.md): the
// TranslatorEnsemble's checks and translations, the --model NAME=A,B spec, a served ensemble's
// answers against ensemble_decode and `attend translate -m A -m B`, its attention views, its
// entry in GET /v1/models, every member's limits, its reload, and the refusals at start.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "attend/core/error.hpp"
#include "attend/decode/ensemble.hpp"
#include "attend/decode/translator_ensemble.hpp"
#include "attend/serve/service.hpp"
#include "test_serve_support.hpp"

using namespace attend;
using attend::test::CliRun;
using attend::test::contains;
using attend::test::quote;
using attend::test::run_cli;
using attend::test::serve_models;
using attend::test::TempDir;
using nlohmann::json;

namespace {

const std::vector<std::string> kLines = {"abc", "hello", "serve", "", "attention", "xyzzy", "a"};

// A briefly trained tiny model (under /tmp, for the test run).
std::string tiny_model(const std::string& name, const std::string& options) {
  static TempDir dir;
  const CliRun r = run_cli(dir, "train --steps 2 --batch 32 --emb 8 --hidden 12 --quiet " + options + " --model " + name);
  INFO(r.err);
  REQUIRE(r.status == 0);
  return dir.file(name);
}

// A model of another task: its target vocabulary differs from the reverse models'.
const std::string& dates_model() {
  static const std::string path = tiny_model("dates.safetensors", "--task dates --train-size 200 --valid-size 20 --test-size 20");
  return path;
}

// Location attention that takes sources of at most 8 tokens; the serve models' task and data, so
// their vocabularies.
const std::string& location_model() {
  static const std::string path = tiny_model("location.safetensors",
                                         "--task reverse --train-size 400 --valid-size 20 --test-size 20 --min-len 3 "
                                         "--max-len 8 --attention location --max-src-len 8");
  return path;
}

TranslatorEnsemble bahdanau_and_luong(EnsembleOptions options = {}) {
  return TranslatorEnsemble::load({serve_models().bahdanau, serve_models().luong}, std::move(options));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

SearchOptions beam(std::size_t k, std::size_t nbest, bool attention = false) {
  SearchOptions o;
  o.beam = k;
  o.nbest = nbest;
  o.keep_attention = attention;
  return o;
}

}  // namespace

// ---- the library class ------------------------------------------------------------------------

TEST_CASE("a TranslatorEnsemble of one model translates exactly as its Translator", "[serve-ensemble][ensemble]") {
  const Translator alone = Translator::load(serve_models().bahdanau);
  const TranslatorEnsemble one = TranslatorEnsemble::load({serve_models().bahdanau});
  CHECK(one.single());
  const auto a = alone.translate(kLines, beam(3, 2, true));
  const auto b = one.translate(kLines, beam(3, 2, true));
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(kLines[i]);
    CHECK(b[i].text == a[i].text);
    CHECK(b[i].score == a[i].score);
    CHECK(b[i].attention == a[i].attention);
    REQUIRE(b[i].nbest.size() == a[i].nbest.size());
    for (std::size_t k = 0; k < a[i].nbest.size(); ++k) CHECK(b[i].nbest[k].tokens == a[i].nbest[k].tokens);
  }
}

TEST_CASE("a TranslatorEnsemble of two models translates as ensemble_decode", "[serve-ensemble][ensemble]") {
  const TranslatorEnsemble e = bahdanau_and_luong();
  REQUIRE(e.size() == 2);
  const auto got = e.translate(kLines, beam(3, 2));
  const auto where = [](std::size_t i) { return "line " + std::to_string(i); };
  const auto hyps = ensemble_decode(e.models(), e.sources(kLines, where), beam(3, 2), e.options());
  REQUIRE(got.size() == hyps.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO(kLines[i]);
    REQUIRE(got[i].nbest.size() == hyps[i].size());
    for (std::size_t k = 0; k < hyps[i].size(); ++k) {
      CHECK(got[i].nbest[k].text == e.first().describe(hyps[i][k]).text);
      CHECK(got[i].nbest[k].score == hyps[i][k].score);
    }
  }
  CHECK(got[3].nbest.empty());  // the empty line
}

TEST_CASE("a TranslatorEnsemble keeps each member's attention as model 1 and model 2", "[serve-ensemble][ensemble]") {
  const auto t = bahdanau_and_luong().translate({"hello"}, beam(1, 1, true)).front();
  CHECK(t.view_names == std::vector<std::string>{"model 1", "model 2"});
  REQUIRE(t.views.size() == 2);
  CHECK(t.views[0] == t.attention);
  CHECK(t.views[1].size() == t.attention.size());
}

TEST_CASE("a TranslatorEnsemble refuses a different target vocabulary naming both files", "[serve-ensemble][ensemble]") {
  const std::string message =
      error_of([] { TranslatorEnsemble::load({serve_models().bahdanau, dates_model()}); });
  CHECK(contains(message, "must share the target vocabulary"));
  CHECK(contains(message, serve_models().bahdanau));
  CHECK(contains(message, dates_model()));
}

TEST_CASE("a TranslatorEnsemble refuses a wrong number of weights", "[serve-ensemble][ensemble]") {
  EnsembleOptions o;
  o.combine = EnsembleCombine::LogSum;
  o.weights = {1, 2, 3};
  CHECK(contains(error_of([&] { bahdanau_and_luong(o); }), "3 weights for 2 models"));
}

TEST_CASE("a TranslatorEnsemble refuses weights under the mean", "[serve-ensemble][ensemble]") {
  EnsembleOptions o;
  o.weights = {1, 2};
  CHECK(contains(error_of([&] { bahdanau_and_luong(o); }), "logsum"));
}

TEST_CASE("a TranslatorEnsemble refuses no member and a path count that differs", "[serve-ensemble][ensemble]") {
  CHECK(contains(error_of([] { TranslatorEnsemble({}, {}); }), "at least one model"));
  std::vector<Translator> one;
  one.push_back(Translator::load(serve_models().bahdanau));
  CHECK(contains(error_of([&] { TranslatorEnsemble(std::move(one), {"a", "b"}); }), "file names"));
}

TEST_CASE("ensemble weights are read as comma-separated finite numbers", "[serve-ensemble][ensemble]") {
  CHECK(parse_ensemble_weights("0.7,0.3") == std::vector<double>{0.7, 0.3});
  CHECK(parse_ensemble_weights("2") == std::vector<double>{2});
  for (const char* bad : {"1,x", "1,,2", "1,", "nan", "1,inf", "0.5 "}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_ensemble_weights(bad), Error);
  }
}

// ---- the --model spec -------------------------------------------------------------------------

TEST_CASE("a serve model spec is a file, NAME=FILE or NAME=FILE,FILE", "[serve-ensemble][serve]") {
  ModelSpec s = parse_model_spec("/tmp/no-such-dir/rnn.safetensors");
  CHECK(s.name == "rnn");
  CHECK(s.paths == std::vector<std::string>{"/tmp/no-such-dir/rnn.safetensors"});
  s = parse_model_spec("r=/tmp/no-such-dir/rnn.safetensors");
  CHECK(s.name == "r");
  CHECK(s.paths == std::vector<std::string>{"/tmp/no-such-dir/rnn.safetensors"});
  s = parse_model_spec("both=a.safetensors,b.safetensors,c.safetensors");
  CHECK(s.name == "both");
  CHECK(s.paths == std::vector<std::string>{"a.safetensors", "b.safetensors", "c.safetensors"});
}

TEST_CASE("an existing file whose name holds a comma is one model", "[serve-ensemble][serve]") {
  TempDir dir;
  const std::string path = dir.file("a,b.safetensors");
  attend::test::write_file(path, "x");
  // Named after its stem, which holds a comma: refused as a name, not split into two files.
  CHECK(contains(error_of([&] { parse_model_spec(path); }), "letters, digits"));
  const ModelSpec s = parse_model_spec("ab=" + path);
  CHECK(s.name == "ab");
  CHECK(s.paths == std::vector<std::string>{path});
}

TEST_CASE("bad serve model specs are refused with the reason", "[serve-ensemble][serve]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"e=a.safetensors,", "empty file name"},
      {"e=a.safetensors,,b.safetensors", "empty file name"},
      {"e=,a.safetensors", "empty file name"},
      {"=a.safetensors", "write --model FILE"},
      {"e=", "write --model FILE"},
      {"/tmp/no-such-dir/a.safetensors,/tmp/no-such-dir/b.safetensors", "name it: --model NAME="},
      {"a b=x.safetensors", "letters, digits"},
      {"", "write --model FILE"},
      {"runs/", "no model name in the file name"},
  };
  for (const auto& c : cases) {
    const std::string spec = c.first;  // a named copy: a lambda may not capture a structured binding in C++17
    INFO(spec);
    CHECK(contains(error_of([&] { parse_model_spec(spec); }), c.second));
  }
}

// ---- the service --------------------------------------------------------------------------------

TEST_CASE("a served ensemble of one model answers as the single model", "[serve-ensemble][serve]") {
  std::vector<ServedModel> single, ensemble;
  single.push_back({"m", serve_models().bahdanau, Translator::load(serve_models().bahdanau)});
  ensemble.push_back(ServedModel("m", TranslatorEnsemble::load({serve_models().bahdanau})));
  TranslationService a(std::move(single), ServiceOptions{}), b(std::move(ensemble), ServiceOptions{});
  const std::string body = R"({"text": ["abc", "hello", "", "serve"], "beam": 3, "nbest": 2, "attention": true})";
  CHECK(b.handle_translate(body) == a.handle_translate(body));
}

TEST_CASE("a served 2-model ensemble answers as ensemble_decode", "[serve-ensemble][serve]") {
  std::vector<ServedModel> m;
  m.push_back(ServedModel("e", bahdanau_and_luong()));
  TranslationService service(std::move(m), ServiceOptions{});
  const json answer = json::parse(service.handle_translate(R"({"text": ["abc", "hello", "serve"], "beam": 3, "nbest": 2})"));
  const TranslatorEnsemble e = bahdanau_and_luong();
  const std::vector<std::string> lines = {"abc", "hello", "serve"};
  const auto where = [](std::size_t i) { return std::to_string(i); };
  const auto hyps = ensemble_decode(e.models(), e.sources(lines, where), beam(3, 2), e.options());
  const json& t = answer.at("translations");
  REQUIRE(t.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO(t[i].dump());
    REQUIRE(t[i].at("nbest").size() == hyps[i].size());
    for (std::size_t k = 0; k < hyps[i].size(); ++k) {
      CHECK(t[i]["nbest"][k].at("text") == e.first().describe(hyps[i][k]).text);
      CHECK(t[i]["nbest"][k].at("score").get<double>() == Approx(hyps[i][k].score).margin(1e-9));
    }
  }
}

TEST_CASE("a served ensemble's attention views are its members' named model 1 and model 2", "[serve-ensemble][serve]") {
  std::vector<ServedModel> m;
  m.push_back(ServedModel("e", bahdanau_and_luong()));
  TranslationService service(std::move(m), ServiceOptions{});
  const json t = json::parse(service.handle_translate(R"({"text": ["hello"], "attention": true})"))["translations"][0];
  CHECK(t.at("default_view") == "model 1");
  CHECK(t.at("attention_view_names") == json({"model 1", "model 2"}));
  CHECK(t.at("attention_views").at("model 1") == t.at("attention"));
  CHECK(t.at("attention_views").at("model 2").size() == t.at("attention").size());
  json views = json::array();
  for (const auto& s : t.at("attention_summary")) views.push_back(s.at("view"));
  CHECK(views == json({"mean", "model 1", "model 2"}));
}

TEST_CASE("GET v1/models lists an ensemble's members and combination", "[serve-ensemble][serve]") {
  std::vector<ServedModel> m;
  m.push_back({"bahdanau", serve_models().bahdanau, Translator::load(serve_models().bahdanau)});
  EnsembleOptions o;
  o.combine = EnsembleCombine::LogSum;
  o.weights = {0.7, 0.3};
  m.push_back(ServedModel("e", bahdanau_and_luong(o)));
  TranslationService service(std::move(m), ServiceOptions{});
  const json models = json::parse(service.models_json()).at("models");
  REQUIRE(models.size() == 2);
  CHECK_FALSE(models[0].contains("members"));
  const json& e = models[1];
  CHECK(e.at("name") == "e");
  CHECK(e.at("file") == "bahdanau.safetensors,luong.safetensors");
  CHECK(e.at("summary") == "ensemble of 2 models (weighted log-probabilities 0.7, 0.3)");
  CHECK(e.at("ensemble").at("combine") == "logsum");
  CHECK(e.at("ensemble").at("weights") == json({0.7, 0.3}));
  REQUIRE(e.at("members").size() == 2);
  CHECK(e["members"][0].at("config").at("attention") == "bahdanau");
  CHECK(e["members"][1].at("config").at("attention") == "luong-general");
  CHECK(e["members"][1].at("path") == serve_models().luong);
  CHECK(contains(e["members"][1].at("summary").get<std::string>(), "luong-general attention"));
}

TEST_CASE("a served ensemble refuses a line that one member cannot take, naming it", "[serve-ensemble][serve]") {
  std::vector<ServedModel> m;
  m.push_back(ServedModel("e", TranslatorEnsemble::load({serve_models().bahdanau, location_model()})));
  TranslationService service(std::move(m), ServiceOptions{});
  CHECK_NOTHROW(service.handle_translate(R"({"text": ["abcdefgh"]})"));
  try {
    service.handle_translate(R"({"text": ["abcdefghijkl"]})");
    FAIL("a 12-token line was accepted by an ensemble with --max-src-len 8");
  } catch (const RequestError& e) {
    CHECK(e.status() == 400);
    CHECK(contains(e.what(), "member 2, location.safetensors"));
    CHECK(contains(e.what(), "--max-src-len"));
  }
}

TEST_CASE("a served ensemble applies the token limit to every member", "[serve-ensemble][serve]") {
  std::vector<ServedModel> m;
  m.push_back(ServedModel("e", bahdanau_and_luong()));
  ServiceOptions o;
  o.limits.max_tokens = 4;
  TranslationService service(std::move(m), o);
  try {
    service.handle_translate(R"({"text": ["abcde"]})");
    FAIL("a 5-token line was accepted under --max-tokens 4");
  } catch (const RequestError& e) {
    CHECK(e.status() == 413);
    CHECK(contains(e.what(), "model \"e\" (member 1"));
  }
}

TEST_CASE("reload loads every member of an ensemble again", "[serve-ensemble][serve][reload]") {
  TempDir dir;
  const std::string a = dir.file("a.safetensors"), b = dir.file("b.safetensors");
  std::filesystem::copy_file(serve_models().bahdanau, a);
  std::filesystem::copy_file(serve_models().luong, b);
  std::vector<ServedModel> m;
  m.push_back(ServedModel("e", TranslatorEnsemble::load({a, b})));
  TranslationService service(std::move(m), ServiceOptions{});
  CHECK(json::parse(service.models_json())["models"][0]["members"][1]["config"]["attention"] == "luong-general");
  std::filesystem::copy_file(serve_models().bahdanau, b, std::filesystem::copy_options::overwrite_existing);
  service.reload();
  CHECK(json::parse(service.models_json())["models"][0]["members"][1]["config"]["attention"] == "bahdanau");
  // Two copies of one model under the mean: that model's translations.
  const std::string body = R"({"text": ["abc", "hello", "serve"]})";
  const json got = json::parse(service.handle_translate(body))["translations"];
  const auto alone = Translator::load(serve_models().bahdanau).translate({"abc", "hello", "serve"}, SearchOptions{});
  for (std::size_t i = 0; i < 3; ++i) CHECK(got[i].at("text") == alone[i].text);
  CHECK(service.stats().reloads == 1);
}

TEST_CASE("a reload that breaks an ensemble keeps the ensemble loaded before", "[serve-ensemble][serve][reload]") {
  TempDir dir;
  const std::string a = dir.file("a.safetensors"), b = dir.file("b.safetensors");
  std::filesystem::copy_file(serve_models().bahdanau, a);
  std::filesystem::copy_file(serve_models().luong, b);
  std::vector<ServedModel> m;
  m.push_back(ServedModel("e", TranslatorEnsemble::load({a, b})));
  TranslationService service(std::move(m), ServiceOptions{});
  const std::string body = R"({"text": ["abc", "hello"]})";
  const std::string before = service.handle_translate(body);
  std::filesystem::copy_file(dates_model(), b, std::filesystem::copy_options::overwrite_existing);
  const std::string message = error_of([&] { service.reload(); });
  CHECK(contains(message, "must share the target vocabulary"));
  CHECK(contains(message, b));
  CHECK(service.handle_translate(body) == before);
  CHECK(service.stats().reloads == 0);
}

// ---- attend serve ---------------------------------------------------------------------------------

TEST_CASE("attend serve answers an ensemble as attend translate with --model twice", "[serve-ensemble][serve][http]") {
  const std::string a = serve_models().bahdanau, b = serve_models().luong;
  attend::test::ServerProcess server("--model e=" + quote(a + "," + b) + " --model " + quote(a));
  httplib::Client c("127.0.0.1", server.port());
  const std::vector<std::string> lines = {"abc", "hello", "serve", "attention", "xyzzy", "a"};
  const auto res = c.Post("/v1/translate", json({{"text", lines}, {"model", "e"}, {"beam", 3}, {"nbest", 2}}).dump(),
                          "application/json");
  REQUIRE(res);
  INFO(res->body);
  REQUIRE(res->status == 200);
  const json t = json::parse(res->body).at("translations");
  TempDir dir;
  std::string input;
  for (const auto& l : lines) input += l + "\n";
  const CliRun cli = run_cli(dir, "translate -m " + quote(a) + " -m " + quote(b) + " --beam 3 --nbest 2", input);
  REQUIRE(cli.status == 0);
  const auto out = attend::test::lines_of(cli.out);  // score<TAB>text, two per line
  REQUIRE(out.size() == 2 * lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i)
    for (std::size_t k = 0; k < 2; ++k) {
      const std::string& row = out[2 * i + k];
      const auto tab = row.find('\t');
      CHECK(t[i]["nbest"][k].at("text") == row.substr(tab + 1));
      CHECK(t[i]["nbest"][k].at("score").get<double>() == Approx(std::stod(row.substr(0, tab))).margin(2e-6));
    }
  const json models = json::parse(c.Get("/v1/models")->body).at("models");
  REQUIRE(models.size() == 2);
  CHECK(models[0].at("members").size() == 2);
  CHECK(models[1].at("name") == "bahdanau");
  CHECK(contains(c.Get("/metrics")->body, "attend_decoded_lines_total{model=\"e\"} 6"));
  CHECK(server.terminate() == 0);
}

TEST_CASE("attend serve refuses at start an ensemble of different target vocabularies", "[serve-ensemble][serve][cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir, "serve --port 0 --model e=" + quote(serve_models().bahdanau + "," + dates_model()));
  CHECK(r.status == 2);
  CHECK(contains(r.err, "must share the target vocabulary"));
  CHECK(contains(r.err, serve_models().bahdanau));
  CHECK(contains(r.err, dates_model()));
}

TEST_CASE("attend serve refuses bad ensemble options at start", "[serve-ensemble][serve][cli]") {
  TempDir dir;
  const std::string pair = "--model e=" + quote(serve_models().bahdanau + "," + serve_models().luong);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--model e=" + quote(serve_models().bahdanau + ","), "empty file name"},
      {pair + " --ensemble-combine logsum --ensemble-weights 1,2,3", "the ensemble 'e' has 2 models"},
      {pair + " --ensemble-weights 1,2", "--ensemble-combine logsum"},
      {pair + " --ensemble-combine max", "unknown ensemble combination"},
      {pair + " --ensemble-combine logsum --ensemble-weights 1,x", "'x' is not a number"},
      {"--model " + quote(serve_models().bahdanau) + " --ensemble-combine logsum --ensemble-weights 1",
       "no --model is an ensemble"},
  };
  for (const auto& [args, why] : cases) {
    INFO(args);
    const CliRun r = run_cli(dir, "serve --port 0 " + args);
    CHECK(r.status == 2);
    CHECK(contains(r.err, why));
  }
}

TEST_CASE("a serve model spec the system cannot take as a path is still parsed, not a filesystem error", "[serve-ensemble][serve]") {
  // std::filesystem::exists threw "File name too long" for these (found while writing fuzz_model_spec).
  const std::string long_file(5000, 'a');
  ModelSpec s = parse_model_spec("x=" + long_file + ",b");
  CHECK(s.name == "x");
  CHECK(s.paths == std::vector<std::string>{long_file, "b"});
  s = parse_model_spec(long_file);
  CHECK(s.name == long_file);
}
