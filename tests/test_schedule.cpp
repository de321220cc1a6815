// Learning-rate schedules (train/schedule.hpp): the factor of each step, how train() applies it
// (with plateau decay on top) and the command-line options that set it.
#include <attend/core/error.hpp>
#include <attend/train/schedule.hpp>
#include <attend/train/trainer.hpp>
#include <catch2/catch.hpp>
#include <map>

#include "support.hpp"

using namespace attend;
using attend::test::contains;
using attend::test::run_cli;
using attend::test::TempDir;

namespace {
LrScheduleOptions schedule(std::size_t warmup, LrSchedule s = LrSchedule::Constant) {
  LrScheduleOptions o;
  o.warmup = warmup;
  o.schedule = s;
  return o;
}
}  // namespace

TEST_CASE("without warmup or schedule every step runs at the configured rate", "[schedule]") {
  for (std::size_t step : {0, 1, 2, 1000}) CHECK(lr_schedule_factor(schedule(0), step) == 1.0);
}

TEST_CASE("linear warmup rises from lr/N at step 1 to lr at step N and stays there", "[schedule]") {
  const auto w = schedule(4);
  CHECK(lr_schedule_factor(w, 1) == 0.25);
  CHECK(lr_schedule_factor(w, 2) == 0.5);
  CHECK(lr_schedule_factor(w, 3) == 0.75);
  CHECK(lr_schedule_factor(w, 4) == 1.0);
  CHECK(lr_schedule_factor(w, 5) == 1.0);
  CHECK(lr_schedule_factor(w, 100000) == 1.0);
}

TEST_CASE("inverse-sqrt after a warmup of W steps is sqrt(W / step)", "[schedule]") {
  const auto w = schedule(4, LrSchedule::InverseSqrt);
  CHECK(lr_schedule_factor(w, 2) == 0.5);  // still warming up
  CHECK(lr_schedule_factor(w, 4) == 1.0);
  CHECK(lr_schedule_factor(w, 16) == Approx(0.5).epsilon(1e-15));
  CHECK(lr_schedule_factor(w, 400) == Approx(0.1).epsilon(1e-15));
}

TEST_CASE("inverse-sqrt without warmup is 1 / sqrt(step)", "[schedule]") {
  const auto w = schedule(0, LrSchedule::InverseSqrt);
  CHECK(lr_schedule_factor(w, 1) == 1.0);
  CHECK(lr_schedule_factor(w, 4) == Approx(0.5).epsilon(1e-15));
  CHECK(lr_schedule_factor(w, 100) == Approx(0.1).epsilon(1e-15));
}

TEST_CASE("schedule names parse and an unknown one is refused naming the valid ones", "[schedule]") {
  CHECK(parse_lr_schedule("constant") == LrSchedule::Constant);
  CHECK(parse_lr_schedule("inverse-sqrt") == LrSchedule::InverseSqrt);
  CHECK(to_string(LrSchedule::InverseSqrt) == "inverse-sqrt");
  CHECK_THROWS_WITH(parse_lr_schedule("cosine"),
                    Catch::Contains("cosine") && Catch::Contains("constant") && Catch::Contains("inverse-sqrt"));
}

TEST_CASE("progress reports the scheduled learning rate of the step", "[schedule]") {
  const auto d = attend::test::tiny_reverse_task();
  Seq2Seq<float> model(d.config, 3);
  TrainOptions o;
  o.optimizer.lr = 0.01;
  o.batch = 32;
  o.steps = 40;
  o.lr_schedule = schedule(20, LrSchedule::InverseSqrt);
  std::map<std::size_t, double> lr;
  train(model, d.train, {}, o, [&](const TrainProgress& p) { lr[p.step] = p.lr; });
  REQUIRE(lr.size() == 4);  // a report every 10 steps
  CHECK(lr[10] == Approx(0.005).epsilon(1e-12));
  CHECK(lr[20] == Approx(0.01).epsilon(1e-12));
  CHECK(lr[40] == Approx(0.01 * std::sqrt(0.5)).epsilon(1e-12));
}

TEST_CASE("the optimizer steps with the scheduled rate: SGD's first update at warmup 4 is a quarter",
          "[schedule]") {
  const auto d = attend::test::tiny_reverse_task();
  auto first_update = [&](std::size_t warmup) {
    Seq2Seq<float> model(d.config, 3);
    const arma::Col<float> before = model.params().values();
    TrainOptions o;
    o.optimizer.kind = OptimizerKind::Sgd;
    o.optimizer.lr = 0.5;
    o.clip = 0;
    o.batch = 32;
    o.steps = 1;
    o.lr_schedule = schedule(warmup);
    train(model, d.train, {}, o);
    return arma::Col<double>(arma::conv_to<arma::vec>::from(model.params().values() - before));
  };
  const arma::vec plain = first_update(0), warm = first_update(4);
  REQUIRE(arma::norm(plain) > 0);
  CHECK(arma::norm(4 * warm - plain) / arma::norm(plain) < 1e-4);
}

TEST_CASE("plateau decay multiplies the scheduled rate", "[schedule]") {
  const auto d = attend::test::tiny_reverse_task();
  Seq2Seq<float> model(d.config, 3);
  TrainOptions o;
  o.optimizer.lr = 0.01;
  o.batch = 32;
  o.steps = 20;
  o.eval_every = 5;
  o.lr_decay = 0.5;
  o.keep_best = false;
  o.lr_schedule = schedule(20);
  o.validate = [](std::size_t, double) { return 0.0; };  // only the first validation improves
  std::map<std::size_t, double> lr;
  const auto r = train(model, d.train, d.valid, o, [&](const TrainProgress& p) { lr[p.step] = p.lr; });
  // Validations at 5 (improves), 10, 15 (decay): step 20 runs at 0.01 · 0.25 · 20/20.
  CHECK(lr[20] == Approx(0.0025).epsilon(1e-12));
  CHECK(lr[10] == Approx(0.01 * 10 / 20).epsilon(1e-12));  // step 10 ran before its validation
  CHECK(r.state.lr == Approx(0.00125).epsilon(1e-12));    // and 20 decays once more
}

TEST_CASE("attend train accepts --warmup and --lr-schedule and records them in the metrics", "[schedule][cli]") {
  TempDir dir;
  const auto r = run_cli(dir, "train --task reverse --steps 4 --train-size 100 --test-size 10 --hidden 8 --emb 4 "
                              "--quiet --warmup 3 --lr-schedule inverse-sqrt --model m.safetensors --metrics-json m.json");
  REQUIRE(r.status == 0);
  const std::string json = attend::test::read_file(dir.file("m.json"));
  CHECK(contains(json, "\"lr_schedule\": \"inverse-sqrt\""));
  CHECK(contains(json, "\"warmup\": 3"));
}

TEST_CASE("attend train refuses an unknown --lr-schedule naming the valid ones", "[schedule][cli]") {
  TempDir dir;
  const auto r = run_cli(dir, "train --task reverse --steps 1 --lr-schedule cosine");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "attend: error:"));
  CHECK(contains(r.err, "cosine"));
  CHECK(contains(r.err, "inverse-sqrt"));
}

TEST_CASE("attend train refuses a --lr-decay that is not positive or is above 1", "[schedule][cli]") {
  TempDir dir;
  for (const char* bad : {"0", "1.5", "-0.5"}) {
    const auto r = run_cli(dir, std::string("train --task reverse --steps 1 --lr-decay ") + bad);
    CHECK(r.status == 2);
    CHECK(contains(r.err, "--lr-decay"));
  }
}

TEST_CASE("attend train refuses a negative --warmup", "[schedule][cli]") {
  TempDir dir;
  const auto r = run_cli(dir, "train --task reverse --steps 1 --warmup -5");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--warmup"));
}

TEST_CASE("the progress line shows the step's scheduled rate", "[schedule][cli]") {
  TempDir dir;
  // --lr 0.003 (the default) at step 4 of an 8-step warmup: 0.0015.
  const auto r = run_cli(dir, "train --task reverse --steps 4 --train-size 100 --test-size 10 --hidden 8 --emb 4 "
                              "--warmup 8 --model m.safetensors");
  REQUIRE(r.status == 0);
  CHECK(contains(r.err, "step 4/4"));
  CHECK(contains(r.err, "lr 0.0015 "));
}
