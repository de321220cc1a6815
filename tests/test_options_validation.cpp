// The library refuses invalid search and training options itself, with the messages the command
// line prints: `attend translate --beam 0` and decode(…, beam 0) fail alike.
#include <attend/core/error.hpp>
#include <attend/decode/decode.hpp>
#include <attend/train/trainer.hpp>
#include <catch2/catch.hpp>

#include "support.hpp"

TEST_CASE("search options validate themselves and decode refuses invalid ones", "[search][validation]") {
  attend::SearchOptions o;
  CHECK_NOTHROW(o.validate());
  o.beam = 0;
  CHECK_THROWS_WITH(o.validate(), "--beam must be at least 1");
  o.beam = 2;
  o.nbest = 3;
  CHECK_THROWS_WITH(o.validate(), "--nbest 3 needs at least as wide a beam; use --beam 3");
  o.nbest = 0;
  CHECK_THROWS_WITH(o.validate(), "--nbest must be at least 1");
  o.nbest = 1;
  o.max_len_ratio = 0;
  CHECK_THROWS_WITH(o.validate(), "--max-len-ratio must be positive");

  const auto task = attend::test::tiny_reverse_task();
  const attend::Seq2Seq<float> model(task.config, 1);
  attend::SearchOptions beam0;
  beam0.beam = 0;
  CHECK_THROWS_WITH(attend::decode(model, {{4, 5, 6}}, beam0), "--beam must be at least 1");
  attend::Workspace<float> ws;
  CHECK_THROWS_WITH(attend::beam_search(model, std::vector<int>{4, 5, 6}, beam0, ws),
                    "--beam must be at least 1");
}

TEST_CASE("training options validate themselves and train refuses invalid ones", "[train][validation]") {
  attend::TrainOptions o;
  CHECK_NOTHROW(attend::validate(o));
  CHECK_THROWS_WITH(attend::parse_optimizer("adagrad"), "unknown optimizer 'adagrad' (valid: adam, sgd)");
  o.optimizer.kind = attend::OptimizerKind::Sgd;
  o.optimizer.lr = 0;
  CHECK_THROWS_WITH(attend::validate(o), "--lr must be positive");
  o.optimizer.lr = 0.1;
  o.teacher_forcing = 1.5;
  CHECK_THROWS_WITH(attend::validate(o), "--teacher-forcing must be in [0, 1]");
  o.teacher_forcing = 1;
  o.label_smoothing = 1;
  CHECK_THROWS_WITH(attend::validate(o), "--label-smoothing must be in [0, 1)");
  o.label_smoothing = 0;
  o.lr_decay = 1.5;
  CHECK_THROWS_WITH(attend::validate(o), "--lr-decay must be in (0, 1] (1 = no decay on a plateau), not 1.5");
  o.lr_decay = 1;
  o.batch = 0;
  CHECK_THROWS_WITH(attend::validate(o), "--batch must be at least 1");

  const auto task = attend::test::tiny_reverse_task();
  attend::Seq2Seq<float> model(task.config, 1);
  CHECK_THROWS_WITH(attend::train(model, task.train, task.valid, o), "--batch must be at least 1");
}
