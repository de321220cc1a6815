// What docs/architecture.md promises about extending attend: a cell or an encoder registered
// from user code, with no edit of the library, trains exactly like the built-in it wraps.
#include <catch2/catch.hpp>

#include "attend/nn/cell.hpp"
#include "attend/nn/encoder.hpp"
#include "attend/nn/seq2seq.hpp"
#include "attend/train/trainer.hpp"
#include "support.hpp"

using namespace attend;

namespace {

// The training losses of 30 steps of the tiny reverse task under `config`.
std::vector<double> losses(const ModelConfig& config) {
  const test::TinyTask task = test::tiny_reverse_task();
  Seq2Seq<float> model(config, 7);
  TrainOptions o;
  o.steps = 30;
  o.batch = 16;
  o.eval_every = 0;
  std::vector<double> out;
  for (const auto& p : train(model, task.train, {}, o).train_loss) out.push_back(p.value);
  return out;
}

ModelConfig as_rnn(ModelConfig c) {
  c.encoder = "rnn";
  return c;
}

}  // namespace

TEST_CASE("a cell registered from user code trains exactly like the built-in it wraps", "[registry]") {
  register_cell(
      "user-gru", [] { return make_cell<float>("gru"); }, [] { return make_cell<double>("gru"); },
      CellTraits{"the GRU, registered from outside the library", 3});
  ModelConfig config = test::tiny_reverse_task().config;
  config.cell = "gru";
  const auto builtin = losses(config);
  config.cell = "user-gru";
  REQUIRE_NOTHROW(config.validate());
  CHECK_THAT(cell_help(), Catch::Contains("user-gru"));
  REQUIRE_FALSE(builtin.empty());
  CHECK(losses(config) == builtin);
}

TEST_CASE("an encoder registered from user code trains exactly like the built-in it wraps", "[registry]") {
  register_encoder(
      "user-rnn",
      [](ParameterRegistry<float>& p, const ModelConfig& c, const Cell<float>& cell) {
        return make_encoder<float>(p, as_rnn(c), cell);
      },
      [](ParameterRegistry<double>& p, const ModelConfig& c, const Cell<double>& cell) {
        return make_encoder<double>(p, as_rnn(c), cell);
      },
      EncoderTraits{"the recurrent encoder, registered from outside the library", {}, true});
  ModelConfig config = test::tiny_reverse_task().config;
  const auto builtin = losses(config);
  config.encoder = "user-rnn";
  REQUIRE_NOTHROW(config.validate());
  CHECK_THAT(encoder_help(), Catch::Contains("user-rnn"));
  REQUIRE_FALSE(builtin.empty());
  CHECK(losses(config) == builtin);
}
