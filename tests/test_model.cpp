// Behaviour of the assembled model: decoding, scoring, determinism, float = double.
#include <catch2/catch.hpp>

#include "attend/core/blas_threads.hpp"
#include "attend/train/parallel.hpp"
#include "attend/decode/search.hpp"
#include "attend/text/tasks.hpp"
#include "shards.hpp"
#include "attend/eval/evaluate.hpp"
#include "attend/train/trainer.hpp"

using namespace attend;
using attend::test::check_shards_match_one_pass;

namespace {

struct Toy {
  Vocab src_vocab, tgt_vocab;
  std::vector<EncodedPair> train, valid, test;
};

Toy toy_task(const std::string& name, std::size_t train_size, int min_len, int max_len,
             int test_min = 0, int test_max = 0) {
  TaskOptions o;
  o.name = name;
  o.train_size = train_size;
  o.valid_size = 200;
  o.test_size = 500;
  o.min_len = min_len;
  o.max_len = max_len;
  o.test_min_len = test_min;
  o.test_max_len = test_max;
  const TaskData d = make_task(o);
  std::vector<std::vector<std::string>> s, t;
  for (const auto& e : d.train) s.push_back(e.src), t.push_back(e.tgt);
  Toy toy{Vocab::build(s), Vocab::build(t), {}, {}, {}};
  toy.train = encode_examples(d.train, toy.src_vocab, toy.tgt_vocab);
  toy.valid = encode_examples(d.valid, toy.src_vocab, toy.tgt_vocab);
  toy.test = encode_examples(d.test, toy.src_vocab, toy.tgt_vocab);
  return toy;
}

ModelConfig config_for(const Toy& toy, const std::string& cell, const std::string& attention,
                       std::size_t hidden = 32) {
  ModelConfig c;
  c.cell = cell;
  c.attention = attention;
  c.emb = 16;
  c.hidden = hidden;
  c.heads = 4;
  c.src_vocab = toy.src_vocab.size();
  c.tgt_vocab = toy.tgt_vocab.size();
  return c;
}

TrainOptions quick(std::size_t steps, double lr = 5e-3) {
  TrainOptions o;
  o.steps = steps;
  o.optimizer.lr = lr;
  o.batch = 64;
  return o;
}

}  // namespace

TEST_CASE("beam search of width 1 gives exactly the greedy result", "[search]") {
  Toy toy = toy_task("reverse", 500, 4, 9);
  for (const std::string attention : {"none", "bahdanau", "luong-general", "local-p", "multihead"}) {
    Seq2Seq<float> model(config_for(toy, "gru", attention), 3);
    train(model, toy.train, {}, quick(40));
    Workspace<float> ws;
    SearchOptions opt;
    for (std::size_t i = 0; i < 20; ++i) {
      const Batch b = make_batch(toy.test, {i});
      const Hypothesis g = greedy_search(model, b.src, b.src_len, opt, ws)[0];
      const Hypothesis beam = beam_search(model, toy.test[i].src, opt, ws)[0];
      INFO(attention << " example " << i);
      CHECK(beam.tokens == g.tokens);
      CHECK(beam.finished == g.finished);
      CHECK(beam.log_prob == g.log_prob);
    }
  }
}

TEST_CASE("batched greedy decoding equals decoding each source alone", "[search]") {
  Toy toy = toy_task("reverse", 500, 4, 12);
  Seq2Seq<float> model(config_for(toy, "lstm", "luong-dot"), 5);
  train(model, toy.train, {}, quick(60));
  std::vector<std::size_t> idx(16);
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  const Batch all = make_batch(toy.test, idx);
  Workspace<float> ws;
  const auto batched = greedy_search(model, all.src, all.src_len, {}, ws);
  for (std::size_t i = 0; i < idx.size(); ++i) {
    const Batch one = make_batch(toy.test, {i});
    const auto alone = greedy_search(model, one.src, one.src_len, {}, ws)[0];
    CHECK(alone.tokens == batched[i].tokens);
    CHECK(alone.log_prob == Approx(batched[i].log_prob).epsilon(1e-4));
  }
}

TEST_CASE("teacher-forced score of a greedy output equals the search's log-probability", "[search]") {
  Toy toy = toy_task("copy", 500, 3, 8);
  Seq2Seq<float> model(config_for(toy, "gru", "bahdanau"), 2);
  train(model, toy.train, {}, quick(50));
  Workspace<float> ws;
  for (std::size_t i = 0; i < 10; ++i) {
    const Batch b = make_batch(toy.test, {i});
    const Hypothesis g = greedy_search(model, b.src, b.src_len, {}, ws)[0];
    REQUIRE(g.finished);
    std::vector<EncodedPair> pair = {{toy.test[i].src, g.tokens}};
    const LossStats s = model.loss(make_batch(pair, {0}), ws);
    CHECK(-s.nll_sum == Approx(g.log_prob).epsilon(1e-4));
  }
}

TEST_CASE("beam search never returns a worse best hypothesis than greedy", "[search]") {
  Toy toy = toy_task("sort", 500, 4, 9);
  Seq2Seq<float> model(config_for(toy, "gru", "luong-general"), 4);
  train(model, toy.train, {}, quick(40));
  Workspace<float> ws;
  SearchOptions greedy, beam;
  beam.beam = 5;
  beam.nbest = 3;
  for (std::size_t i = 0; i < 20; ++i) {
    const Batch b = make_batch(toy.test, {i});
    const Hypothesis g = greedy_search(model, b.src, b.src_len, greedy, ws)[0];
    const auto best = beam_search(model, toy.test[i].src, beam, ws);
    REQUIRE(best.size() == 3);
    CHECK(best[0].score >= best[1].score);
    CHECK(best[1].score >= best[2].score);
    if (g.finished) CHECK(best[0].log_prob >= g.log_prob - 1e-6);
  }
}

TEST_CASE("the same seed and thread count give the same loss curve twice", "[train]") {
  Toy toy = toy_task("reverse", 400, 4, 9);
  auto run = [&] {
    Seq2Seq<float> model(config_for(toy, "lstm", "bahdanau"), 11);
    TrainOptions o = quick(30);
    o.teacher_forcing = 0.7;
    ModelConfig c = model.config();
    return train(model, toy.train, toy.valid, o).train_loss;
  };
  const auto a = run(), b = run();
  REQUIRE(a.size() == 3);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i].value == b[i].value);
}

TEST_CASE("dropout makes training differ from no dropout but stays deterministic", "[train]") {
  Toy toy = toy_task("reverse", 300, 4, 9);
  auto run = [&](double dropout) {
    ModelConfig c = config_for(toy, "gru", "luong-dot");
    c.dropout = dropout;
    c.layers = 2;
    Seq2Seq<float> model(c, 1);
    return train(model, toy.train, {}, quick(20)).train_loss.back().value;
  };
  CHECK(run(0.3) == run(0.3));
  CHECK(run(0.3) != run(0.0));
}

TEST_CASE("the float model computes the same loss as the double model on the same weights", "[model]") {
  Toy toy = toy_task("reverse", 200, 4, 12);
  for (const std::string attention : {"none", "bahdanau", "luong-concat", "local-m", "local-p", "multihead"}) {
    const ModelConfig c = config_for(toy, "lstm", attention);
    Seq2Seq<float> f(c, 9);
    Seq2Seq<double> d(c, 9);
    d.params().assign(f.params().values());
    Workspace<float> wf;
    Workspace<double> wd;
    const Batch b = make_batch(toy.valid, {0, 1, 2, 3, 4, 5, 6, 7});
    f.params().zero_grad();
    d.params().zero_grad();
    const double lf = f.loss_and_grad(b, wf).mean(), ld = d.loss_and_grad(b, wd).mean();
    INFO(attention);
    CHECK(lf == Approx(ld).epsilon(1e-5));
    const arma::vec gf = arma::conv_to<arma::vec>::from(f.params().grads());
    CHECK(arma::norm(gf - d.params().grads()) <= 1e-4 * arma::norm(d.params().grads()));
  }
}

TEST_CASE("models with the same seed start shared parameters from identical values", "[model]") {
  Toy toy = toy_task("copy", 200, 4, 8);
  Seq2Seq<float> a(config_for(toy, "gru", "none"), 21), b(config_for(toy, "gru", "local-p"), 21);
  const long ea = a.params().find("encoder.rnn.weight_hh_l0"), eb = b.params().find("encoder.rnn.weight_hh_l0");
  REQUIRE(ea >= 0);
  REQUIRE(eb >= 0);
  CHECK(arma::approx_equal(a.params().value(ea), b.params().value(eb), "absdiff", 0.0));
  Seq2Seq<float> c(config_for(toy, "gru", "none"), 22);
  CHECK_FALSE(arma::approx_equal(a.params().value(ea), c.params().value(ea), "absdiff", 0.0));
}

TEST_CASE("GRU with Bahdanau attention learns reverse to at least 99% exact match", "[learning]") {
  set_blas_threads(1);  // small GEMMs: one thread avoids the second one spinning
  Toy toy = toy_task("reverse", 5000, 5, 15);
  Seq2Seq<float> model(config_for(toy, "gru", "bahdanau", 64), 1);
  train(model, toy.train, toy.valid, quick(1000));
  const EvalResult r = evaluate(model, toy.test, 250, true);
  std::printf("learning: gru+bahdanau reverse 5-15, 1000 steps: exact match %.2f%%\n", 100 * r.exact_match);
  CHECK(r.exact_match >= 0.99);
}

TEST_CASE("without attention reverse at lengths 20-30 is learned measurably worse", "[learning]") {
  set_blas_threads(1);
  Toy toy = toy_task("reverse", 3000, 20, 30);
  auto accuracy = [&](const std::string& attention) {
    Seq2Seq<float> model(config_for(toy, "gru", attention, 64), 1);
    train(model, toy.train, {}, quick(600));
    return evaluate(model, toy.test, 250, false).token_accuracy;
  };
  const double with = accuracy("bahdanau"), without = accuracy("none");
  std::printf("learning: reverse 20-30, 600 steps: token accuracy bahdanau %.3f, none %.3f\n", with, without);
  CHECK(with > without + 0.3);
}

TEST_CASE("data-parallel shards compute the same loss and gradient as one pass", "[model]") {
  Toy toy = toy_task("reverse", 200, 3, 12);
  for (const std::string attention : {"none", "bahdanau", "local-p", "multihead"}) {
    ModelConfig c = config_for(toy, "lstm", attention);
    c.bidirectional = true;
    Seq2Seq<double> model(c, 4);
    INFO(attention);
    check_shards_match_one_pass(model, toy.valid);
  }
}
