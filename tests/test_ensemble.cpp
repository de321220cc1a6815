// Ensemble decoding (decode/ensemble.hpp): an ensemble of one model gives exactly that model's
// output (greedy and beam, n-best, length penalty); two copies of one model under the mean give
// its tokens; two different models decode under both combinations; a different target vocabulary
// and a wrong number of weights are refused.
#include <attend/core/error.hpp>
#include <attend/decode/decode.hpp>
#include <attend/decode/ensemble.hpp>
#include <attend/train/trainer.hpp>
#include <catch2/catch.hpp>
#include <vector>

#include "support.hpp"

using namespace attend;

namespace {

struct Trained {
  test::TinyTask task;
  std::unique_ptr<Seq2Seq<float>> a, b;
  std::vector<std::vector<int>> sources;
  Trained() : task(test::tiny_reverse_task()) {
    TrainOptions o;
    o.optimizer.lr = 0.01;
    o.batch = 32;
    o.steps = 40;
    o.keep_best = false;
    a = std::make_unique<Seq2Seq<float>>(task.config, 1);
    train(*a, task.train, {}, o);
    ModelConfig other = task.config;
    other.cell = "lstm";
    other.hidden = 10;
    b = std::make_unique<Seq2Seq<float>>(other, 2);
    o.seed = 2;
    train(*b, task.train, {}, o);
    for (std::size_t i = 0; i < 12; ++i) sources.push_back(task.valid[i].src);
    sources.push_back({});  // an empty line
  }
};

const Trained& trained() {
  static const Trained t;
  return t;
}

void same(const std::vector<std::vector<Hypothesis>>& x, const std::vector<std::vector<Hypothesis>>& y) {
  REQUIRE(x.size() == y.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    REQUIRE(x[i].size() == y[i].size());
    for (std::size_t j = 0; j < x[i].size(); ++j) {
      CHECK(x[i][j].tokens == y[i][j].tokens);
      CHECK(x[i][j].log_prob == y[i][j].log_prob);
      CHECK(x[i][j].score == y[i][j].score);
      CHECK(x[i][j].finished == y[i][j].finished);
      CHECK(x[i][j].attention == y[i][j].attention);
    }
  }
}

}  // namespace

TEST_CASE("an ensemble of one model gives exactly that model's output", "[ensemble]") {
  const Trained& t = trained();
  for (std::size_t beam : {1, 3}) {
    SearchOptions o;
    o.beam = beam;
    o.nbest = beam == 3 ? 2 : 1;
    o.length_penalty = beam == 3 ? 0.6 : 0.0;
    o.keep_attention = true;
    INFO("beam " << beam);
    // One batch, as decode() sorts and batches by length: compare source by source.
    for (const auto& s : t.sources) {
      const auto alone = decode(*t.a, {s}, o, 64);
      const auto ens = ensemble_decode<float>({t.a.get()}, {{s}}, o);
      same(ens, alone);
    }
    // Batched: the same n-best lists as decoding one by one.
    const auto batched = ensemble_decode<float>({t.a.get()}, {t.sources}, o, {}, 5);
    for (std::size_t i = 0; i < t.sources.size(); ++i) {
      const auto one = ensemble_decode<float>({t.a.get()}, {{t.sources[i]}}, o);
      REQUIRE(batched[i].size() == one[0].size());
      for (std::size_t j = 0; j < one[0].size(); ++j) CHECK(batched[i][j].tokens == one[0][j].tokens);
    }
  }
}

TEST_CASE("ensembles of two models: the mean and the weighted log-sum", "[ensemble]") {
  const Trained& t = trained();
  SearchOptions o;
  o.beam = 3;
  o.keep_attention = true;
  // Two copies of a model under the mean: log((p + p) / 2) = log p, the same search.
  const auto alone = ensemble_decode<float>({t.a.get()}, {t.sources}, o);
  const auto twice = ensemble_decode<float>({t.a.get(), t.a.get()}, {t.sources, t.sources}, o);
  for (std::size_t i = 0; i < t.sources.size(); ++i) {
    REQUIRE(alone[i].size() == twice[i].size());
    if (alone[i].empty()) continue;
    CHECK(alone[i][0].tokens == twice[i][0].tokens);
    CHECK(alone[i][0].log_prob == Approx(twice[i][0].log_prob).epsilon(1e-9));
    // Each model's attention, named.
    REQUIRE(twice[i][0].view_names == std::vector<std::string>{"model 1", "model 2"});
    CHECK(twice[i][0].views[0] == twice[i][0].attention);
  }
  // A GRU and an LSTM: both combinations decode every source; logsum with weights 1, 0 is model 1.
  EnsembleOptions e;
  e.combine = EnsembleCombine::LogSum;
  e.weights = {1.0, 0.0};
  const auto first_only = ensemble_decode<float>({t.a.get(), t.b.get()}, {t.sources, t.sources}, o, e);
  for (std::size_t i = 0; i < t.sources.size(); ++i)
    if (!alone[i].empty()) CHECK(first_only[i][0].tokens == alone[i][0].tokens);
  const auto mixed = ensemble_decode<float>({t.a.get(), t.b.get()}, {t.sources, t.sources}, o);
  for (std::size_t i = 0; i + 1 < t.sources.size(); ++i) CHECK(!mixed[i].empty());
}

TEST_CASE("ensembles refuse a different target vocabulary and a wrong number of weights", "[ensemble]") {
  const Trained& t = trained();
  ModelConfig c = t.task.config;
  c.tgt_vocab += 1;
  Seq2Seq<float> other(c, 3);
  SearchOptions o;
  CHECK_THROWS_WITH(ensemble_decode<float>({t.a.get(), &other}, {t.sources, t.sources}, o),
                    Catch::Contains("share the target vocabulary"));
  EnsembleOptions e;
  e.combine = EnsembleCombine::LogSum;
  e.weights = {1.0};
  CHECK_THROWS_WITH(ensemble_decode<float>({t.a.get(), t.b.get()}, {t.sources, t.sources}, o, e),
                    Catch::Contains("1 weights for 2 models"));
  CHECK_THROWS_WITH(parse_ensemble_combine("max"), Catch::Contains("valid: mean, logsum"));
}

TEST_CASE("translate, eval and score with --model given twice", "[ensemble][cli]") {
  using namespace attend::test;
  TempDir dir;
  synthetic_corpus(dir);
  const std::string files =
      "train --train-src train.src --train-tgt train.tgt --valid-src valid.src --valid-tgt valid.tgt "
      "--hidden 16 --emb 8 --batch 8 --steps 20 -q ";
  REQUIRE(run_cli(dir, files + "--seed 1 --model a.safetensors").status == 0);
  REQUIRE(run_cli(dir, files + "--seed 2 --cell lstm --model b.safetensors").status == 0);
  REQUIRE(run_cli(dir, "train --task reverse --steps 2 --hidden 8 --emb 4 -q --model t.safetensors").status == 0);
  const std::string input = read_file(dir.file("valid.src"));

  const CliRun alone = run_cli(dir, "translate --beam 2 --model a.safetensors", input);
  const CliRun twice = run_cli(dir, "translate --beam 2 --model a.safetensors --model a.safetensors", input);
  REQUIRE(alone.status == 0);
  REQUIRE(twice.status == 0);
  CHECK(twice.out == alone.out);  // two copies under the mean: the same search
  const CliRun mixed = run_cli(dir, "translate --beam 2 --nbest 2 --length-penalty 0.6 -m a.safetensors -m b.safetensors", input);
  REQUIRE(mixed.status == 0);
  CHECK(lines_of(mixed.out).size() == 2 * lines_of(input).size());
  const CliRun logsum = run_cli(dir, "translate -m a.safetensors -m b.safetensors --ensemble-combine logsum "
                                     "--ensemble-weights 1,0", input);
  REQUIRE(logsum.status == 0);
  CHECK(logsum.out == run_cli(dir, "translate -m a.safetensors", input).out);
  const CliRun shown = run_cli(dir, "translate -m a.safetensors -m b.safetensors --show-attention "
                                    "--attention-format json --attention-view 'model 2'", "red blue\n");
  CHECK(shown.status == 0);
  CHECK(contains(shown.out, "model 2"));

  const CliRun e = run_cli(dir, "eval -m a.safetensors -m b.safetensors --src test.src --ref test.tgt");
  REQUIRE(e.status == 0);
  CHECK(contains(e.out, "BLEU = "));
  CHECK(contains(e.out, "chrF2 = "));
  CHECK(contains(e.out, "ensemble        2 models, mean probability"));

  const CliRun s1 = run_cli(dir, "score -m a.safetensors --src test.src --tgt test.tgt");
  const CliRun s2 = run_cli(dir, "score -m a.safetensors -m a.safetensors --src test.src --tgt test.tgt");
  REQUIRE(s1.status == 0);
  REQUIRE(s2.status == 0);
  const auto l1 = lines_of(s1.out), l2 = lines_of(s2.out);
  REQUIRE(l1.size() == l2.size());
  for (std::size_t i = 0; i < l1.size(); ++i) CHECK(std::stod(l2[i]) == Approx(std::stod(l1[i])).epsilon(1e-4));

  const CliRun bad = run_cli(dir, "translate -m a.safetensors -m t.safetensors", "red\n");
  CHECK(bad.status == 2);
  CHECK(contains(bad.err, "must share the target vocabulary"));
  CHECK(contains(bad.err, "t.safetensors"));
  CHECK(run_cli(dir, "eval -m a.safetensors -m b.safetensors --task reverse").status == 2);
  CHECK(run_cli(dir, "translate -m a.safetensors -m b.safetensors --ensemble-weights 1,2", "red\n").status == 2);
  CHECK(run_cli(dir, "translate -m a.safetensors -m b.safetensors --ensemble-combine logsum --ensemble-weights 1",
                "red\n").status == 2);
  CHECK(run_cli(dir, "translate -m a.safetensors -m b.safetensors --ensemble-combine max", "red\n").status == 2);
}
