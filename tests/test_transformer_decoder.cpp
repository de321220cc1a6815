// The Transformer decoder (DESIGN §6b): exact gradients of whole models (the full Transformer and
// the hybrids, every cross-attention strategy, dropout on), incremental decoding against
// recomputing the prefix, checkpoint names, and the options it refuses.
#include <catch2/catch.hpp>
#include <cstdio>

#include "attend/core/error.hpp"
#include "attend/decode/search.hpp"
#include "attend/io/checkpoint.hpp"
#include "attend/nn/seq2seq.hpp"
#include "attend/text/vocab.hpp"
#include "gradcheck.hpp"
#include "support.hpp"

using namespace attend;
using attend::test::max_relative_error;
using attend::test::mixed_batch;
using attend::test::model_gradient_error;
using attend::test::small_config;

namespace {

ModelConfig transformer_config(const std::string& encoder, const std::string& attention = "multihead") {
  ModelConfig c = small_config("gru", attention, "transformer", encoder);
  c.decoder_layers = 2;
  c.self_layers = 1;
  return c;
}

void check_model(const ModelConfig& config, double scale = 2.0) {
  Seq2Seq<double> model(config, 11);
  model.params().values() *= scale;
  std::string worst;
  const double err = model_gradient_error(model, mixed_batch(), &worst);
  std::printf("gradcheck transformer decoder: encoder %-11s attention %-13s heads %zu pre %d %s tied %d: %.2e (%s)\n",
              config.encoder.c_str(), config.attention.c_str(), config.heads, int(config.norm_first),
              config.activation.c_str(), int(config.tie_embeddings), err, worst.c_str());
  INFO(config.encoder << " " << config.attention << ": " << worst);
  CHECK(err < 1e-6);
}

}  // namespace

TEST_CASE("the full Transformer has exact gradients, post- and pre-norm, relu and gelu, tied or not",
          "[transformer-decoder][gradcheck]") {
  for (const bool pre : {false, true})
    for (const bool tied : {false, true}) {
      ModelConfig c = transformer_config("transformer");
      c.norm_first = pre;
      c.activation = pre ? "gelu" : "relu";
      c.tie_embeddings = tied;
      check_model(c);
    }
}

TEST_CASE("hybrids of a recurrent encoder and the Transformer decoder have exact gradients",
          "[transformer-decoder][gradcheck]") {
  for (const std::string encoder : {"rnn", "rnn+self"})
    for (const std::string cell : {"gru", "lstm"}) {
      ModelConfig c = transformer_config(encoder);
      c.cell = cell;
      c.bidirectional = cell == "lstm";
      c.norm_first = encoder == "rnn";
      // gelu here: with relu, the rnn/gru model's weights put a linear1 pre-activation within the
      // differencing step of relu's kink (measured: 2.9e-2 on layer 0's in_proj with relu, 8.6e-10
      // with gelu on the same weights, 1.2e-8 with relu at another seed). relu has its own cases.
      c.activation = c.norm_first ? "gelu" : "relu";
      check_model(c);
    }
}

TEST_CASE("every per-head strategy as the cross-attention has exact gradients",
          "[transformer-decoder][gradcheck]") {
  for (const std::string& attention : attention_names()) {
    if (!attention_traits(attention).per_head) continue;
    for (const std::size_t heads : {1, 2}) {
      ModelConfig c = transformer_config("transformer", attention);
      c.heads = heads;
      c.score = "concat";
      check_model(c);
    }
  }
}

TEST_CASE("training leaves padded target positions out and gets the loss and gradients of computing them",
          "[transformer-decoder]") {
  for (const bool norm_first : {false, true})
    for (const std::string attention : {"multihead", "bahdanau"}) {
      ModelConfig c = transformer_config("transformer", attention);
      c.norm_first = norm_first;
      Seq2Seq<double> model(c, 5);
      model.params().values() *= 2.0;
      const Batch batch = mixed_batch();
      Workspace<double> ws;
      auto& P = model.params();
      TrainStepOptions all;
      all.skip_padding = false;
      P.zero_grad();
      const double loss_all = model.loss_and_grad(batch, ws, all).mean();
      REQUIRE(ws.logits.n_cols == batch.tgt_in.n_rows * batch.size());
      const arma::vec grad_all = P.grads();
      P.zero_grad();
      const double loss_real = model.loss_and_grad(batch, ws, TrainStepOptions{}).mean();
      REQUIRE(ws.logits.n_cols == batch.real_target_tokens());  // only the real positions were computed
      REQUIRE(ws.logits.n_cols < batch.tgt_in.n_rows * batch.size());
      INFO(attention << " norm_first " << norm_first);
      CHECK(std::abs(loss_real - loss_all) <= 1e-12 * std::abs(loss_all));
      CHECK(arma::norm(P.grads() - grad_all, "inf") <= 1e-12 * arma::norm(grad_all, "inf"));
    }
}

TEST_CASE("with dropout, leaving padded positions out draws the same masks and gets the same gradients",
          "[transformer-decoder]") {
  for (const std::string encoder : {"transformer", "rnn+self"})
    for (const std::string attention : {"multihead", "luong-general"}) {
      ModelConfig c = transformer_config(encoder, attention);
      c.dropout = 0.3;
      Seq2Seq<double> model(c, 5);
      model.params().values() *= 2.0;
      const Batch batch = mixed_batch();
      Workspace<double> ws;
      auto& P = model.params();
      std::mt19937_64 rng;
      auto run = [&](bool skip) {
        rng.seed(17);
        TrainStepOptions o;
        o.rng = &rng;
        o.skip_padding = skip;
        P.zero_grad();
        return model.loss_and_grad(batch, ws, o).mean();
      };
      const double loss_all = run(false);
      const arma::vec grad_all = P.grads();
      const double loss_real = run(true);
      INFO(encoder << " " << attention);
      CHECK(std::abs(loss_real - loss_all) <= 1e-12 * std::abs(loss_all));
      CHECK(arma::norm(P.grads() - grad_all, "inf") <= 1e-12 * arma::norm(grad_all, "inf"));
    }
}

TEST_CASE("a training step on a used workspace gets the gradients of a fresh one, for every cross-attention",
          "[transformer-decoder]") {
  // Per-head strategies keep their weights between the forward and the backward pass; a backward
  // pass must leave nothing that the next forward pass writes through (it once left a view).
  for (const std::string attention : {"multihead", "bahdanau", "luong-general", "local-p"}) {
    Seq2Seq<double> model(transformer_config("transformer", attention), 5);
    model.params().values() *= 2.0;
    const Batch batch = mixed_batch();
    auto& P = model.params();
    Workspace<double> used;
    model.loss_and_grad(batch, used, TrainStepOptions{});
    model.loss_and_grad(batch, used, TrainStepOptions{});
    P.zero_grad();
    model.loss_and_grad(batch, used, TrainStepOptions{});
    const arma::vec again = P.grads();
    Workspace<double> fresh;
    P.zero_grad();
    model.loss_and_grad(batch, fresh, TrainStepOptions{});
    INFO(attention);
    CHECK(arma::norm(P.grads() - again, "inf") <= 1e-12 * arma::norm(again, "inf"));
  }
}

TEST_CASE("the Transformer decoder has exact gradients with dropout on", "[transformer-decoder][gradcheck]") {
  for (const std::string attention : {"multihead", "luong-general"}) {
    ModelConfig c = transformer_config("transformer", attention);
    c.dropout = 0.3;
    c.norm_first = attention == "multihead";
    Seq2Seq<double> model(c, 5);
    model.params().values() *= 2.0;
    const Batch batch = mixed_batch();
    Workspace<double> ws;
    std::mt19937_64 rng;
    auto loss = [&](bool grad) {
      rng.seed(17);  // the same dropout masks every time
      TrainStepOptions o;
      o.rng = &rng;
      return grad ? model.loss_and_grad(batch, ws, o).mean() : model.loss(batch, ws, o).mean();
    };
    auto& P = model.params();
    P.zero_grad();
    loss(true);
    const arma::vec analytic = P.grads();
    std::string worst;
    const double err = max_relative_error(P, analytic, [&] { return loss(false); }, &worst);
    INFO(attention << ": " << worst);
    CHECK(err < 1e-6);
    CHECK(loss(false) != model.loss(batch, ws).mean());  // the masks did change the loss
  }
}

TEST_CASE("incremental decoding gives the logits of recomputing the whole prefix", "[transformer-decoder]") {
  for (const std::string attention : {"multihead", "bahdanau", "local-p"}) {
    ModelConfig c = transformer_config("transformer", attention);
    c.hidden = 8;
    c.heads = 2;
    c.norm_first = attention != "bahdanau";
    Seq2Seq<double> model(c, 3);
    const Batch batch = mixed_batch();
    const std::size_t Tn = batch.tgt_in.n_rows, B = batch.size();
    // Recomputed: the whole prefix at once, as training runs it.
    Workspace<double> full;
    TrainStepOptions every;
    every.skip_padding = false;  // logits of every position, padded ones too
    model.loss(batch, full, every);
    // Incremental: one step at a time over the cached keys and values.
    Workspace<double> inc;
    model.start_decoding(batch.src, batch.src_len, Tn, inc);
    std::vector<arma::uword> feed(B);
    for (std::size_t t = 0; t < Tn; ++t) {
      for (std::size_t b = 0; b < B; ++b) feed[b] = batch.tgt_in(t, b);
      model.decoder().step(t, feed.data(), inc.dec);
      model.decoder().logits(t, 1, inc.dec, inc.logits);
      for (std::size_t b = 0; b < B; ++b) {
        if (t >= batch.tgt_len[b]) continue;
        INFO(attention << " step " << t << " example " << b);
        CHECK(arma::abs(inc.logits.col(b) - full.logits.col(t * B + b)).max() < 1e-12);
        const auto w_inc = model.decoder().weights(t, inc.dec);
        CHECK(arma::abs(w_inc->col(b) - full.dec.A.col(t * B + b)).max() < 1e-12);
      }
    }
  }
}

TEST_CASE("greedy search with the cache equals greedy search recomputing the prefix", "[transformer-decoder]") {
  ModelConfig c = transformer_config("transformer");
  c.hidden = 16;
  c.heads = 4;
  c.self_heads = 2;
  c.ffn = 20;
  Seq2Seq<float> model(c, 9);
  model.params().values() *= 3.0f;  // peaked outputs: the argmax is not a near tie
  const Batch batch = mixed_batch();
  SearchOptions o;
  o.max_len_ratio = 2;
  o.max_len_extra = 4;
  o.stop_at_eos = false;
  Workspace<float> ws;
  const std::vector<Hypothesis> cached = greedy_search(model, batch.src, batch.src_len, o, ws);
  for (std::size_t b = 0; b < batch.size(); ++b) {
    // Recompute: feed the whole prefix again at every step and read the last position.
    std::vector<arma::uword> prefix = {Vocab::kBos};
    double log_prob = 0;
    const std::size_t limit = max_output_length(batch.src_len[b], o);
    const arma::umat src = batch.src.submat(0, b, batch.src_len[b] - 1, b);
    for (std::size_t t = 0; t < limit; ++t) {
      Workspace<float> w;
      model.start_decoding(src, {batch.src_len[b]}, prefix.size(), w);
      model.decoder().teacher_forced(arma::umat(arma::conv_to<arma::uvec>::from(prefix)), w.dec);
      model.decoder().logits(t, 1, w.dec, w.logits);
      const arma::fvec z = w.logits.col(0);
      const std::size_t y = z.index_max();
      const double lse = double(z.max()) + std::log(double(arma::accu(arma::exp(z - z.max()))));
      log_prob += double(z[y]) - lse;
      prefix.push_back(y);
    }
    INFO("example " << b);
    const std::vector<int> tokens(prefix.begin() + 1, prefix.end());
    CHECK(cached[b].tokens == tokens);
    CHECK(cached[b].log_prob == Approx(log_prob).epsilon(1e-5).margin(1e-6));
  }
}

TEST_CASE("a Transformer decoder's parameters carry PyTorch's names and reload exactly",
          "[transformer-decoder][checkpoint]") {
  for (const bool tied : {false, true}) {
    ModelConfig c = transformer_config("transformer");
    c.norm_first = true;
    c.tie_embeddings = tied;
    Seq2Seq<float> model(c, 1);
    const auto& P = model.params();
    for (const char* name : {"decoder.embedding.weight", "decoder.transformer.layers.0.self_attn.in_proj_weight",
                             "decoder.transformer.layers.1.multihead_attn.in_proj_bias",
                             "decoder.transformer.layers.1.multihead_attn.out_proj.weight",
                             "decoder.transformer.layers.0.linear1.weight", "decoder.transformer.layers.1.norm3.bias",
                             "decoder.transformer.norm.weight", "decoder.out.bias"})
      CHECK(P.find(name) >= 0);
    CHECK((P.find("decoder.out.weight") < 0) == tied);
    CHECK(P.find("decoder.transformer.layers.2.norm1.weight") < 0);
    CHECK(P.find("decoder.rnn.weight_ih_l0") < 0);
    const long in_proj = P.find("decoder.transformer.layers.0.multihead_attn.in_proj_weight");
    REQUIRE(in_proj >= 0);
    CHECK(P.entries()[in_proj].rows == 3 * c.hidden);
    CHECK(arma::all(arma::vectorise(P.value(P.find("decoder.transformer.layers.0.norm2.weight"))) == 1.0f));
  }
}

TEST_CASE("with shared embeddings the encoder's embedding is the decoder's, one matrix",
          "[transformer-decoder][checkpoint]") {
  ModelConfig c = transformer_config("transformer");
  c.tgt_vocab = c.src_vocab;
  c.tie_embeddings = true;
  c.share_embeddings = true;
  Seq2Seq<float> model(c, 1);
  const auto& P = model.params();
  CHECK(P.find("encoder.embedding.weight") >= 0);
  CHECK(P.find("decoder.embedding.weight") < 0);
  CHECK(P.find("decoder.out.weight") < 0);
  ModelConfig separate = c;
  separate.share_embeddings = false;
  CHECK(Seq2Seq<float>(separate, 1).params().size() - P.size() == c.hidden * c.src_vocab);
}

TEST_CASE("a shared embedding gets the gradient of both sides",
          "[transformer-decoder][gradcheck]") {
  for (const bool tied : {false, true}) {
    ModelConfig c = transformer_config("transformer");
    c.tgt_vocab = c.src_vocab;
    c.tie_embeddings = tied;
    c.share_embeddings = true;
    check_model(c);
  }
  ModelConfig rnn = small_config("gru", "bahdanau", "auto");
  rnn.tgt_vocab = rnn.src_vocab;
  rnn.share_embeddings = true;
  check_model(rnn);
}

TEST_CASE("shared embeddings need one vocabulary and one width", "[transformer-decoder][config]") {
  ModelConfig c = transformer_config("transformer");
  c.share_embeddings = true;  // vocabularies 10 and 9
  CHECK_THROWS_WITH(Seq2Seq<float>(c, 1), Catch::Contains("--share-embeddings needs one embedding width and one vocabulary"));
  c = transformer_config("rnn");  // the rnn encoder's embedding is --emb wide, the decoder's --hidden
  c.tgt_vocab = c.src_vocab;
  c.share_embeddings = true;
  CHECK_THROWS_WITH(Seq2Seq<float>(c, 1), Catch::Contains("the encoder's embedding is 3 wide"));
  ModelConfig f = transformer_config("transformer");
  f.share_embeddings = true;
  CHECK_THROWS_WITH(f.fit_to_vocabularies(10, 10, false), Catch::Contains("add --shared-vocab"));
  f.share_embeddings = false;
  f.tie_embeddings = true;
  f.fit_to_vocabularies(10, 10, true);
  CHECK(f.share_embeddings);
  ModelConfig g = transformer_config("transformer");
  g.fit_to_vocabularies(10, 10, true);
  CHECK_FALSE(g.share_embeddings);  // --shared-vocab alone shares the vocabulary, not the matrix
}

TEST_CASE("per-head strategies declare their parameters per head of every layer", "[transformer-decoder]") {
  ModelConfig c = transformer_config("transformer", "bahdanau");
  Seq2Seq<float> model(c, 1);
  const auto& P = model.params();
  for (const char* name : {"decoder.transformer.layers.0.multihead_attn.heads.0.W_q.weight",
                           "decoder.transformer.layers.1.multihead_attn.heads.1.v.weight"})
    CHECK(P.find(name) >= 0);
  const long w = P.find("decoder.transformer.layers.0.multihead_attn.heads.1.W_k.weight");
  REQUIRE(w >= 0);
  CHECK(P.entries()[w].rows == c.hidden / c.heads);  // a head's strategy works in the head's d_k dimensions
}

TEST_CASE("Transformer decoder options are refused with errors that say what to change",
          "[transformer-decoder][config]") {
  auto refuses = [](ModelConfig c, const std::string& says) {
    INFO(says);
    CHECK_THROWS_WITH(c.validate(), Catch::Contains(says));
  };
  ModelConfig c = transformer_config("transformer");
  c.heads = 3;
  refuses(c, "--heads 3 does not divide --hidden 4");
  c = transformer_config("transformer");
  c.self_heads = 3;
  refuses(c, "--self-heads 3 does not divide --hidden 4");
  c = transformer_config("transformer", "none");
  refuses(c, "--attention none cannot serve as the Transformer decoder's cross-attention (valid: multihead, bahdanau");
  c = transformer_config("transformer");
  c.bridge = Bridge::Dense;
  refuses(c, "--bridge dense gives a recurrent decoder its initial state");
  c = transformer_config("transformer");
  c.luong_output = LuongOutput::Linear;
  refuses(c, "--luong-output linear applies to the luong decoder style only");
  c = small_config("gru", "bahdanau", "auto");
  c.decoder_layers = 2;
  refuses(c, "--decoder-layers counts the layers of --decoder transformer");
  c = small_config("gru", "bahdanau", "auto");
  c.tie_embeddings = true;
  refuses(c, "--tie-embeddings applies to --decoder transformer");
  c = transformer_config("transformer");
  c.decoder_layers = 0;
  c.self_layers = 3;
  CHECK_NOTHROW(c.validate());
  CHECK(c.transformer_decoder_layers() == 3);
}

TEST_CASE("scheduled sampling with the Transformer decoder is refused", "[transformer-decoder]") {
  Seq2Seq<float> model(transformer_config("transformer"), 1);
  Workspace<float> ws;
  std::mt19937_64 rng(1);
  TrainStepOptions o;
  o.rng = &rng;
  o.teacher_forcing = 0.5;
  CHECK_THROWS_WITH(model.loss(mixed_batch(), ws, o), Catch::Contains("leave --teacher-forcing at 1"));
}
