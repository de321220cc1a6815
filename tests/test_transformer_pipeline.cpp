// The Transformer decoder (`--decoder transformer`) through everything the recurrent decoder goes
// through: data-parallel shards, the `attend` commands (train, translate with beams, n-best lists
// and length penalty, eval, score, attention maps), the options it refuses with exit status 2,
// a compare grid with a decoder axis, and the model presets in models/ (every one of them loads,
// trains a step and records the values its file sets).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "attend/io/checkpoint.hpp"
#include "attend/nn/seq2seq.hpp"
#include "attend/train/parallel.hpp"
#include "shards.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using namespace attend;
using namespace attend::test;
using json = nlohmann::json;

namespace {

// ---- shards ----

ModelConfig transformer_config(const TinyTask& d, const std::string& encoder) {
  ModelConfig c = d.config;
  c.encoder = encoder;
  c.decoder = "transformer";
  c.attention = "multihead";
  c.heads = 2;
  c.self_heads = 3;
  c.self_layers = 1;
  c.decoder_layers = 2;
  c.ffn = 16;
  c.bidirectional = encoder != "transformer";
  return c;
}

// ---- the command line ----

// The Transformer decoder over the Transformer encoder, or over a recurrent encoder (`rnn` / `rnn+self`).
std::string transformer_train(const std::string& encoder) {
  return "train --task reverse --train-size 200 --valid-size 20 --test-size 20 --min-len 3 --max-len 6 --steps 30 "
         "--batch 16 --hidden 16 --emb 8 --decoder transformer --encoder " + encoder +
         " --heads 2 --self-heads 2 --self-layers 1 --decoder-layers 2 --ffn 32 --dropout 0.1 --quiet";
}

// One trained Transformer model shared by the tests that only use one.
struct TrainedTransformer {
  TempDir dir;
  std::string model, metrics;
  CliRun run;
  TrainedTransformer() {
    model = dir.file("tf.safetensors");
    metrics = dir.file("tf.json");
    run = run_cli(dir, transformer_train("transformer") + " --model " + quote(model) + " --metrics-json " +
                           quote(metrics));
  }
};

const TrainedTransformer& trained() {
  static const TrainedTransformer m;
  INFO(m.run.err);
  REQUIRE(m.run.status == 0);
  return m;
}

// "score<TAB>text" lines of an n-best list.
std::vector<std::pair<double, std::string>> nbest_lines(const std::string& out) {
  std::vector<std::pair<double, std::string>> r;
  for (const auto& line : lines_of(out)) {
    const auto tab = line.find('\t');
    REQUIRE(tab != std::string::npos);
    r.emplace_back(std::stod(line.substr(0, tab)), line.substr(tab + 1));
  }
  return r;
}

// ---- presets ----

std::string models_dir() { return std::string(ATTEND_FIXTURE_DIR) + "/../../models"; }

// The `key = value` lines of a preset, comments and blank lines left out.
std::map<std::string, std::string> preset_values(const std::string& path) {
  std::map<std::string, std::string> m;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    REQUIRE(eq != std::string::npos);
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    m[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return m;
}

}  // namespace

TEST_CASE("data-parallel shards of the Transformer decoder compute the same loss and gradient as one pass",
          "[transformer-decoder][threads]") {
  // 3 shards of 13 examples: each shard is trimmed to its own longest source and target, so the
  // padding masks of the shards and of the whole batch differ.
  const TinyTask d = tiny_reverse_task();
  for (const std::string encoder : {"transformer", "rnn", "rnn+self"}) {
    INFO("encoder " << encoder);
    Seq2Seq<double> model(transformer_config(d, encoder), 4);
    check_shards_match_one_pass(model, d.valid);
  }
}

TEST_CASE("train --decoder transformer trains, saves and records the Transformer configuration",
          "[transformer-decoder][cli]") {
  const TrainedTransformer& m = trained();
  CHECK(fs::file_size(m.model) > 0);
  const json j = json::parse(read_file(m.metrics));
  const json& c = j.at("config");
  CHECK(c.at("decoder") == "transformer");
  CHECK(c.at("encoder") == "transformer");
  CHECK(c.at("attention") == "multihead");  // the default cross-attention without --attention
  CHECK(c.at("decoder_layers") == 2);
  CHECK(j.at("steps") == 30);
  CHECK(j.at("diverged") == false);
  CHECK(j.at("loss_curve").size() > 0);
  const ModelBundle b = load_model(m.model);
  CHECK(b.model->config().decoder == "transformer");
  CHECK(b.model->params().find("decoder.transformer.layers.1.multihead_attn.in_proj_weight") >= 0);
}

TEST_CASE("translate with a Transformer decoder: one line per input, greedy and beam", "[transformer-decoder][cli]") {
  const TrainedTransformer& m = trained();
  for (const std::string beam : {"", " --beam 3", " --beam 3 --length-penalty 0.6"}) {
    INFO("options" << beam);
    const CliRun r = run_cli(m.dir, "translate" + beam + " --model " + quote(m.model), "abcde\n\nfghij\nklm\n");
    INFO(r.err);
    REQUIRE(r.status == 0);
    const auto out = lines_of(r.out);
    REQUIRE(out.size() == 4);
    CHECK(out[1].empty());
  }
}

TEST_CASE("translate --beam 3 --nbest 2 with a Transformer decoder lists the best first, as the 1-best output",
          "[transformer-decoder][cli]") {
  const TrainedTransformer& m = trained();
  for (const std::string penalty : {"", " --length-penalty 0.6"}) {
    INFO("options" << penalty);
    const std::string input = "abc\nde\nfghij\n";
    const CliRun n = run_cli(m.dir, "translate --beam 3 --nbest 2" + penalty + " --model " + quote(m.model), input);
    const CliRun one = run_cli(m.dir, "translate --beam 3" + penalty + " --model " + quote(m.model), input);
    INFO(n.err << one.err);
    REQUIRE(n.status == 0);
    REQUIRE(one.status == 0);
    const auto list = nbest_lines(n.out);
    const auto best = lines_of(one.out);
    REQUIRE(list.size() == 6);
    REQUIRE(best.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(std::isfinite(list[2 * i].first));
      CHECK(list[2 * i].first >= list[2 * i + 1].first);
      CHECK(list[2 * i].second == best[i]);
    }
  }
}

TEST_CASE("translate --show-attention with a Transformer decoder prints maps and JSON rows that sum to 1",
          "[transformer-decoder][cli]") {
  const TrainedTransformer& m = trained();
  const CliRun text = run_cli(m.dir, "translate --show-attention --model " + quote(m.model), "abc\n");
  REQUIRE(text.status == 0);
  CHECK(contains(text.out, "|abc|"));
  const CliRun r = run_cli(m.dir, "translate --beam 2 --nbest 2 --show-attention --attention-format json --model " +
                                      quote(m.model), "abcd\n");
  REQUIRE(r.status == 0);
  std::size_t objects = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    ++objects;
    const json j = json::parse(line);
    CHECK(j["source"].size() == 4);
    CHECK(j["weights"].size() == j["output"].size());
    for (const auto& row : j["weights"]) {
      REQUIRE(row.size() == 4);
      double sum = 0;
      for (const auto& w : row) sum += w.get<double>();
      CHECK(sum == Approx(1.0).epsilon(1e-4));
    }
  }
  CHECK(objects == 2);
}

TEST_CASE("eval and score with a Transformer decoder: the four figures, and score agrees with eval's perplexity",
          "[transformer-decoder][cli]") {
  const TrainedTransformer& m = trained();
  const CliRun task = run_cli(m.dir, "eval --test-size 30 --beam 3 --length-penalty 1 --model " + quote(m.model));
  INFO(task.err);
  REQUIRE(task.status == 0);
  for (const char* key : {"exact match", "token accuracy", "perplexity", "examples        30"})
    CHECK(contains(task.out, key));

  write_file(m.dir.file("s.txt"), "abcdef\nfgh\nij\n");
  write_file(m.dir.file("t.txt"), "fedcba\nhgf\nji\n");
  const CliRun s = run_cli(m.dir, "score --model " + quote(m.model) + " --src s.txt --tgt t.txt");
  REQUIRE(s.status == 0);
  const auto scores = lines_of(s.out);
  REQUIRE(scores.size() == 3);
  double sum = 0;
  for (const auto& line : scores) {
    const double lp = std::stod(line);
    CHECK(std::isfinite(lp));
    CHECK(lp < 0);
    sum += lp;
  }
  const CliRun e = run_cli(m.dir, "eval --model " + quote(m.model) + " --src s.txt --ref t.txt");
  REQUIRE(e.status == 0);
  const auto pos = e.out.find("perplexity");
  REQUIRE(pos != std::string::npos);
  const double ppl = std::stod(e.out.substr(pos + 10));
  // 6 + 3 + 2 target tokens plus one </s> each
  CHECK(ppl == Approx(std::exp(-sum / 14)).epsilon(1e-3));
}

TEST_CASE("the Transformer decoder over recurrent encoders trains, translates with beams and scores on the command line",
          "[transformer-decoder][cli]") {
  for (const std::string encoder : {"rnn", "rnn+self"}) {
    INFO("encoder " << encoder);
    TempDir dir;
    const CliRun t = run_cli(dir, transformer_train(encoder) + " --cell lstm --bidirectional --model m.safetensors");
    INFO(t.err);
    REQUIRE(t.status == 0);
    const CliRun n = run_cli(dir, "translate --beam 3 --nbest 2 --length-penalty 1 --model m.safetensors", "abc\nde\n");
    REQUIRE(n.status == 0);
    CHECK(nbest_lines(n.out).size() == 4);
    write_file(dir.file("s.txt"), "abc\n");
    write_file(dir.file("t.txt"), "cba\n");
    const CliRun s = run_cli(dir, "score --model m.safetensors --src s.txt --tgt t.txt");
    REQUIRE(s.status == 0);
    CHECK(std::stod(s.out) < 0);
  }
}

TEST_CASE("options the Transformer decoder cannot take exit 2 saying what to change", "[transformer-decoder][cli]") {
  TempDir dir;
  const std::string tf = "train --task reverse --train-size 50 --steps 1 --hidden 16 --decoder transformer "
                         "--model never.safetensors ";
  const std::string rnn = "train --task reverse --train-size 50 --steps 1 --hidden 16 --model never.safetensors ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {tf + "--heads 3", "--heads 3 does not divide --hidden 16"},
      {tf + "--self-heads 3 --encoder transformer", "--self-heads 3 does not divide --hidden 16"},
      {tf + "--attention none", "--attention none cannot serve as the Transformer decoder's cross-attention"},
      {rnn + "--decoder-layers 2", "--decoder-layers counts the layers of --decoder transformer"},
      {rnn + "--decoder luong --attention luong-dot --tie-embeddings", "--tie-embeddings applies to --decoder transformer"},
      {rnn + "--tie-embeddings", "--tie-embeddings applies to --decoder transformer"},
      {tf + "--bridge dense", "--bridge dense gives a recurrent decoder its initial state"},
      {tf + "--teacher-forcing 0.5", "leave --teacher-forcing at 1"},
  };
  for (const auto& [args, says] : cases) {
    INFO(args);
    const CliRun r = run_cli(dir, args);
    INFO(r.err);
    CHECK(r.status == 2);
    CHECK(contains(r.err, says));
    CHECK(!fs::exists(dir.file("never.safetensors")));
  }
}

TEST_CASE("compare --decoder auto,transformer trains and reports both decoders under the same attention",
          "[transformer-decoder][compare][cli]") {
  TempDir dir;
  const CliRun r = run_cli(dir,
                           "compare --task copy --train-size 200 --valid-size 20 --test-size 20 --min-len 3 --max-len 6 "
                           "--emb 8 --hidden 16 --heads 2 --self-heads 2 --ffn 32 --batch 16 --steps 20 --eval-every 10 "
                           "--cells gru --attention bahdanau --decoder auto,transformer --seeds 1 --estimate-steps 0 "
                           "--threads 1 --quiet --out g");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json results = json::parse(read_file(dir.file("g/results.json")));
  std::vector<std::string> decoders;
  for (const auto& v : results.at("variants")) {
    decoders.push_back(v.at("decoder").get<std::string>());
    CHECK(v.at("attention") == "bahdanau");
    CHECK(v.at("ok") == 1);
    CHECK(v.at("failed") == 0);
  }
  CHECK(decoders == std::vector<std::string>{"auto", "transformer"});
  const std::string report = read_file(dir.file("g/REPORT.md"));
  CHECK(contains(report, "gru+bahdanau/transformer"));
  CHECK(contains(report, "The decoder axis"));
  // Each run's model is the decoder its variant names.
  std::size_t transformer_models = 0, recurrent_models = 0;
  for (const auto& entry : fs::directory_iterator(dir.file("g"))) {
    if (!fs::is_directory(entry)) continue;
    const fs::path model = entry.path() / "model.safetensors";
    REQUIRE(fs::exists(model));
    const ModelBundle b = load_model(model.string());
    CHECK(b.model->config().attention == "bahdanau");
    (b.model->config().decoder == "transformer" ? transformer_models : recurrent_models)++;
  }
  CHECK(transformer_models == 1);
  CHECK(recurrent_models == 1);
}

TEST_CASE("every preset in models/ trains a step and records each value its file sets", "[presets][cli]") {
  // Sizes are overridden to toy ones (the command line wins over the file); every other key of
  // the preset must come back unchanged in the run's metrics JSON (config or train section).
  std::vector<fs::path> presets;
  for (const auto& entry : fs::directory_iterator(models_dir()))
    if (entry.path().extension() == ".cfg") presets.push_back(entry.path());
  std::sort(presets.begin(), presets.end());
  REQUIRE(presets.size() >= 12);
  std::size_t transformers = 0;
  for (const auto& preset : presets) {
    INFO("preset " << preset.filename().string());
    const auto values = preset_values(preset.string());
    REQUIRE(!values.empty());
    const bool transformer = values.count("decoder") && values.at("decoder") == "transformer";
    transformers += transformer;
    std::map<std::string, std::string> overrides = {{"hidden", "16"}, {"emb", "8"}, {"heads", "2"}, {"batch", "8"}};
    if (transformer)
      overrides.insert({{"self-heads", "2"}, {"ffn", "32"}, {"self-layers", "1"}, {"decoder-layers", "1"}});
    std::string args = "train --config " + quote(preset.string()) +
                       " --task reverse --train-size 40 --valid-size 8 --test-size 4 --min-len 3 --max-len 6 "
                       "--steps 1 --quiet --model m.safetensors --metrics-json m.json";
    for (const auto& [key, value] : overrides) args += " --" + key + " " + value;
    TempDir dir;
    const CliRun r = run_cli(dir, args);
    INFO(r.err);
    REQUIRE(r.status == 0);
    const json j = json::parse(read_file(dir.file("m.json")));
    for (const auto& [key, value] : values) {
      if (overrides.count(key)) continue;
      INFO("key " << key << " = " << value);
      std::string field = key;
      std::replace(field.begin(), field.end(), '-', '_');
      const json* got = nullptr;
      for (const char* section : {"config", "train"})
        if (j.at(section).contains(field)) got = &j.at(section).at(field);
      REQUIRE(got != nullptr);
      if (got->is_string()) {
        CHECK(got->get<std::string>() == value);
      } else {
        const double want = value == "true" ? 1.0 : value == "false" ? 0.0 : std::stod(value);
        CHECK(got->get<double>() == Approx(want).epsilon(1e-12));
      }
    }
  }
  CHECK(transformers >= 2);  // transformer-base-2017 and joeynmt-iwslt14-transformer
}
