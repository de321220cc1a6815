// Training that goes numerically wrong stops with an attend::Error naming the step and the batch
// (a NaN or infinite loss, a NaN or infinite gradient norm), leaves the last checkpoint as it was,
// and `attend train` reports it as an error with exit status 2.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <attend/core/error.hpp>
#include <attend/io/checkpoint.hpp>
#include <attend/text/tasks.hpp>
#include <attend/train/trainer.hpp>
#include <catch2/catch.hpp>

#include "support.hpp"
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

using Setup = attend::test::TinyTask;

Setup reverse_task() { return attend::test::tiny_reverse_task(); }

attend::TrainOptions sgd_options() {
  attend::TrainOptions o;
  o.optimizer.kind = attend::OptimizerKind::Sgd;
  o.optimizer.lr = 0.1;
  o.batch = 32;
  o.steps = 26;
  o.eval_every = 13;
  return o;
}

// Applies f to the PyTorch-ordered values of parameter `name`.
template <typename F>
void edit_parameter(attend::Seq2Seq<float>& model, const std::string& name, F f) {
  auto& P = model.params();
  const long id = P.find(name);
  REQUIRE(id >= 0);
  std::vector<float> data = P.torch_data(id);
  f(data, P.torch_shape(id));
  P.set_from_torch_data(id, data);
}

// Every output bias +∞: every logit is +∞ and the loss ∞ − ∞ = NaN. (+∞ rather than NaN keeps
// the loss's first-maximum search in range until the NaN-safe argmax lands.)
void make_loss_nan(attend::Seq2Seq<float>& model) {
  edit_parameter(model, "decoder.out.bias", [](std::vector<float>& data, const std::vector<std::size_t>&) {
    for (float& x : data) x = std::numeric_limits<float>::infinity();
  });
}

// Huge target embeddings that neither the logits nor the decoder cell see (their columns are
// zero) in a bahdanau-style model, whose decoder.out reads E y directly: the loss stays finite,
// but decoder.out.weight's gradient (dlogits · (E y)ᵀ ≈ 1e23) overflows the squared norm. (A
// finite loss with the argmax in range: no NaN reaches the logits.)
void make_gradient_overflow(attend::Seq2Seq<float>& model) {
  REQUIRE(model.config().decoder_style() == "bahdanau");
  const std::size_t E = model.config().emb;
  edit_parameter(model, "decoder.embedding.weight", [](std::vector<float>& data, const std::vector<std::size_t>&) {
    for (float& x : data) x = 1e25f;
  });
  edit_parameter(model, "decoder.out.weight", [&](std::vector<float>& data, const std::vector<std::size_t>& shape) {
    for (std::size_t r = 0; r < shape[0]; ++r)
      for (std::size_t c = shape[1] - E; c < shape[1]; ++c) data[r * shape[1] + c] = 0;
  });
  edit_parameter(model, "decoder.rnn.weight_ih_l0", [&](std::vector<float>& data, const std::vector<std::size_t>& shape) {
    for (std::size_t r = 0; r < shape[0]; ++r)
      for (std::size_t c = 0; c < E; ++c) data[r * shape[1] + c] = 0;
  });
}

// The message of the Error that train() throws; empty when it throws none.
std::string train_error(attend::Seq2Seq<float>& model, const Setup& d, const attend::TrainOptions& o) {
  try {
    attend::train(model, d.train, d.valid, o);
  } catch (const attend::Error& e) {
    return e.what();
  }
  return "";
}

// The numbers in "(training examples 4, 17, …)" of a message.
std::vector<std::size_t> listed_examples(const std::string& message) {
  const std::string head = "(training examples ";
  const std::size_t at = message.find(head);
  std::vector<std::size_t> out;
  if (at == std::string::npos) return out;
  std::istringstream in(message.substr(at + head.size(), message.find(')', at) - at - head.size()));
  for (std::string item; std::getline(in, item, ',');)
    if (item.find_first_of("0123456789") != std::string::npos) out.push_back(std::stoul(item));
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("attend_test_train_errors_" + std::to_string(::getpid()) + "_" + name)) {
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace

TEST_CASE("a NaN loss stops training with an error naming the step, the batch and the loss", "[train][non-finite]") {
  const Setup d = reverse_task();
  attend::Seq2Seq<float> model(d.config, 3);
  auto o = sgd_options();
  // After the validation at step 13 the output bias becomes +∞: step 14's loss is NaN.
  o.after_validation = [&](const attend::TrainState& st, bool) {
    if (st.step == 13) make_loss_nan(model);
  };
  const std::string message = train_error(model, d, o);
  CHECK_THAT(message, Catch::StartsWith("step 14, batch of 32 examples (training examples "));
  CHECK_THAT(message, Catch::Contains("the loss is NaN"));
}

TEST_CASE("the error lists the training examples of the batch whose loss is infinite", "[train][non-finite]") {
  Setup d = reverse_task();
  // Example k alone has a target token of its own whose output bias is −∞: p = 0 for it, so the
  // loss is +∞ in k's batch only (elsewhere that logit is −∞ and contributes nothing).
  const std::size_t k = 123;
  const int own = static_cast<int>(d.config.tgt_vocab);
  d.config.tgt_vocab += 1;
  d.train[k].tgt[0] = own;
  attend::Seq2Seq<float> model(d.config, 3);
  edit_parameter(model, "decoder.out.bias", [&](std::vector<float>& data, const std::vector<std::size_t>&) {
    data[own] = -std::numeric_limits<float>::infinity();
  });
  auto o = sgd_options();
  o.batch = 8;
  o.steps = (d.train.size() + o.batch - 1) / o.batch;  // one epoch: every example once
  o.eval_every = 0;
  const std::string message = train_error(model, d, o);
  const auto listed = listed_examples(message);
  CHECK(listed.size() == 8);
  CHECK(std::count(listed.begin(), listed.end(), k) == 1);
  CHECK_THAT(message, Catch::Contains("batch of 8 examples") && Catch::Contains("the loss is infinite"));
}

TEST_CASE("an infinite gradient norm with a finite loss stops training with an error naming it", "[train][non-finite]") {
  Setup d = reverse_task();
  d.config.attention = "bahdanau";
  attend::Seq2Seq<float> model(d.config, 3);
  make_gradient_overflow(model);
  REQUIRE(std::isfinite(attend::teacher_forced_loss(model, d.train, 32).mean()));
  const std::string message = train_error(model, d, sgd_options());
  CHECK_THAT(message, Catch::StartsWith("step 1, batch of 32 examples (training examples "));
  CHECK_THAT(message, Catch::Contains("the gradient norm is infinite"));
}

TEST_CASE("a checkpoint saved at the validation before a NaN loss is left byte for byte unchanged", "[train][non-finite][checkpoint]") {
  const Setup d = reverse_task();
  const TempDir dir("checkpoint");
  const std::string path = dir.file("model.h5");
  attend::Seq2Seq<float> model(d.config, 3);
  attend::ModelBundle b;
  b.model = std::make_unique<attend::Seq2Seq<float>>(d.config, 3);
  b.src_vocab = d.src_vocab;
  b.tgt_vocab = d.tgt_vocab;
  b.tokenizer = attend::Tokenizer::Space;
  std::string saved;
  auto o = sgd_options();
  o.eval_every = 1;  // a validation (and a save) after every good step
  o.after_validation = [&](const attend::TrainState& st, bool) {
    b.model->params().assign(model.params().values());
    b.train_state = st;
    attend::save_model(path, b);
    saved = slurp(path);
    if (st.step == 13) make_loss_nan(model);
  };
  CHECK_THROWS_AS(attend::train(model, d.train, d.valid, o), attend::Error);
  REQUIRE_FALSE(saved.empty());
  CHECK(slurp(path) == saved);
  REQUIRE(attend::load_model(path).train_state);
  CHECK(attend::load_model(path).train_state->step == 13);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("attend train reports a diverging run as an error with exit status 2 and saves no model", "[train][non-finite][cli]") {
  // A run resumed from a checkpoint whose next step overflows the gradient norm (finite values:
  // load_model accepts them), on small parallel files.
  const TempDir dir("cli");
  auto text = [&](const std::string& name, const std::string& content) {
    std::ofstream(dir.file(name), std::ios::binary) << content;
    return dir.file(name);
  };
  const std::string src = text("train.src", "a b c\nc a\nb b a\nc\n"), tgt = text("train.tgt", "x y\nz z x\ny\nx z\n");
  attend::ModelBundle b;
  b.src_vocab = attend::Vocab({"<pad>", "<s>", "</s>", "<unk>", "a", "b", "c"});
  b.tgt_vocab = attend::Vocab({"<pad>", "<s>", "</s>", "<unk>", "x", "y", "z"});
  b.tokenizer = attend::Tokenizer::Space;
  attend::ModelConfig c;
  c.attention = "bahdanau";
  c.emb = 8;
  c.hidden = 12;
  c.src_vocab = c.tgt_vocab = 7;
  b.model = std::make_unique<attend::Seq2Seq<float>>(c, 3);
  make_gradient_overflow(*b.model);
  b.train_state = attend::TrainState{};
  std::ostringstream rng;
  rng << std::mt19937_64(1);
  b.train_state->sample_rng = rng.str();
  const std::string start = dir.file("start.h5"), model = dir.file("model.h5");
  attend::save_model(start, b);
  const std::string start_bytes = slurp(start);
  const std::string cmd = std::string("'") + ATTEND_CLI_PATH + "' train --resume '" + start + "' --model '" + model +
                          "' --train-src '" + src + "' --train-tgt '" + tgt + "' --valid-src '" + src +
                          "' --valid-tgt '" + tgt + "' --optimizer sgd --steps 3 --batch 4 --quiet >/dev/null 2>'" +
                          dir.file("stderr.txt") + "'";
  const int raw = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(raw));
  CHECK(WEXITSTATUS(raw) == 2);
  CHECK_THAT(slurp(dir.file("stderr.txt")),
             Catch::StartsWith("attend: error: step 1, batch of 4 examples (training examples ") &&
                 Catch::Contains("the gradient norm is infinite"));
  CHECK_FALSE(fs::exists(model));
  CHECK_FALSE(fs::exists(model + ".last"));
  CHECK(slurp(start) == start_bytes);
}
