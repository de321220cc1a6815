// Self-attention encoders: the Transformer layer against PyTorch's nn.TransformerEncoderLayer /
// nn.TransformerEncoder (tests/fixtures/transformer_*.safetensors, written by
// make_transformer_fixtures.py), finite-difference gradients of the layer and of whole models with
// every encoder, checkpoints, and the validation of the new options.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "attend/core/error.hpp"
#include "attend/io/checkpoint.hpp"
#include "attend/io/safetensors.hpp"
#include "attend/nn/seq2seq.hpp"
#include "attend/nn/transformer.hpp"
#include "attend/text/batching.hpp"
#include "gradcheck.hpp"
#include "support.hpp"

using namespace attend;
using attend::test::max_relative_error;
using attend::test::mixed_batch;
using attend::test::model_gradient_error;

namespace {

// loss = Σ W ⊙ y over the stack's output plus Σ W_x ⊙ dx (checks the input gradient too).
void check_stack(const TransformerShape& shape, std::size_t layers, bool dropout, bool skip_padded = false) {
  const Lengths len = {5, 3, 1};
  const std::size_t S = 5, B = 3, H = shape.width;
  ParameterRegistry<double> P;
  TransformerStack<double> stack(P, "encoder.transformer.", shape, layers);
  P.allocate(3);
  stack.initialize();
  P.values() += 0.3 * arma::randu<arma::vec>(P.size());  // norm biases and gains away from 0, 1
  arma::arma_rng::set_seed(11);
  const arma::mat x = arma::randn<arma::mat>(H, S * B), w = arma::randn<arma::mat>(H, S * B);
  std::vector<arma::mat> outs;
  std::vector<TransformerLayerCache<double>> caches;
  auto loss = [&]() {
    std::mt19937_64 rng(5);  // the same dropout masks in every evaluation
    stack.forward(x, len, outs, caches, dropout ? &rng : nullptr, skip_padded);
    return arma::accu(w % outs.back());
  };
  P.zero_grad();
  loss();
  arma::mat dx;
  stack.backward(w, caches, dx);
  const arma::vec analytic = P.grads();
  std::string worst;
  const double err = max_relative_error(P, analytic, loss, &worst);
  std::printf("gradcheck self-attention layers=%zu heads=%zu norm_first=%d gelu=%d dropout=%d skip=%d: %.2e (%s)\n",
              layers, shape.heads, int(shape.norm_first), int(shape.gelu), int(dropout), int(skip_padded), err,
              worst.c_str());
  INFO(worst);
  CHECK(err < 1e-6);
  // The input gradient, by the same stencil on a few entries.
  double in_err = 0;
  arma::mat xp = x;
  for (std::size_t i : {0u, 5u, 13u, 22u, 31u, 38u, 47u, 59u}) {  // every example, padded ones too
    auto at = [&](double d) {
      xp = x;
      xp[i] += d;
      std::mt19937_64 rng(5);
      stack.forward(xp, len, outs, caches, dropout ? &rng : nullptr, skip_padded);
      return arma::accu(w % outs.back());
    };
    const double h = 1e-4;
    const double n = ((at(-2 * h) - at(2 * h)) + 8 * (at(h) - at(-h))) / (12 * h);
    in_err = std::max(in_err, std::abs(n - dx[i]) / (std::abs(n) + std::abs(dx[i]) + 1e-8));
  }
  CHECK(in_err < 1e-6);
}

// The shared small model with `encoder` first, as this file's cases read.
ModelConfig small_config(const std::string& encoder, const std::string& cell, const std::string& attention,
                         const std::string& decoder) {
  return test::small_config(cell, attention, decoder, encoder);
}

// scale > 1 makes attention peaked and the gradients large against the differences' rounding.
void check_model(const ModelConfig& config, double scale = 3.0) {
  Seq2Seq<double> model(config, 7);
  model.params().values() *= scale;
  std::string worst;
  const double err = model_gradient_error(model, mixed_batch(), &worst);
  std::printf("gradcheck %-11s %-5s %-14s %-9s bridge=%-5s layers=%zu self=%zu: %.2e (%s)\n",
              config.encoder.c_str(), config.cell.c_str(), config.attention.c_str(),
              config.decoder_style().c_str(), to_string(config.bridge).c_str(), config.layers,
              config.self_layers, err, worst.c_str());
  INFO(config.encoder << " " << config.cell << " " << config.attention << ": " << worst);
  CHECK(err < 1e-6);
}

struct StackFixture {
  std::map<std::string, SafetensorsTensor> tensors;
  std::map<std::string, std::string> meta;
};

StackFixture load_stack_fixture(const std::string& name) {
  const std::string path = std::string(ATTEND_FIXTURE_DIR) + "/transformer_" + name + ".safetensors";
  const std::string bytes = test::read_file(path);
  REQUIRE(!bytes.empty());
  const SafetensorsFile f = decode_safetensors(bytes, path);
  StackFixture s;
  s.meta = f.metadata;
  for (const auto& t : f.tensors) s.tensors[t.name] = t;
  return s;
}

}  // namespace

TEST_CASE("the self-attention stack reproduces PyTorch's nn.TransformerEncoder with padding",
          "[transformer][pytorch]") {
  for (const std::string name : {"layer_post_relu_h2", "layer_pre_gelu_h4", "stack2_post_gelu_h1", "stack2_pre_relu_h2"}) {
    INFO("fixture " << name);
    StackFixture fx = load_stack_fixture(name);
    TransformerShape shape;
    shape.width = 8;
    shape.heads = std::stoul(fx.meta.at("heads"));
    shape.ffn = std::stoul(fx.meta.at("ffn"));
    shape.norm_first = fx.meta.at("norm_first") == "1";
    shape.gelu = fx.meta.at("activation") == "gelu";
    const std::size_t layers = std::stoul(fx.meta.at("layers"));
    const Lengths len = {5, 3, 1};
    REQUIRE(fx.meta.at("lengths") == "5,3,1");
    ParameterRegistry<double> P;
    TransformerStack<double> stack(P, "encoder.transformer.", shape, layers);
    P.allocate(1);
    // Every parameter attend declares comes from the fixture, and the fixture has no others.
    std::size_t params = 0;
    for (const auto& [key, t] : fx.tensors)
      if (key.rfind("encoder.transformer.", 0) == 0) ++params;
    REQUIRE(params == P.entries().size());
    for (std::size_t id = 0; id < P.entries().size(); ++id) {
      const auto& e = P.entries()[id];
      INFO(e.name);
      REQUIRE(fx.tensors.count(e.name) == 1);
      REQUIRE(fx.tensors.at(e.name).shape == P.torch_shape(id));
      P.set_from_torch_data(id, fx.tensors.at(e.name).data);
    }
    const auto& in = fx.tensors.at("input");
    const auto& out = fx.tensors.at("output");
    REQUIRE(in.shape == std::vector<std::size_t>{5, 3, 8});
    arma::mat x(8, 15);  // (S, B, H) row-major → column t·B + b
    for (std::size_t i = 0; i < in.data.size(); ++i) x(i % 8, i / 8) = in.data[i];
    std::vector<arma::mat> outs;
    std::vector<TransformerLayerCache<double>> caches;
    stack.forward(x, len, outs, caches, nullptr);
    double worst = 0;
    for (std::size_t i = 0; i < out.data.size(); ++i)
      worst = std::max(worst, std::abs(outs.back()(i % 8, i / 8) - double(out.data[i])));
    std::printf("pytorch transformer %-20s max |attend - torch| = %.2e\n", name.c_str(), worst);
    CHECK(worst < 2e-6);  // the fixture's output is stored in float32
    // Leaving the padded positions out of the products (as encoders do) changes no real position.
    stack.forward(x, len, outs, caches, nullptr, /*skip_padded=*/true);
    double worst_real = 0;
    std::size_t real = 0;
    for (std::size_t i = 0; i < out.data.size(); ++i) {
      const std::size_t col = i / 8, t = col / 3, b = col % 3;
      if (t >= len[b]) continue;
      ++real;
      worst_real = std::max(worst_real, std::abs(outs.back()(i % 8, col) - double(out.data[i])));
    }
    REQUIRE(real == 8 * 9);
    CHECK(worst_real < 2e-6);
  }
}

TEST_CASE("the self-attention layer has exact gradients with padding, both norm placements and activations",
          "[transformer][gradcheck]") {
  for (const bool norm_first : {false, true})
    for (const bool gelu : {false, true}) {
      TransformerShape s;
      s.width = 4;
      s.heads = 2;
      s.ffn = 6;
      s.norm_first = norm_first;
      s.gelu = gelu;
      check_stack(s, 1, false);
    }
}

TEST_CASE("a self-attention stack that skips padded positions has exact gradients", "[transformer][gradcheck]") {
  for (const bool norm_first : {false, true}) {
    TransformerShape s;
    s.width = 4;
    s.heads = 2;
    s.ffn = 6;
    s.norm_first = norm_first;
    check_stack(s, 2, false, /*skip_padded=*/true);
    check_stack(s, 1, true, /*skip_padded=*/true);
  }
}

TEST_CASE("a two-layer self-attention stack has exact gradients with dropout on", "[transformer][gradcheck]") {
  TransformerShape s;
  s.width = 4;
  s.heads = 1;
  s.ffn = 5;
  s.dropout = 0.3;
  check_stack(s, 2, true);
  s.heads = 4;
  s.norm_first = true;
  s.gelu = true;
  check_stack(s, 2, true);
}

TEST_CASE("models with a transformer encoder have exact gradients under every decoder style",
          "[transformer][gradcheck]") {
  for (const std::string cell : {"gru", "lstm"})
    for (const std::string attention : {"none", "bahdanau", "luong-general", "multihead", "local-p"})
      for (const std::string decoder : {"bahdanau", "luong"}) {
        if (attention == "none" && decoder == "luong") continue;
        ModelConfig c = small_config("transformer", cell, attention, attention == "none" ? "auto" : decoder);
        check_model(c);
      }
}

TEST_CASE("models with an rnn+self encoder have exact gradients under every decoder style",
          "[transformer][gradcheck]") {
  for (const std::string cell : {"rnn", "lstm"})
    for (const std::string attention : {"none", "bahdanau", "luong-dot", "location"})
      for (const std::string decoder : {"bahdanau", "luong"}) {
        if (attention == "none" && decoder == "luong") continue;
        check_model(small_config("rnn+self", cell, attention, attention == "none" ? "auto" : decoder));
      }
}

TEST_CASE("self-attention encoders have exact gradients for every bridge, two layers and pre-norm",
          "[transformer][gradcheck]") {
  for (const std::string encoder : {"transformer", "rnn+self"})
    for (const std::string bridge : {"none", "copy", "dense"}) {
      ModelConfig c = small_config(encoder, "lstm", "luong-general", "luong");
      c.bridge = parse_bridge(bridge);
      c.layers = 2;
      c.self_layers = 2;
      c.norm_first = true;
      c.activation = "gelu";
      c.bidirectional = encoder == "rnn+self";
      // With 3× weights the rnn+self models fail this check on decoder tensors whose gradient
      // has vanished: measured norms 3e-12 to 4e-11 (analytic and numeric alike) at a loss of
      // 2.48, where the stencil's rounding floor (about 1e-16 · 2.48 / h per entry) is as large,
      // and the error grows as h shrinks (0.25–0.61 at h = 1e-4, 0.91–1.0 at 1e-5 and 1e-6),
      // which rounding does and a wrong backward would not. So these run on the initialiser's
      // weights, where the gradients are far above that floor.
      check_model(c, 1.0);
    }
}

TEST_CASE("a checkpoint stores and reloads a self-attention encoder", "[transformer][checkpoint]") {
  test::TempDir dir;
  for (const std::string encoder : {"transformer", "rnn+self"}) {
    ModelConfig c = small_config(encoder, "gru", "bahdanau", "bahdanau");
    c.self_layers = 2;
    c.self_heads = 4;
    c.ffn = 7;
    c.norm_first = true;
    c.activation = "gelu";
    c.src_vocab = 10;
    c.tgt_vocab = 10;
    ModelBundle b;
    b.model = std::make_unique<Seq2Seq<float>>(c, 3);
    std::vector<std::vector<std::string>> words = {{"a", "b", "c", "d", "e", "f"}};
    b.src_vocab = Vocab::build(words);
    b.tgt_vocab = Vocab::build(words);
    const std::string path = dir.file(encoder + ".safetensors");
    save_model(path, b);
    const ModelBundle r = load_model(path);
    REQUIRE(r.model);
    const ModelConfig& rc = r.model->config();
    CHECK(rc.encoder == encoder);
    CHECK(rc.self_layers == 2);
    CHECK(rc.self_heads == 4);
    CHECK(rc.ffn == 7);
    CHECK(rc.norm_first);
    CHECK(rc.activation == "gelu");
    CHECK(r.model->params().find("encoder.transformer.layers.1.self_attn.in_proj_weight") >= 0);
    CHECK(r.model->params().find("encoder.transformer.layers.1.norm2.bias") >= 0);
    CHECK(arma::approx_equal(r.model->params().values(), b.model->params().values(), "absdiff", 0.0));
  }
}

TEST_CASE("a transformer encoder's layer norms start as PyTorch's: weight 1, bias 0", "[transformer]") {
  Seq2Seq<float> m(small_config("transformer", "gru", "bahdanau", "bahdanau"), 1);
  const auto& P = m.params();
  const long w = P.find("encoder.transformer.layers.0.norm1.weight");
  const long b = P.find("encoder.transformer.layers.0.norm2.bias");
  REQUIRE(w >= 0);
  REQUIRE(b >= 0);
  CHECK(arma::all(arma::vectorise(P.value(w)) == 1.0f));
  CHECK(arma::all(arma::vectorise(P.value(b)) == 0.0f));
  CHECK(P.torch_shape(P.find("encoder.embedding.weight")) == std::vector<std::size_t>{10, 4});
}

TEST_CASE("self-attention options are validated with errors that say what to change", "[transformer][config]") {
  ModelConfig c = small_config("transformer", "gru", "bahdanau", "bahdanau");
  c.self_heads = 3;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--self-heads 3 does not divide --hidden 4"));
  c.self_heads = 2;
  c.activation = "tanh";
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("unknown activation 'tanh'"));
  c.activation = "relu";
  c.self_layers = 0;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--self-layers must be at least 1"));
  c.self_layers = 1;
  c.ffn = 0;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--ffn must be at least 1"));
  c.ffn = 6;
  c.bidirectional = true;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--bidirectional applies to recurrent encoders"));
  c.bidirectional = false;
  c.encoder = "cnn";
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("unknown encoder 'cnn'") && Catch::Contains("rnn+self"));
  c.encoder = "rnn";
  c.self_heads = 3;  // the recurrent encoder ignores the self-attention fields
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("attend train rejects self-attention heads that do not divide the width", "[transformer][cli]") {
  test::TempDir dir;
  const auto r = test::run_cli(dir, "train --task reverse --steps 1 --encoder transformer --hidden 10 "
                                    "--self-heads 4 --model m.safetensors");
  CHECK(r.status == 2);
  CHECK(test::contains(r.err, "attend: error:"));
  CHECK(test::contains(r.err, "--self-heads 4 does not divide --hidden 10"));
}
