// Subnormal floats are flushed to zero while attend trains (core/float_mode.hpp), per thread, and
// the caller's own mode comes back afterwards.
#include <attend/core/float_mode.hpp>
#include <attend/nn/seq2seq.hpp>
#include <attend/train/trainer.hpp>
#include <catch2/catch.hpp>

#include <limits>

#include "support.hpp"

namespace {

// A product whose exact value (1e-40) lies below the smallest normal float (1.18e-38).
float subnormal_product() {
  volatile float a = 1e-20f, b = 1e-20f;
  return a * b;
}

struct ModeRecorder {
  bool during = false;
  attend::TrainOptions options(bool flush) {
    attend::TrainOptions o;
    o.batch = 16;
    o.steps = 4;
    o.eval_every = 2;
    o.flush_denormals = flush;
    o.validate = [this](std::size_t, double valid_loss) {
      during = attend::flush_denormals_enabled();
      return -valid_loss;
    };
    return o;
  }
};

}  // namespace

TEST_CASE("with subnormals flushed a product below the smallest normal float is zero", "[float-mode]") {
  if (!attend::flush_denormals_supported()) return;  // not x86: the mode does not exist
  {
    attend::FlushDenormalsScope flushed(true);
    CHECK(subnormal_product() == 0.0f);
  }
  attend::FlushDenormalsScope ieee(false);
  const float p = subnormal_product();
  CHECK(p > 0.0f);
  CHECK(p < std::numeric_limits<float>::min());
}

TEST_CASE("a flush-denormals scope gives the thread its previous mode back", "[float-mode]") {
  if (!attend::flush_denormals_supported()) return;
  for (const bool before : {false, true}) {
    attend::set_flush_denormals(before);
    for (const bool inside : {false, true}) {
      {
        attend::FlushDenormalsScope scope(inside);
        CHECK(attend::flush_denormals_enabled() == inside);
      }
      CHECK(attend::flush_denormals_enabled() == before);
    }
  }
  attend::set_flush_denormals(false);
}

TEST_CASE("train runs with subnormals flushed by default and restores the caller's mode", "[float-mode][train]") {
  if (!attend::flush_denormals_supported()) return;
  const auto task = attend::test::tiny_reverse_task();
  for (const bool caller : {false, true}) {
    attend::set_flush_denormals(caller);
    attend::Seq2Seq<float> model(task.config, 1);
    ModeRecorder r;
    attend::train(model, task.train, task.valid, r.options(true));
    CHECK(r.during);
    CHECK(attend::flush_denormals_enabled() == caller);
  }
  attend::set_flush_denormals(false);
}

TEST_CASE("train with flush_denormals off keeps IEEE subnormals and restores the caller's mode", "[float-mode][train]") {
  if (!attend::flush_denormals_supported()) return;
  const auto task = attend::test::tiny_reverse_task();
  attend::set_flush_denormals(true);
  attend::Seq2Seq<float> model(task.config, 1);
  ModeRecorder r;
  attend::train(model, task.train, task.valid, r.options(false));
  CHECK_FALSE(r.during);
  CHECK(attend::flush_denormals_enabled());
  attend::set_flush_denormals(false);
}
