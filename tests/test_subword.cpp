// SentencePiece subwords: in-memory training, encode/decode, base64, and a checkpoint that holds
// the models and a training state.
#include <unistd.h>

#include <attend/io/checkpoint.hpp>
#include <attend/core/error.hpp>
#include <attend/text/subword.hpp>
#include <attend/text/tasks.hpp>
#include <attend/train/trainer.hpp>
#include <optional>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

namespace {

std::vector<std::string> synthetic_sentences() {
  const std::vector<std::string> subjects = {"the cat", "a dog", "my neighbour", "the old farmer", "two birds"};
  const std::vector<std::string> verbs = {"sees", "follows", "watches", "greets", "ignores"};
  const std::vector<std::string> objects = {"the river", "a small house", "the tall trees", "her friends",
                                            "the morning train"};
  std::vector<std::string> out;
  for (const auto& s : subjects)
    for (const auto& v : verbs)
      for (const auto& o : objects) out.push_back(s + " " + v + " " + o + ".");
  return out;
}

}  // namespace

TEST_CASE("base64 round-trips every byte value and rejects bad text", "[subword]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n : {0, 1, 2, 3, 4, 5, 256}) {
    const std::string s = all.substr(0, n);
    CHECK(attend::base64_decode(attend::base64_encode(s)) == s);
  }
  CHECK(attend::base64_encode("foob") == "Zm9vYg==");
  CHECK(attend::base64_encode("fooba") == "Zm9vYmE=");
  CHECK_THROWS_AS(attend::base64_decode("Zm9"), attend::Error);
  CHECK_THROWS_AS(attend::base64_decode("Zm9*"), attend::Error);
}

TEST_CASE("a BPE model trains in memory and decodes what it encodes", "[subword]") {
  attend::SubwordOptions o;
  o.vocab_size = 60;
  const auto m = attend::SubwordModel::train(synthetic_sentences(), o);
  CHECK(m.size() >= 30);
  const std::string line = "the old dog greets a small farmer.";
  const auto pieces = m.encode(line);
  CHECK(pieces.size() > 1);
  CHECK(m.decode(pieces) == line);
  CHECK(m.encode("").empty());
  const auto again = attend::SubwordModel::from_serialized(m.serialized());
  CHECK(again.encode(line) == pieces);
  CHECK_THROWS_AS(attend::SubwordModel::from_serialized("not a model"), attend::Error);
  o.model_type = "unigram";
  const auto u = attend::SubwordModel::train(synthetic_sentences(), o);
  CHECK(u.decode(u.encode(line)) == line);
  o.model_type = "wordpiece";
  CHECK_THROWS_AS(attend::SubwordModel::train(synthetic_sentences(), o), attend::Error);
}

TEST_CASE("a checkpoint keeps the SentencePiece models and the training state", "[subword]") {
  attend::SubwordOptions o;
  o.vocab_size = 60;
  auto sp = std::make_shared<const attend::SubwordModel>(attend::SubwordModel::train(synthetic_sentences(), o));
  attend::ModelBundle b;
  b.tokenizer = attend::Tokenizer::Spm;
  b.src_subword = b.tgt_subword = sp;
  std::vector<std::vector<std::string>> tokens;
  for (const auto& s : synthetic_sentences()) tokens.push_back(b.tokenize_source(s));
  b.src_vocab = b.tgt_vocab = attend::Vocab::build(tokens);
  attend::ModelConfig c;
  c.emb = 4;
  c.hidden = 6;
  c.src_vocab = b.src_vocab.size();
  c.tgt_vocab = b.tgt_vocab.size();
  b.model = std::make_unique<attend::Seq2Seq<float>>(c, 1);
  attend::TrainState st;
  st.step = 42;
  st.epoch = 3;
  st.next_batch = 7;
  st.epoch_rng = "1 2 3";
  st.sample_rng = "4 5 6";
  st.lr = 0.00123;
  st.best_score = 31.5;
  st.best_step = 40;
  st.bad_evals = 1;
  b.train_state = st;
  const auto path = (std::filesystem::temp_directory_path() /
                     ("attend_subword_" + std::to_string(getpid()) + ".h5")).string();
  attend::save_model(path, b);
  const auto l = attend::load_model(path);
  std::filesystem::remove(path);
  REQUIRE(l.tokenizer == attend::Tokenizer::Spm);
  REQUIRE(l.src_subword);
  CHECK(l.src_subword == l.tgt_subword);  // shared stays shared
  CHECK(l.detokenize_target(l.tokenize_source("the cat sees the river.")) == "the cat sees the river.");
  REQUIRE(l.train_state);
  CHECK(l.train_state->step == 42);
  CHECK(l.train_state->next_batch == 7);
  CHECK(l.train_state->epoch_rng == "1 2 3");
  CHECK(l.train_state->lr == 0.00123);
  CHECK(l.train_state->best_score == 31.5);
  CHECK(l.train_state->bad_evals == 1);
  CHECK_THROWS_AS(attend::tokenize("x", attend::Tokenizer::Spm), attend::Error);
}
