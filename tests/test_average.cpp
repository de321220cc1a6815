// Checkpoint averaging (attend average, include/attend/io/average.hpp): the average of one model
// is that model bit for bit; two models average element-wise in double; models of different
// configuration or vocabulary are refused naming both files and the difference; training state
// is not carried over; the command writes atomically and exits 2 on bad input.
#include <attend/core/error.hpp>
#include <attend/io/average.hpp>
#include <attend/io/checkpoint.hpp>
#include <attend/io/checkpoint_file.hpp>
#include <catch2/catch.hpp>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support.hpp"

using namespace attend::test;

namespace {

attend::ModelBundle tiny_bundle(std::uint64_t seed, std::size_t hidden = 12) {
  TinyTask t = tiny_reverse_task();
  t.config.hidden = hidden;
  attend::ModelBundle b;
  b.src_vocab = t.src_vocab;
  b.tgt_vocab = t.tgt_vocab;
  b.model = std::make_unique<attend::Seq2Seq<float>>(t.config, seed);
  b.info["task"] = "reverse";
  return b;
}

}  // namespace

TEST_CASE("the average of one model is that model bit for bit", "[average]") {
  TempDir dir;
  attend::ModelBundle b = tiny_bundle(3);
  save_model(dir.file("m.safetensors"), b);
  attend::average_checkpoint_files({dir.file("m.safetensors")}, dir.file("avg.safetensors"));
  const auto a = attend::load_checkpoint_file(dir.file("m.safetensors"));
  const auto c = attend::load_checkpoint_file(dir.file("avg.safetensors"));
  REQUIRE(a.tensors.size() == c.tensors.size());
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    CHECK(a.tensors[i].name == c.tensors[i].name);
    CHECK(a.tensors[i].shape == c.tensors[i].shape);
    CHECK(std::memcmp(a.tensors[i].data.data(), c.tensors[i].data.data(), a.tensors[i].data.size() * 4) == 0);
  }
  // Without training state, the file itself is the same byte for byte.
  CHECK(read_file(dir.file("m.safetensors")) == read_file(dir.file("avg.safetensors")));
}

TEST_CASE("averaging two models: the element-wise mean, the first model's metadata, no training state", "[average]") {
  TempDir dir;
  attend::ModelBundle b1 = tiny_bundle(1), b2 = tiny_bundle(2);
  attend::TrainState st;
  st.step = 7;
  b1.train_state = st;
  b1.info["note"] = "first";
  b2.info["note"] = "second";
  save_model(dir.file("a.safetensors"), b1);
  save_model(dir.file("b.safetensors"), b2);
  const attend::CheckpointFile avg =
      attend::average_checkpoint_files({dir.file("a.safetensors"), dir.file("b.safetensors")}, dir.file("avg.safetensors"));
  CHECK(avg.optimizer.empty());
  for (const auto& kv : avg.config) CHECK(kv.first.rfind("train_state.", 0) != 0);
  CHECK(avg.config.at("info.note") == "first");
  CHECK(avg.config.at("info.averaged-from") == "2");
  const auto a = attend::load_checkpoint_file(dir.file("a.safetensors"));
  const auto b = attend::load_checkpoint_file(dir.file("b.safetensors"));
  const attend::ModelBundle loaded = attend::load_model(dir.file("avg.safetensors"));
  CHECK(!loaded.train_state);
  CHECK(loaded.src_vocab.tokens() == b1.src_vocab.tokens());
  for (const auto& t : avg.tensors) {
    const auto* x = a.find(t.name);
    const auto* y = b.find(t.name);
    REQUIRE(x);
    REQUIRE(y);
    for (std::size_t i = 0; i < t.data.size(); ++i)
      REQUIRE(t.data[i] == static_cast<float>((double(x->data[i]) + double(y->data[i])) / 2));
  }
}

TEST_CASE("models of different configuration or vocabulary are not averaged", "[average]") {
  TempDir dir;
  save_model(dir.file("a.safetensors"), tiny_bundle(1));
  save_model(dir.file("wide.safetensors"), tiny_bundle(1, 16));
  attend::ModelBundle other = tiny_bundle(1);
  std::vector<std::string> tokens = other.tgt_vocab.tokens();
  std::swap(tokens[tokens.size() - 1], tokens[tokens.size() - 2]);
  other.tgt_vocab = attend::Vocab(tokens);
  save_model(dir.file("vocab.safetensors"), other);
  try {
    attend::average_checkpoint_files({dir.file("a.safetensors"), dir.file("wide.safetensors")}, dir.file("o.safetensors"));
    FAIL("averaged models of different sizes");
  } catch (const attend::Error& e) {
    const std::string m = e.what();
    CHECK(contains(m, "a.safetensors"));
    CHECK(contains(m, "wide.safetensors"));
    CHECK(contains(m, "model.hidden"));
  }
  try {
    attend::average_checkpoint_files({dir.file("a.safetensors"), dir.file("vocab.safetensors")}, dir.file("o.safetensors"));
    FAIL("averaged models of different vocabularies");
  } catch (const attend::Error& e) {
    CHECK(contains(e.what(), "vocab.tgt"));
    CHECK(contains(e.what(), "vocab.safetensors"));
  }
  CHECK(read_file(dir.file("o.safetensors")).empty());
}

TEST_CASE("attend average: writes the average, refuses what cannot be averaged with exit 2", "[average][cli]") {
  TempDir dir;
  save_model(dir.file("a.safetensors"), tiny_bundle(1));
  save_model(dir.file("b.safetensors"), tiny_bundle(2));
  save_model(dir.file("wide.safetensors"), tiny_bundle(1, 16));
  const CliRun ok = run_cli(dir, "average --out avg.safetensors a.safetensors b.safetensors");
  CHECK(ok.status == 0);
  CHECK(contains(ok.out, "averaged 2 models into avg.safetensors"));
  CHECK_NOTHROW(attend::load_model(dir.file("avg.safetensors")));
  const CliRun bad = run_cli(dir, "average --out bad.safetensors a.safetensors wide.safetensors");
  CHECK(bad.status == 2);
  CHECK(contains(bad.err, "model.hidden"));
  CHECK(contains(bad.err, "wide.safetensors"));
  CHECK(run_cli(dir, "average --out avg2.safetensors").status == 2);
  CHECK(run_cli(dir, "average a.safetensors").status == 2);
  CHECK(run_cli(dir, "average --out a.safetensors a.safetensors b.safetensors").status == 2);
  CHECK(run_cli(dir, "average --out x.safetensors missing.safetensors").status == 2);
}

TEST_CASE("train --average-last / --average-best: the averages of the kept validations, saved beside the model", "[average][cli]") {
  TempDir dir;
  synthetic_corpus(dir);
  const std::string files =
      "train --train-src train.src --train-tgt train.tgt --valid-src valid.src --valid-tgt valid.tgt "
      "--hidden 16 --emb 8 --batch 8 --steps 12 --bleu-every 3 -q --model m.safetensors --metrics-json m.json ";
  // N = 1: the last validation is the final state (.last), the best one is the model itself.
  CliRun r = run_cli(dir, files + "--average-last 1 --average-best 1");
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "average of the last 1 validation (steps 12)"));
  auto same_tensors = [&](const std::string& a_path, const std::string& b_path) {
    const auto a = attend::load_checkpoint_file(dir.file(a_path));
    const auto b = attend::load_checkpoint_file(dir.file(b_path));
    REQUIRE(a.tensors.size() == b.tensors.size());
    for (std::size_t i = 0; i < a.tensors.size(); ++i)
      if (a.tensors[i].data != b.tensors[i].data) return false;
    return true;
  };
  CHECK(same_tensors("m.safetensors.avg-last", "m.safetensors.last"));
  CHECK(same_tensors("m.safetensors.avg-best", "m.safetensors"));
  CHECK(!attend::load_model(dir.file("m.safetensors.avg-last")).train_state);
  // N = 3 and 2: the steps kept, in the metrics file too.
  r = run_cli(dir, files + "--average-last 3 --average-best 2");
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "average of the last 3 validations (steps 6, 9, 12)"));
  CHECK(contains(r.out, "average of the best 2 validations"));
  const auto j = nlohmann::json::parse(read_file(dir.file("m.json")));
  REQUIRE(j["averages"].size() == 2);
  CHECK(j["averages"][0]["kind"] == "last");
  CHECK(j["averages"][0]["steps"] == nlohmann::json::array({6, 9, 12}));
  CHECK(j["averages"][1]["steps"].size() == 2);
  const attend::ModelBundle avg = attend::load_model(dir.file("m.safetensors.avg-last"));
  CHECK(avg.info.at("averaged-steps") == "6,9,12");
  // Only when training on files.
  r = run_cli(dir, "train --task reverse --steps 2 --average-last 2 --model t.safetensors");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--average-last applies to training on files"));
}
