// Resuming a run (--resume): a run stopped at a validation and continued from its TrainState —
// in memory or through a checkpoint file — ends with exactly the parameters of the run that was
// never stopped, for every optimizer (the optimizer's own variables travel with the state) and
// at any thread count with dropout and scheduled sampling (the shards' random streams derive
// from the saved sampling stream). The same holds for the Transformer decoder, over the
// Transformer encoder and over a recurrent one, with dropout on.
#include <attend/io/checkpoint.hpp>
#include <attend/io/checkpoint_file.hpp>
#include <attend/core/error.hpp>
#include <attend/text/tasks.hpp>
#include <attend/train/trainer.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace {


using Setup = attend::test::TinyTask;

Setup reverse_task(double dropout = 0) { return attend::test::tiny_reverse_task(dropout); }

attend::TrainOptions options(const std::string& optimizer, double lr, double momentum) {
  attend::TrainOptions o;
  o.optimizer.kind = attend::parse_optimizer(optimizer);
  o.optimizer.lr = lr;
  o.optimizer.momentum = momentum;
  o.batch = 32;       // 10 batches per epoch: the resume point (step 13) is mid-epoch
  o.steps = 26;
  o.eval_every = 13;
  o.keep_best = false;
  return o;
}

// Adam on `threads` data-parallel shards with scheduled sampling (teacher forcing 0.8); with the
// dropout of sampled_task() both use the random streams in every shard.
attend::TrainOptions sharded(std::size_t threads) {
  attend::TrainOptions o = options("adam", 0.01, 0);
  o.threads = threads;
  o.teacher_forcing = 0.8;
  return o;
}

Setup sampled_task() { return reverse_task(0.2); }

// The task with the Transformer decoder (2 layers, multihead cross-attention) over `encoder`:
// transformer (1 self-attention layer) or rnn (a GRU, the hybrid); dropout 0.2 on both, so the
// training stream draws masks at every step.
Setup transformer_task(const std::string& encoder) {
  Setup d = reverse_task(0.2);
  d.config.encoder = encoder;
  d.config.decoder = "transformer";
  d.config.attention = "multihead";
  d.config.heads = 2;
  d.config.self_heads = 3;
  d.config.self_layers = 1;
  d.config.decoder_layers = 2;
  d.config.ffn = 16;
  return d;
}

// A checkpointable bundle of the task's model (initial values of seed 3) and vocabularies.
attend::ModelBundle bundle_of(const Setup& d) {
  attend::ModelBundle b;
  b.model = std::make_unique<attend::Seq2Seq<float>>(d.config, 3);
  b.src_vocab = d.src_vocab;
  b.tgt_vocab = d.tgt_vocab;
  b.tokenizer = attend::Tokenizer::Space;
  return b;
}

// The first 13 of o.steps = 26 updates and the TrainState saved at their validation.
struct FirstHalf {
  arma::Col<float> values;
  attend::TrainState state;
};

FirstHalf first_half(const Setup& d, const attend::TrainOptions& o) {
  attend::Seq2Seq<float> first(d.config, 3);
  std::optional<attend::TrainState> saved;
  auto half = o;
  half.steps = 13;
  half.after_validation = [&](const attend::TrainState& st, bool) { saved = st; };
  attend::train(first, d.train, d.valid, half);
  REQUIRE(saved);
  CHECK(saved->step == 13);
  CHECK(saved->epoch == 2);
  CHECK(saved->next_batch == 3);
  return {first.params().values(), *saved};
}

// The largest difference between the parameters after 26 uninterrupted updates and after the
// second 13 resumed from `state` (the first half's parameters in `values`).
float difference_after_resume(const Setup& d, const attend::TrainOptions& o, const arma::Col<float>& values,
                              const attend::TrainState& state) {
  attend::Seq2Seq<float> whole(d.config, 3);
  attend::train(whole, d.train, d.valid, o);
  attend::Seq2Seq<float> second(d.config, 99);  // different initial values, overwritten below
  second.params().assign(values);
  auto rest = o;
  rest.resume = &state;
  const auto r = attend::train(second, d.train, d.valid, rest);
  CHECK(r.steps == 26);
  return arma::abs(second.params().values() - whole.params().values()).max();
}

// Resumes in memory, or through a checkpoint file when `via` names one.
float resumed_difference(const Setup& d, const attend::TrainOptions& o, const std::string& via = "") {
  FirstHalf h = first_half(d, o);
  if (!via.empty()) {
    attend::ModelBundle b = bundle_of(d);
    b.model->params().assign(h.values);
    b.train_state = h.state;
    attend::save_model(via, b);
    attend::ModelBundle l = attend::load_model(via);
    REQUIRE(l.train_state);
    h.state = *l.train_state;
    h.values = l.model->params().values();
  }
  return difference_after_resume(d, o, h.values, h.state);
}

float resumed_difference(const attend::TrainOptions& o, const std::string& via = "") {
  return resumed_difference(reverse_task(), o, via);
}

}  // namespace

TEST_CASE("resuming plain SGD continues the same run bit for bit", "[resume]") {
  CHECK(resumed_difference(options("sgd", 0.1, 0)) == 0.0f);
}

TEST_CASE("resuming SGD with momentum continues the same run bit for bit", "[resume]") {
  CHECK(resumed_difference(options("sgd", 0.05, 0.9)) == 0.0f);
}

TEST_CASE("resuming Adam continues the same run bit for bit (moments and step count restored)", "[resume]") {
  CHECK(resumed_difference(options("adam", 0.01, 0)) == 0.0f);
}

TEST_CASE("resuming Adam through a checkpoint file continues the same run bit for bit", "[resume]") {
  const attend::test::TempDir dir;
  const std::string path = dir.file("adam.h5");
  CHECK(resumed_difference(options("adam", 0.01, 0), path) == 0.0f);
}

TEST_CASE("resuming Adam in the middle of a linear warmup continues the same run bit for bit", "[resume][schedule]") {
  attend::TrainOptions o = options("adam", 0.01, 0);
  o.lr_schedule.warmup = 20;  // the resume point, step 13, is inside the warmup
  CHECK(resumed_difference(o) == 0.0f);
}

TEST_CASE("resuming warmup, inverse-sqrt and plateau decay through a checkpoint file is bit for bit",
          "[resume][schedule]") {
  const Setup d = reverse_task();
  attend::TrainOptions o = options("adam", 0.01, 0);
  o.steps = 24;
  o.eval_every = 6;
  o.lr_schedule.warmup = 5;
  o.lr_schedule.schedule = attend::LrSchedule::InverseSqrt;
  o.lr_decay = 0.5;
  o.validate = [](std::size_t, double) { return 0.0; };  // only the first validation improves
  attend::Seq2Seq<float> first(d.config, 3);
  std::optional<attend::TrainState> saved;
  auto half = o;
  half.steps = 12;
  half.after_validation = [&](const attend::TrainState& st, bool) { saved = st; };
  attend::train(first, d.train, d.valid, half);
  REQUIRE(saved);
  REQUIRE(saved->step == 12);
  CHECK(saved->lr == 0.005);  // decayed once, at step 12; the schedule's factor is not in it

  const attend::test::TempDir dir;
  attend::ModelBundle b = bundle_of(d);
  b.model->params().assign(first.params().values());
  b.train_state = *saved;
  attend::save_model(dir.file("schedule.safetensors"), b);
  attend::ModelBundle loaded = attend::load_model(dir.file("schedule.safetensors"));
  REQUIRE(loaded.train_state);

  attend::Seq2Seq<float> whole(d.config, 3);
  attend::train(whole, d.train, d.valid, o);
  auto rest = o;
  rest.resume = &*loaded.train_state;
  const auto r = attend::train(*loaded.model, d.train, d.valid, rest);
  CHECK(r.steps == 24);
  CHECK(r.state.lr == 0.00125);  // decayed again at 18 and 24
  CHECK(arma::abs(loaded.model->params().values() - whole.params().values()).max() == 0.0f);
}

TEST_CASE("a resumed Adam run without its moments differs from the uninterrupted one", "[resume]") {
  // The checks above can fail: dropping the moments changes the result.
  const Setup d = reverse_task();
  const auto o = options("adam", 0.01, 0);
  FirstHalf h = first_half(d, o);
  h.state.optimizer = {};
  CHECK(difference_after_resume(d, o, h.values, h.state) > 1e-4f);
}

TEST_CASE("resuming on 2 threads with dropout and scheduled sampling continues the same run bit for bit", "[resume][threads]") {
  CHECK(resumed_difference(sampled_task(), sharded(2)) == 0.0f);
}

TEST_CASE("resuming on 3 threads with dropout and scheduled sampling continues the same run bit for bit", "[resume][threads]") {
  CHECK(resumed_difference(sampled_task(), sharded(3)) == 0.0f);
}

TEST_CASE("resuming on 2 threads through a checkpoint file continues the same run bit for bit", "[resume][threads]") {
  const attend::test::TempDir dir;
  const std::string path = dir.file("threads2.safetensors");
  CHECK(resumed_difference(sampled_task(), sharded(2), path) == 0.0f);
}

TEST_CASE("resuming on 3 threads through a checkpoint file continues the same run bit for bit", "[resume][threads]") {
  const attend::test::TempDir dir;
  const std::string path = dir.file("threads3.safetensors");
  CHECK(resumed_difference(sampled_task(), sharded(3), path) == 0.0f);
}

TEST_CASE("a resumed 2-thread run with another sampling stream differs from the uninterrupted one", "[resume][threads]") {
  // The checks above can fail: the shards' dropout and sampling depend on the saved stream.
  const Setup d = sampled_task();
  const auto o = sharded(2);
  FirstHalf h = first_half(d, o);
  std::mt19937_64 other(12345);
  std::ostringstream text;
  text << other;
  h.state.sample_rng = text.str();
  CHECK(difference_after_resume(d, o, h.values, h.state) > 1e-4f);
}

TEST_CASE("resuming the Transformer decoder with dropout continues the same run bit for bit", "[resume][transformer-decoder]") {
  for (const std::string encoder : {"transformer", "rnn"}) {
    INFO("encoder " << encoder);
    CHECK(resumed_difference(transformer_task(encoder), options("adam", 0.01, 0)) == 0.0f);
  }
}

TEST_CASE("resuming the Transformer decoder through a checkpoint file mid-warmup of inverse-sqrt is bit for bit",
          "[resume][transformer-decoder][schedule]") {
  attend::TrainOptions o = options("adam", 0.01, 0);
  o.lr_schedule.warmup = 20;  // the resume point, step 13, is inside the warmup
  o.lr_schedule.schedule = attend::LrSchedule::InverseSqrt;
  o.label_smoothing = 0.1;
  const attend::test::TempDir dir;
  for (const std::string encoder : {"transformer", "rnn"}) {
    INFO("encoder " << encoder);
    CHECK(resumed_difference(transformer_task(encoder), o, dir.file(encoder + ".safetensors")) == 0.0f);
  }
}

TEST_CASE("resuming the Transformer decoder on 2 threads through a checkpoint file is bit for bit",
          "[resume][transformer-decoder][threads]") {
  attend::TrainOptions o = options("adam", 0.01, 0);
  o.threads = 2;
  const attend::test::TempDir dir;
  for (const std::string encoder : {"transformer", "rnn"}) {
    INFO("encoder " << encoder);
    CHECK(resumed_difference(transformer_task(encoder), o, dir.file(encoder + ".safetensors")) == 0.0f);
  }
}

TEST_CASE("a resumed Transformer-decoder run with another sampling stream differs from the uninterrupted one",
          "[resume][transformer-decoder]") {
  // The checks above can fail: the dropout masks after the resume come from the saved stream.
  const Setup d = transformer_task("transformer");
  const auto o = options("adam", 0.01, 0);
  FirstHalf h = first_half(d, o);
  std::mt19937_64 other(12345);
  std::ostringstream text;
  text << other;
  h.state.sample_rng = text.str();
  CHECK(difference_after_resume(d, o, h.values, h.state) > 1e-4f);
}

TEST_CASE("the checkpoint stores Adam's moments per parameter under PyTorch's state names", "[resume][checkpoint]") {
  const Setup d = reverse_task();
  attend::ModelBundle b = bundle_of(d);
  attend::TrainState st;
  const auto& P = b.model->params();
  st.optimizer.steps = 7;
  st.optimizer.buffers["exp_avg"] = arma::linspace<arma::Col<float>>(0, 1, P.size());
  st.optimizer.buffers["exp_avg_sq"] = arma::linspace<arma::Col<float>>(1, 2, P.size());
  b.train_state = st;
  const attend::test::TempDir dir;
  const std::string path = dir.file("moments.h5");
  attend::save_model(path, b);
  const attend::ModelBundle l = attend::load_model(path);
  const attend::CheckpointFile f = attend::load_checkpoint_file(path);
  CHECK(f.optimizer.size() == 2 * P.entries().size());
  bool named = false;
  for (const auto& t : f.optimizer) named |= t.name == "decoder.out.weight.exp_avg_sq";
  CHECK(named);
  REQUIRE(l.train_state);
  CHECK(l.train_state->optimizer.steps == 7);
  REQUIRE(l.train_state->optimizer.buffers.size() == 2);
  CHECK(arma::approx_equal(l.train_state->optimizer.buffers.at("exp_avg"), st.optimizer.buffers["exp_avg"], "absdiff", 0.0f));
  CHECK(arma::approx_equal(l.train_state->optimizer.buffers.at("exp_avg_sq"), st.optimizer.buffers["exp_avg_sq"], "absdiff", 0.0f));
}

TEST_CASE("a checkpoint whose optimizer state does not fit the model is refused by name", "[resume][checkpoint]") {
  const Setup d = reverse_task();
  attend::ModelBundle b = bundle_of(d);
  b.train_state = attend::TrainState{};
  b.train_state->optimizer.buffers["exp_avg"].zeros(b.model->params().size());
  const attend::test::TempDir dir;
  const std::string path = dir.file("bad_moments.h5");
  attend::save_model(path, b);
  attend::CheckpointFile f = attend::load_checkpoint_file(path);
  REQUIRE_FALSE(f.optimizer.empty());
  attend::CheckpointFile misshapen = f;
  misshapen.optimizer[0].shape = {f.optimizer[0].data.size(), 1};
  attend::save_checkpoint_file(path, misshapen);
  CHECK_THROWS_WITH(attend::load_model(path), Catch::Contains("optimizer state '" + f.optimizer[0].name + "' has shape"));
  attend::CheckpointFile partial = f;
  partial.optimizer.pop_back();
  attend::save_checkpoint_file(path, partial);
  CHECK_THROWS_WITH(attend::load_model(path), Catch::Contains("optimizer state 'exp_avg' covers"));
}
