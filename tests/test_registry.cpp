// The registries (cells, attention strategies and their traits), the model's option table and the
// enums it holds, and the defects fixed with them: read-only views of const data, the attention
// window kept in the caller's cache, non-finite logits.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <sstream>
#include <thread>
#include <type_traits>
#include <typeinfo>

#include "attend/nn/seq2seq.hpp"
#include "attend/text/batching.hpp"

using namespace attend;

namespace {

bool lists(const std::vector<RegistryItem>& items, const std::string& name) {
  for (const auto& i : items)
    if (i.name == name) return !i.help.empty();
  return false;
}

// A strategy with no traits: uniform weights over the real positions, no parameters.
template <typename T>
class UniformAttention : public Attention<T> {
 public:
  UniformAttention(ParameterRegistry<T>&, const ModelConfig&, const std::string&) {}
  void forward(const Mat<T>&, std::size_t, const Memory<T>& m, AttentionState&, AttentionState&,
               Mat<T>& context, Mat<T>& weights) const override {
    weights.zeros(m.S, m.B);
    context.zeros(m.dim(), m.B);
    for (std::size_t b = 0; b < m.B; ++b) {
      const std::size_t n = (*m.len)[b];
      for (std::size_t j = 0; j < n; ++j) weights(j, b) = T(1) / T(n);
      context.col(b) = *m.example(b) * weights.col(b);
    }
  }
  void backward(const Mat<T>& dcontext, const Mat<T>& q, std::size_t, const Memory<T>& m,
                AttentionState&, AttentionState&, const Mat<T>& weights, Mat<T>& dq,
                Mat<T>& dmemory) const override {
    dq.zeros(q.n_rows, q.n_cols);
    for (std::size_t b = 0; b < m.B; ++b) {
      Mat<T> dh = block(dmemory, b * m.S, m.S);
      dh += dcontext.col(b) * weights.col(b).t();
    }
  }
};

ModelConfig tiny(const std::string& attention) {
  ModelConfig c;
  c.attention = attention;
  c.emb = 3;
  c.hidden = 4;
  c.heads = 2;
  c.max_src_len = 6;
  c.src_vocab = c.tgt_vocab = 9;
  return c;
}

Batch tiny_batch() {
  std::vector<EncodedPair> pairs(3);
  pairs[0].src = {4, 5, 6, 7};
  pairs[0].tgt = {5, 6};
  pairs[1].src = {8, 4};
  pairs[1].tgt = {7, 8, 4};
  pairs[2].src = {6, 6, 5};
  pairs[2].tgt = {4};
  return make_batch(pairs, {0, 1, 2});
}

}  // namespace

TEST_CASE("the registries list every built-in with a help line", "[registry]") {
  for (const char* name : {"none", "bahdanau", "luong-dot", "luong-general", "luong-concat",
                           "location", "scaled-dot", "local-m", "local-p", "multihead"})
    CHECK(lists(attention_list(), name));
  for (const char* name : {"rnn", "lstm", "gru"}) CHECK(lists(cell_list(), name));
  CHECK(attention_help().rfind("none | bahdanau | luong-dot | luong-general", 0) == 0);
  CHECK(cell_help().rfind("rnn | lstm | gru", 0) == 0);
  CHECK(local_score_help() == "dot | general | concat");
  CHECK(bridge_help() == "none | copy | dense");
  CHECK(decoder_style_help() == "auto | bahdanau | luong | transformer");
  CHECK(cell_traits("lstm").gates == 4);
  CHECK(cell_traits("gru").gates == 3);
  CHECK(cell_traits("rnn").gates == 1);
  CHECK_THROWS_WITH(attention_traits("bogus"), Catch::Contains("unknown attention 'bogus'") &&
                                                    Catch::Contains("multihead"));
  CHECK_THROWS_WITH(make_cell<float>("bogus"), Catch::Contains("unknown cell 'bogus'") &&
                                                   Catch::Contains("gru"));
}

TEST_CASE("decoder style auto resolves through the strategy's entry", "[registry]") {
  ModelConfig c;
  c.attention = "bahdanau";
  CHECK(c.style() == DecoderStyle::Bahdanau);
  for (const char* name : {"luong-dot", "location", "local-p", "multihead"}) {
    c.attention = name;
    CHECK(c.style() == DecoderStyle::Luong);
  }
  c.attention = "none";
  CHECK(c.style() == DecoderStyle::None);
  c.decoder = "bahdanau";
  CHECK(c.style() == DecoderStyle::None);  // no context whatever the style asked for
  CHECK(c.decoder_style() == "none");
  c.attention = "luong-general";
  CHECK(c.style() == DecoderStyle::Bahdanau);
  CHECK(c.decoder_style() == "bahdanau");
}

TEST_CASE("each strategy validates and fits its own options", "[registry]") {
  ModelConfig c = tiny("multihead");
  c.heads = 3;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--heads 3 does not divide --hidden 4"));
  c.heads = 2;
  CHECK_NOTHROW(c.validate());

  c = tiny("local-p");
  c.score = "additive";
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("unknown score 'additive'") &&
                                      Catch::Contains("dot, general, concat"));
  c.score = "dot";
  c.window = 0;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--window must be at least 1"));
  c = tiny("luong-dot");
  c.window = 0;
  c.score = "whatever";
  CHECK_NOTHROW(c.validate());  // not a local strategy: --window and --score are unused

  c = tiny("location");
  c.max_src_len = 0;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--max-src-len must be at least 1"));
  c.fit_to_data(17, false);
  CHECK(c.max_src_len == 17);
  CHECK(c.source_limit() == 17);
  CHECK_THROWS_WITH(c.fit_to_data(18, true), Catch::Contains("raise --max-src-len to at least 18"));
  c = tiny("bahdanau");
  c.fit_to_data(100, false);
  CHECK(c.max_src_len == 6);  // untouched: only location sizes itself from the data
  CHECK(c.source_limit() == 0);
}

TEST_CASE("strategies count their own GEMM FLOPs", "[registry]") {
  ModelConfig c = tiny("luong-dot");
  c.hidden = 10;
  c.max_src_len = 7;
  auto cost = [&](const std::string& name) {
    c.attention = name;
    return attention_traits(name).cost ? attention_traits(name).cost(c) : GemmCost{};
  };
  const double HH = 3 * 2 * 100.0;
  CHECK(cost("luong-dot").per_source_position == 0);
  CHECK(cost("luong-dot").per_target_step == 0);
  CHECK(cost("luong-general").per_source_position == HH);
  CHECK(cost("bahdanau").per_target_step == HH);
  CHECK(cost("location").per_target_step == 3 * 2 * 7 * 10.0);
  c.score = "concat";
  CHECK(cost("local-m").per_source_position == HH);
  CHECK(cost("local-p").per_target_step == 2 * HH);
  CHECK(cost("multihead").per_source_position == 3 * HH);
  CHECK(cost("multihead").per_target_step == 4 * HH);
  CHECK(!attention_traits("none").cost);
}

TEST_CASE("registering a taken name is an error naming it", "[registry]") {
  CHECK_THROWS_WITH(register_attention<UniformAttention>("bahdanau"),
                    Catch::Contains("attention 'bahdanau' is already registered"));
  CHECK_THROWS_WITH(register_cell(
                        "gru", [] { return make_cell<float>("rnn"); },
                        [] { return make_cell<double>("rnn"); }),
                    Catch::Contains("cell 'gru' is already registered"));
  CHECK_THROWS_WITH(register_cell<float>("lstm", [] { return make_cell<float>("rnn"); }),
                    Catch::Contains("cell 'lstm' is already registered"));
  // the built-ins still work
  CHECK(make_cell<float>("gru")->gates() == 3);
}

TEST_CASE("a user strategy without traits works like a built-in", "[registry]") {
  static const bool registered = [] {
    register_attention<UniformAttention>("test-uniform");
    return true;
  }();
  (void)registered;
  CHECK_THROWS_WITH(register_attention<UniformAttention>("test-uniform"),
                    Catch::Contains("'test-uniform' is already registered"));
  ModelConfig c = tiny("test-uniform");
  CHECK_NOTHROW(c.validate());
  CHECK(c.style() == DecoderStyle::Luong);
  CHECK(c.source_limit() == 0);
  CHECK(lists(attention_list(), "test-uniform") == false);  // listed, without a help line
  CHECK(attention_help().find("test-uniform") != std::string::npos);
  Seq2Seq<float> model(c, 3);
  Workspace<float> ws;
  const LossStats s = model.loss_and_grad(tiny_batch(), ws);
  CHECK(std::isfinite(s.nll_sum));
  CHECK(!s.non_finite);
}

TEST_CASE("lookups run while other threads register", "[registry]") {
  std::atomic<bool> failed{false};
  std::atomic<int> registered{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; i < 50; ++i) {
        register_attention<UniformAttention>("test-concurrent-" + std::to_string(w) + "-" + std::to_string(i));
        register_cell("test-cell-" + std::to_string(w) + "-" + std::to_string(i),
                      [] { return make_cell<float>("gru"); }, [] { return make_cell<double>("gru"); });
        ++registered;
      }
    });
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        if (!attention_known("bahdanau") || attention_traits("bahdanau").decoder != DecoderStyle::Bahdanau ||
            attention_names().size() < 10 || make_cell<float>("lstm")->gates() != 4 ||
            cell_help().find("gru") == std::string::npos)
          failed = true;
        ParameterRegistry<float> p;
        if (!make_attention<float>("luong-general", p, tiny("luong-general"), "a.")) failed = true;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(!failed);
  CHECK(registered == 100);
  CHECK(attention_known("test-concurrent-1-49"));
  CHECK(cell_known("test-cell-0-49"));
  CHECK(make_cell<double>("test-cell-1-7")->gates() == 3);
}

TEST_CASE("the option table writes the checkpoint keys and values of format 1 (and luong_output)", "[config]") {
  ModelConfig c;
  c.cell = "lstm";
  c.attention = "local-p";
  c.decoder = "bahdanau";
  c.score = "concat";
  c.bridge = Bridge::Dense;
  c.layers = 2;
  c.bidirectional = true;
  c.dropout = 0.1;
  c.reverse_source = true;
  c.src_vocab = 30;
  c.tgt_vocab = 31;
  const std::map<std::string, std::string> expected = {
      {"cell", "lstm"},      {"attention", "local-p"}, {"decoder", "bahdanau"},
      {"score", "concat"},   {"bridge", "dense"},      {"layers", "2"},
      {"bidirectional", "1"}, {"emb", "64"},           {"hidden", "128"},
      {"dropout", "0.100000"}, {"window", "5"},         {"heads", "4"},
      {"max_src_len", "64"}, {"reverse_source", "1"},  {"src_vocab", "30"},
      {"tgt_vocab", "31"},
      // added after format 1 (the luong output, the encoder choice); a file without them is a
      // tanh-output rnn model
      {"luong_output", "tanh"}, {"encoder", "rnn"}, {"self_layers", "1"}, {"self_heads", "4"},
      {"ffn", "512"}, {"norm_first", "0"}, {"activation", "relu"},
      // added with the Transformer decoder
      {"decoder_layers", "0"}, {"tie_embeddings", "0"}, {"share_embeddings", "0"},
      // added with the normalizer choice (issue 28); a file without it normalises with softmax
      {"attention_fn", "softmax"}};
  CHECK(c.to_map() == expected);
  const ModelConfig back = ModelConfig::from_map(expected);
  CHECK(back.to_map() == expected);
  CHECK(back.decoder == "bahdanau");
  CHECK(back.bridge == Bridge::Dense);
  CHECK(back.dropout == 0.1);
  CHECK(ModelConfig().to_map().at("decoder") == "auto");
  CHECK(ModelConfig().to_map().at("bridge") == "copy");
  CHECK(ModelConfig().to_map().at("bidirectional") == "0");
  // one table line per key, every key an option except the vocabulary sizes
  CHECK(model_fields().size() == expected.size());
  for (const auto& f : model_fields()) {
    CHECK(expected.count(f.key) == 1);
    CHECK(std::string(f.option).empty() == (std::string(f.key).find("vocab") != std::string::npos));
    CHECK(!f.describe().empty());
  }
}

TEST_CASE("a malformed configuration value is an error naming key and value", "[config]") {
  auto bad = [](const std::string& key, const std::string& value) {
    std::map<std::string, std::string> m = ModelConfig().to_map();
    m[key] = value;
    return m;
  };
  CHECK_THROWS_WITH(ModelConfig::from_map(bad("hidden", "12x")),
                    Catch::Contains("hidden = '12x' is not a whole number"));
  CHECK_THROWS_WITH(ModelConfig::from_map(bad("layers", "-1")), Catch::Contains("layers = '-1'"));
  CHECK_THROWS_WITH(ModelConfig::from_map(bad("dropout", "lots")),
                    Catch::Contains("dropout = 'lots' is not a finite number"));
  CHECK_THROWS_WITH(ModelConfig::from_map(bad("bridge", "wide")),
                    Catch::Contains("bridge = 'wide' is not one of none, copy, dense"));
  CHECK_THROWS_WITH(ModelConfig::from_map(bad("decoder", "none")).validate(),
                    Catch::Contains("unknown decoder 'none' (valid: auto, bahdanau, luong"));
  CHECK_THROWS_WITH(ModelConfig::from_map(bad("bidirectional", "yes")),
                    Catch::Contains("bidirectional = 'yes' is not 0 or 1"));
  CHECK(ModelConfig::from_map({}).to_map() == ModelConfig().to_map());  // missing keys: defaults
}

TEST_CASE("bridge and decoder style read and write their names", "[config]") {
  std::istringstream in("dense luong wide");
  Bridge b = Bridge::None;
  DecoderStyle s = DecoderStyle::Auto;
  in >> b >> s;
  CHECK(b == Bridge::Dense);
  CHECK(s == DecoderStyle::Luong);
  in >> b;
  CHECK(in.fail());
  std::ostringstream out;
  out << Bridge::None << " " << DecoderStyle::Bahdanau;
  CHECK(out.str() == "none bahdanau");
  CHECK(parse_bridge("copy") == Bridge::Copy);
  CHECK_THROWS_WITH(parse_bridge("x"), Catch::Contains("unknown bridge 'x' (valid: none, copy, dense)"));
  CHECK_THROWS_WITH(parse_decoder_style("x"),
                    Catch::Contains("unknown decoder style 'x' (valid: auto, bahdanau, luong, transformer)"));
}

// Before: block() of a const matrix returned a `const Mat<T>` prvalue, which C++17 elision turns
// into a writable view (`Mat<T> w = block(c, 0, 1); w(0, 0) = 1;` wrote into c), and a const
// model's loss() could write gradients. Neither compiles now.
template <typename M, typename = void>
struct can_write_gradients : std::false_type {};
template <typename M>
struct can_write_gradients<M, std::void_t<decltype(std::declval<M&>().loss_and_grad(
                                  std::declval<const Batch&>(), std::declval<Workspace<float>&>()))>>
    : std::true_type {};

TEST_CASE("views of const data are read-only", "[core]") {
  using ConstView = decltype(block(std::declval<const Mat<float>&>(), 0, 1));
  STATIC_REQUIRE(!std::is_convertible<ConstView, Mat<float>>::value);
  STATIC_REQUIRE(!std::is_convertible<ConstView, Mat<float>&>::value);
  STATIC_REQUIRE(std::is_same<decltype(*std::declval<ConstView&>()), const Mat<float>&>::value);
  STATIC_REQUIRE(can_write_gradients<Seq2Seq<float>>::value);
  STATIC_REQUIRE(!can_write_gradients<const Seq2Seq<float>>::value);
  const Mat<float> m = {{1, 2, 3}, {4, 5, 6}};
  const auto v = block(m, 1, 2);
  CHECK(v->n_cols == 2);
  CHECK((*v)(1, 0) == 5);
  CHECK(v->memptr() == m.colptr(1));  // a view, not a copy
}

// Under -fsanitize=undefined, block() of an empty matrix used to bind a reference to null
// (Mat::colptr of no memory); tests aborted. It is an empty matrix now.
TEST_CASE("a block of an empty matrix is empty", "[core]") {
  Mat<float> empty;
  CHECK(block(empty, 0, 0).is_empty());
  const Mat<double> none(3, 0);
  const auto b = block(none, 0, 0);
  CHECK(b->n_rows == 3);
  CHECK(b->n_cols == 0);
}

TEST_CASE("local attention keeps its window in the caller's step cache", "[attention]") {
  ModelConfig c = tiny("local-m");
  c.window = 1;
  ParameterRegistry<double> p;
  auto att = make_attention<double>("local-m", p, c, "decoder.attention.");
  p.allocate(1);
  const Lengths len = {4, 2};
  Mat<double> values(c.hidden, 2 * 4, arma::fill::randu);
  Memory<double> m{&values, &len, 4, 2};
  auto batch = att->make_batch_state(), step = att->make_step_state();
  Mat<double> q(c.hidden, 2, arma::fill::randu), context, weights;
  att->prepare(m, *batch);
  att->forward(q, 2, m, *batch, *step, context, weights);
  // p_t = min(t, S_b − 1): example 0 at 2 → [1, 3]; example 1 at 1 → [0, 1]
  CHECK(state_as<WindowState>(*step).lo == Lengths{1, 0});
  CHECK(state_as<WindowState>(*step).hi == Lengths{3, 1});
  CHECK(weights(0, 0) == 0);
  CHECK(arma::accu(weights) == Approx(2.0));
}

TEST_CASE("a strategy given another strategy's state throws instead of misreading it",
          "[attention]") {
  ModelConfig c = tiny("multihead");
  ParameterRegistry<double> p;
  auto multihead = make_attention<double>("multihead", p, c, "decoder.attention.");
  auto local = make_attention<double>("local-m", p, c, "decoder.attention.local.");
  p.allocate(1);
  const Lengths len = {2};
  Mat<double> values(c.hidden, 2, arma::fill::randu), q(c.hidden, 1, arma::fill::randu), context,
      weights;
  Memory<double> m{&values, &len, 2, 1};
  auto batch = local->make_batch_state(), step = local->make_step_state();
  CHECK_THROWS_AS(multihead->prepare(m, *batch), std::bad_cast);
  local->prepare(m, *batch);
  CHECK_THROWS_AS(multihead->forward(q, 0, m, *batch, *step, context, weights), std::bad_cast);
}

TEST_CASE("non-finite logits are flagged and never picked as the argmax", "[model]") {
  ModelConfig c = tiny("luong-dot");
  Seq2Seq<float> model(c, 5);
  const long bias = model.params().find("decoder.out.bias");
  REQUIRE(bias >= 0);
  Workspace<float> ws;
  const Batch b = tiny_batch();
  CHECK(!model.loss(b, ws).non_finite);
  // Every logit NaN: the scan for the first maximum found nothing equal to the maximum and ran
  // past the column (and past the matrix).
  model.params().value(bias).fill(std::numeric_limits<float>::quiet_NaN());
  LossStats s = model.loss(b, ws);
  CHECK(s.non_finite);
  CHECK(s.correct == 0);
  CHECK(s.tokens == b.real_target_tokens());
  // One NaN logit per column.
  model.params().value(bias).zeros();
  model.params().value(bias)(0, 0) = std::numeric_limits<float>::quiet_NaN();
  s = model.loss(b, ws);
  CHECK(s.non_finite);
  model.params().value(bias).zeros();
  model.params().value(bias)(3, 0) = std::numeric_limits<float>::infinity();
  s = model.loss_and_grad(b, ws);
  CHECK(s.non_finite);
}
