// attend's forward pass in double precision against PyTorch float64 reference fixtures
// (tests/fixtures/*.json, format in tests/fixtures/README.md): nn.RNN / nn.LSTM / nn.GRU encoders
// (1 and 2 layers, uni- and bidirectional, padded batch) and nn.MultiheadAttention. Plus the
// masking convention of every attention strategy: padded source positions get no weight.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "attend/nn/attention.hpp"
#include "attend/nn/cell.hpp"
#include "attend/nn/config.hpp"
#include "attend/nn/encoder.hpp"
#include "attend/core/params.hpp"

using namespace attend;
using json = nlohmann::json;

namespace {

constexpr double kTol = 1e-10;

// A tensor from a fixture: PyTorch shape and row-major (C order) data.
struct Tensor {
  std::vector<std::size_t> shape;
  std::vector<double> data;

  std::size_t dim(std::size_t i) const { return shape.at(i); }
  double at(std::size_t i, std::size_t j, std::size_t k) const {
    return data.at((i * shape.at(1) + j) * shape.at(2) + k);
  }
};

Tensor tensor(const json& j) {
  Tensor t;
  REQUIRE(j.contains("shape"));
  REQUIRE(j.contains("data"));
  t.shape = j.at("shape").get<std::vector<std::size_t>>();
  t.data = j.at("data").get<std::vector<double>>();
  REQUIRE(!t.shape.empty());
  std::size_t n = 1;
  for (std::size_t d : t.shape) n *= d;
  REQUIRE(n > 0);
  REQUIRE(t.data.size() == n);
  return t;
}

json load_fixture(const std::string& name) {
  const std::string path = std::string(ATTEND_FIXTURE_DIR) + "/" + name + ".json";
  std::ifstream in(path);
  INFO("fixture file " << path);
  REQUIRE(in.good());
  json j = json::parse(in);
  REQUIRE(j.at("case").get<std::string>() == name);
  return j;
}

// Writes a PyTorch tensor into a registered parameter without going through float: a 2-D weight
// (r × c) row-major becomes our column-major (r × c); a 1-D bias (n) becomes (n × 1).
void set_param(ParameterRegistry<double>& P, const std::string& name, const Tensor& t) {
  INFO("parameter " << name);
  const long id = P.find(name);
  REQUIRE(id >= 0);
  Mat<double>& m = P.value(static_cast<std::size_t>(id));
  const std::size_t rows = t.shape.at(0), cols = t.shape.size() == 2 ? t.shape[1] : 1;
  REQUIRE(t.shape.size() <= 2);
  REQUIRE(m.n_rows == rows);
  REQUIRE(m.n_cols == cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) m(r, c) = t.data[r * cols + c];
}

Lengths fixture_lengths(const json& j) {
  Lengths len;
  for (const auto& v : j.at("lengths")) len.push_back(v.get<arma::uword>());
  REQUIRE(len == Lengths{5, 3, 1});
  return len;
}

// Largest absolute difference over a set of compared values, with where it happened.
struct MaxDiff {
  double max = 0.0;
  std::size_t count = 0;
  std::string where;
  void add(double ours, double torch, const std::string& what) {
    ++count;
    const double d = std::fabs(ours - torch);
    if (!(d <= max)) {  // also catches NaN
      max = std::isnan(d) ? INFINITY : d;
      std::ostringstream s;
      s.precision(17);
      s << "|diff| " << max << " at " << what << ": attend " << ours << " vs torch " << torch;
      where = s.str();
    }
  }
};

std::string pos(const char* name, std::size_t a, std::size_t b, std::size_t c) {
  return std::string(name) + "[" + std::to_string(a) + "][" + std::to_string(b) + "][" +
         std::to_string(c) + "]";
}

const std::vector<std::string>& recurrent_cases() {
  static const std::vector<std::string> cases = {
      "rnn_l1_uni",  "rnn_l1_bi",  "rnn_l2_uni",  "rnn_l2_bi",  "lstm_l1_uni", "lstm_l1_bi",
      "lstm_l2_uni", "lstm_l2_bi", "gru_l1_uni",  "gru_l1_bi",  "gru_l2_uni",  "gru_l2_bi"};
  return cases;
}

// A recurrent fixture with attend's Encoder built on its weights and run on its input.
struct EncoderRun {
  json fx;
  std::string module;
  std::size_t I = 0, Hd = 0, L = 0, dirs = 0, T = 0, B = 0;
  Lengths len;
  Tensor input, output, h_n, c_n;
  bool lstm = false;
  EncoderCache<double> cache;
};

void run_encoder(const std::string& name, EncoderRun& r) {
  r.fx = load_fixture(name);
  const json& fx = r.fx;
  r.module = fx.at("module").get<std::string>();
  r.I = fx.at("input_size").get<std::size_t>();
  r.Hd = fx.at("hidden_size").get<std::size_t>();
  r.L = fx.at("num_layers").get<std::size_t>();
  r.dirs = fx.at("num_directions").get<std::size_t>();
  r.T = fx.at("time").get<std::size_t>();
  r.B = fx.at("batch").get<std::size_t>();
  r.len = fixture_lengths(fx);
  r.lstm = r.module == "lstm";
  REQUIRE(r.dirs == (fx.at("bidirectional").get<bool>() ? 2u : 1u));
  REQUIRE(r.len.size() == r.B);
  r.input = tensor(fx.at("inputs").at("input"));
  r.output = tensor(fx.at("outputs").at("output"));
  r.h_n = tensor(fx.at("outputs").at("h_n"));
  REQUIRE(r.input.shape == std::vector<std::size_t>{r.T, r.B, r.I});
  REQUIRE(r.output.shape == std::vector<std::size_t>{r.T, r.B, r.dirs * r.Hd});
  REQUIRE(r.h_n.shape == std::vector<std::size_t>{r.L * r.dirs, r.B, r.Hd});
  if (r.lstm) {
    r.c_n = tensor(fx.at("outputs").at("c_n"));
    REQUIRE(r.c_n.shape == r.h_n.shape);
  }

  ModelConfig c;
  c.cell = r.module;
  c.emb = r.I;
  c.hidden = r.dirs * r.Hd;
  c.layers = r.L;
  c.bidirectional = r.dirs == 2;
  c.dropout = 0.0;
  c.src_vocab = r.T * r.B;  // one token per (t, b) position, its embedding = the fixture's input
  auto cell = make_cell<double>(r.module);
  REQUIRE(cell);
  ParameterRegistry<double> P;
  RecurrentEncoder<double> enc(P, c, *cell);
  P.allocate(1);

  // Every recurrent parameter attend declares is set from the fixture, and vice versa.
  const json& params = fx.at("params");
  std::size_t declared = 0;
  for (const auto& e : P.entries())
    if (e.name.rfind("encoder.rnn.", 0) == 0) ++declared;
  REQUIRE(params.size() == 4 * r.L * r.dirs);
  REQUIRE(declared == params.size());
  for (auto it = params.begin(); it != params.end(); ++it)
    set_param(P, "encoder.rnn." + it.key(), tensor(it.value()));

  const long emb_id = P.find("encoder.embedding.weight");
  REQUIRE(emb_id >= 0);
  Mat<double>& E = P.value(static_cast<std::size_t>(emb_id));
  REQUIRE(E.n_rows == r.I);
  REQUIRE(E.n_cols == r.T * r.B);
  arma::umat src(r.T, r.B);
  for (std::size_t t = 0; t < r.T; ++t)
    for (std::size_t b = 0; b < r.B; ++b) {
      src(t, b) = t * r.B + b;
      for (std::size_t i = 0; i < r.I; ++i) E(i, t * r.B + b) = r.input.at(t, b, i);
    }

  enc.forward(src, r.len, r.cache, nullptr);
  REQUIRE(r.cache.out.size() == r.L);
  REQUIRE(r.cache.final_h.size() == r.L);
  REQUIRE(r.cache.out.back().n_rows == r.dirs * r.Hd);
  REQUIRE(r.cache.out.back().n_cols == r.T * r.B);
}

std::size_t real_positions(const Lengths& len) {
  std::size_t n = 0;
  for (auto l : len) n += l;
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 1. Recurrent encoders against nn.RNN / nn.LSTM / nn.GRU (packed, padded batch)

TEST_CASE("Encoder top-layer outputs at real positions equal PyTorch's packed RNN/LSTM/GRU output",
          "[pytorch]") {
  const std::string name = GENERATE(from_range(recurrent_cases()));
  CAPTURE(name);
  EncoderRun r;
  run_encoder(name, r);
  const Mat<double>& out = r.cache.out.back();
  MaxDiff md;
  for (std::size_t t = 0; t < r.T; ++t)
    for (std::size_t b = 0; b < r.B; ++b) {
      if (t >= r.len[b]) continue;
      for (std::size_t k = 0; k < r.dirs * r.Hd; ++k)
        md.add(out(k, t * r.B + b), r.output.at(t, b, k), pos("output", t, b, k));
    }
  INFO("worst: " << md.where);
  CHECK(md.count == real_positions(r.len) * r.dirs * r.Hd);
  CHECK(md.max <= kTol);
}

TEST_CASE("Encoder final hidden states of every layer and direction equal PyTorch's h_n",
          "[pytorch]") {
  const std::string name = GENERATE(from_range(recurrent_cases()));
  CAPTURE(name);
  EncoderRun r;
  run_encoder(name, r);
  MaxDiff md;
  for (std::size_t l = 0; l < r.L; ++l) {
    const Mat<double>& h = r.cache.final_h[l];
    REQUIRE(h.n_rows == r.dirs * r.Hd);
    REQUIRE(h.n_cols == r.B);
    for (std::size_t d = 0; d < r.dirs; ++d)
      for (std::size_t b = 0; b < r.B; ++b)
        for (std::size_t k = 0; k < r.Hd; ++k)
          md.add(h(d * r.Hd + k, b), r.h_n.at(l * r.dirs + d, b, k),
                 pos("h_n", l * r.dirs + d, b, k));
  }
  INFO("worst: " << md.where);
  CHECK(md.count == r.L * r.dirs * r.B * r.Hd);
  CHECK(md.max <= kTol);
}

TEST_CASE("LSTM encoder final cell states of every layer and direction equal PyTorch's c_n",
          "[pytorch]") {
  const std::string name =
      GENERATE(as<std::string>{}, "lstm_l1_uni", "lstm_l1_bi", "lstm_l2_uni", "lstm_l2_bi");
  CAPTURE(name);
  EncoderRun r;
  run_encoder(name, r);
  REQUIRE(r.lstm);
  REQUIRE(r.cache.final_c.size() == r.L);
  MaxDiff md;
  for (std::size_t l = 0; l < r.L; ++l) {
    const Mat<double>& c = r.cache.final_c[l];
    REQUIRE(c.n_rows == r.dirs * r.Hd);
    REQUIRE(c.n_cols == r.B);
    for (std::size_t d = 0; d < r.dirs; ++d)
      for (std::size_t b = 0; b < r.B; ++b)
        for (std::size_t k = 0; k < r.Hd; ++k)
          md.add(c(d * r.Hd + k, b), r.c_n.at(l * r.dirs + d, b, k),
                 pos("c_n", l * r.dirs + d, b, k));
  }
  INFO("worst: " << md.where);
  CHECK(md.count == r.L * r.dirs * r.B * r.Hd);
  CHECK(md.max <= kTol);
}

// The same fixtures one level down: RecurrentLayer + run_sequence per layer and direction, with
// the processing-order state slots mapped back to time by hand.
TEST_CASE("run_sequence per layer and direction reproduces PyTorch's outputs, h_n and c_n",
          "[pytorch]") {
  const std::string name = GENERATE(from_range(recurrent_cases()));
  CAPTURE(name);
  const json fx = load_fixture(name);
  const std::string module = fx.at("module").get<std::string>();
  const std::size_t I = fx.at("input_size").get<std::size_t>(),
                    Hd = fx.at("hidden_size").get<std::size_t>(),
                    L = fx.at("num_layers").get<std::size_t>(),
                    dirs = fx.at("num_directions").get<std::size_t>(),
                    S = fx.at("time").get<std::size_t>(), B = fx.at("batch").get<std::size_t>();
  const bool lstm = module == "lstm";
  const Lengths len = fixture_lengths(fx);
  const Tensor input = tensor(fx.at("inputs").at("input"));
  const Tensor output = tensor(fx.at("outputs").at("output"));
  const Tensor h_n = tensor(fx.at("outputs").at("h_n"));
  REQUIRE(input.shape == std::vector<std::size_t>{S, B, I});
  REQUIRE(output.shape == std::vector<std::size_t>{S, B, dirs * Hd});
  REQUIRE(h_n.shape == std::vector<std::size_t>{L * dirs, B, Hd});
  Tensor c_n;
  if (lstm) {
    c_n = tensor(fx.at("outputs").at("c_n"));
    REQUIRE(c_n.shape == h_n.shape);
  }

  auto cell = make_cell<double>(module);
  REQUIRE(cell);
  REQUIRE(cell->has_memory() == lstm);
  ParameterRegistry<double> P;
  std::vector<RecurrentLayer<double>> layers;
  layers.reserve(L * dirs);
  for (std::size_t l = 0; l < L; ++l)
    for (std::size_t d = 0; d < dirs; ++d)
      layers.emplace_back(P, *cell, "rnn.", "_l" + std::to_string(l) + (d ? "_reverse" : ""),
                          l == 0 ? I : dirs * Hd, Hd);
  P.allocate(7);
  const json& params = fx.at("params");
  REQUIRE(P.entries().size() == params.size());
  for (auto it = params.begin(); it != params.end(); ++it)
    set_param(P, "rnn." + it.key(), tensor(it.value()));

  Mat<double> X(I, S * B);
  for (std::size_t t = 0; t < S; ++t)
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t i = 0; i < I; ++i) X(i, t * B + b) = input.at(t, b, i);

  MaxDiff md_out, md_h, md_c;
  for (std::size_t l = 0; l < L; ++l) {
    Mat<double> Y(dirs * Hd, S * B, arma::fill::zeros);  // this layer's output in time order
    for (std::size_t d = 0; d < dirs; ++d) {
      SequenceCache<double> sc;
      run_sequence(layers[l * dirs + d], X, len, S, d == 1, sc);
      REQUIRE(sc.hs.n_rows == Hd);
      REQUIRE(sc.hs.n_cols == (S + 1) * B);
      if (lstm) REQUIRE(sc.cs.n_cols == (S + 1) * B);
      for (std::size_t t = 0; t < S; ++t) {
        const std::size_t slot = d == 0 ? t + 1 : S - t;  // processing step k = t or S−1−t
        Y.submat(d * Hd, t * B, (d + 1) * Hd - 1, (t + 1) * B - 1) =
            sc.hs.cols(slot * B, (slot + 1) * B - 1);
      }
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t k = 0; k < Hd; ++k) {
          md_h.add(sc.hs(k, S * B + b), h_n.at(l * dirs + d, b, k), pos("h_n", l * dirs + d, b, k));
          if (lstm)
            md_c.add(sc.cs(k, S * B + b), c_n.at(l * dirs + d, b, k),
                     pos("c_n", l * dirs + d, b, k));
        }
    }
    if (l + 1 == L) {
      for (std::size_t t = 0; t < S; ++t)
        for (std::size_t b = 0; b < B; ++b) {
          if (t >= len[b]) continue;
          for (std::size_t k = 0; k < dirs * Hd; ++k)
            md_out.add(Y(k, t * B + b), output.at(t, b, k), pos("output", t, b, k));
        }
    }
    X = Y;
  }
  {
    INFO("worst output: " << md_out.where);
    CHECK(md_out.count == real_positions(len) * dirs * Hd);
    CHECK(md_out.max <= kTol);
  }
  {
    INFO("worst h_n: " << md_h.where);
    CHECK(md_h.count == L * dirs * B * Hd);
    CHECK(md_h.max <= kTol);
  }
  if (lstm) {
    INFO("worst c_n: " << md_c.where);
    CHECK(md_c.count == L * dirs * B * Hd);
    CHECK(md_c.max <= kTol);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. multihead attention against nn.MultiheadAttention(8, heads) with a key padding mask

TEST_CASE("multihead attention context and head-averaged weights equal nn.MultiheadAttention's",
          "[pytorch]") {
  const std::string name =
      GENERATE(as<std::string>{}, "multihead_h1", "multihead_h2", "multihead_h4");
  CAPTURE(name);
  const json fx = load_fixture(name);
  REQUIRE(fx.at("module").get<std::string>() == "multihead");
  const std::size_t E = fx.at("embed_dim").get<std::size_t>(),
                    heads = fx.at("num_heads").get<std::size_t>(),
                    Lq = fx.at("query_len").get<std::size_t>(),
                    S = fx.at("memory_len").get<std::size_t>(),
                    B = fx.at("batch").get<std::size_t>();
  REQUIRE(E == 8);
  const Lengths len = fixture_lengths(fx);
  const Tensor query = tensor(fx.at("inputs").at("query"));
  const Tensor memory = tensor(fx.at("inputs").at("memory"));
  const Tensor out = tensor(fx.at("outputs").at("attn_output"));
  const Tensor w = tensor(fx.at("outputs").at("attn_weights"));
  REQUIRE(query.shape == std::vector<std::size_t>{Lq, B, E});
  REQUIRE(memory.shape == std::vector<std::size_t>{S, B, E});
  REQUIRE(out.shape == std::vector<std::size_t>{Lq, B, E});
  REQUIRE(w.shape == std::vector<std::size_t>{B, Lq, S});

  ModelConfig c;
  c.hidden = E;
  c.heads = heads;
  ParameterRegistry<double> P;
  auto att = make_attention<double>("multihead", P, c, "decoder.attention.");
  REQUIRE(att);
  P.allocate(1);
  const json& params = fx.at("params");
  REQUIRE(params.size() == 4);
  REQUIRE(P.entries().size() == params.size());
  for (auto it = params.begin(); it != params.end(); ++it)
    set_param(P, "decoder.attention." + it.key(), tensor(it.value()));

  Mat<double> M(E, B * S);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t j = 0; j < S; ++j)
      for (std::size_t e = 0; e < E; ++e) M(e, b * S + j) = memory.at(j, b, e);
  Memory<double> mem{&M, &len, S, B};
  auto batch = att->make_batch_state(), step = att->make_step_state();
  att->prepare(mem, *batch);

  MaxDiff md_ctx, md_w;
  std::size_t padded_checked = 0, padded_nonzero = 0;
  for (std::size_t l = 0; l < Lq; ++l) {
    Mat<double> q(E, B);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t e = 0; e < E; ++e) q(e, b) = query.at(l, b, e);
    Mat<double> context(E, B, arma::fill::zeros), weights(S, B, arma::fill::zeros);
    att->forward(q, l, mem, *batch, *step, context, weights);
    REQUIRE(context.n_rows == E);
    REQUIRE(context.n_cols == B);
    REQUIRE(weights.n_rows == S);
    REQUIRE(weights.n_cols == B);
    for (std::size_t b = 0; b < B; ++b) {
      for (std::size_t e = 0; e < E; ++e)
        md_ctx.add(context(e, b), out.at(l, b, e), pos("attn_output", l, b, e));
      for (std::size_t j = 0; j < S; ++j) {
        md_w.add(weights(j, b), w.at(b, l, j), pos("attn_weights", b, l, j));
        if (j >= len[b]) {
          ++padded_checked;
          if (weights(j, b) != 0.0 || w.at(b, l, j) != 0.0) ++padded_nonzero;
        }
      }
    }
  }
  {
    INFO("worst attn_output: " << md_ctx.where);
    CHECK(md_ctx.count == Lq * B * E);
    CHECK(md_ctx.max <= kTol);
  }
  {
    INFO("worst attn_weights: " << md_w.where);
    CHECK(md_w.count == Lq * B * S);
    CHECK(md_w.max <= kTol);
  }
  CHECK(padded_checked == Lq * (B * S - real_positions(len)));
  CHECK(padded_nonzero == 0);
}

// ---------------------------------------------------------------------------------------------
// 3. The masking convention (DESIGN.md §3, §5) for every built-in strategy

TEST_CASE("Every attention strategy gives padded source positions exactly zero weight",
          "[pytorch]") {
  std::vector<std::string> names;
  for (const auto& n : attention_names())
    if (n != "none") names.push_back(n);
  REQUIRE(names.size() >= 9);
  const std::string name = GENERATE_COPY(from_range(names));
  CAPTURE(name);
  const bool predictive = name == "local-p";

  ModelConfig c;
  c.hidden = 4;
  c.heads = 2;
  c.window = 2;
  c.max_src_len = 6;
  ParameterRegistry<double> P;
  auto att = make_attention<double>(name, P, c, "decoder.attention.");
  REQUIRE(att);
  P.allocate(3);

  const std::size_t H = c.hidden, S = 5, B = 3;
  const Lengths len{5, 3, 1};
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  // Padded memory columns hold garbage too: masking must not depend on them being zero.
  Mat<double> M(H, B * S);
  M.imbue([&] { return u(rng); });
  Memory<double> mem{&M, &len, S, B};
  auto batch = att->make_batch_state(), step = att->make_step_state();
  att->prepare(mem, *batch);

  std::size_t padded_checked = 0;
  for (std::size_t t = 0; t < 4; ++t) {  // several steps: local-m's window moves with t
    CAPTURE(t);
    Mat<double> q(H, B);
    q.imbue([&] { return u(rng); });
    Mat<double> context(H, B, arma::fill::zeros), weights(S, B, arma::fill::zeros);
    att->forward(q, t, mem, *batch, *step, context, weights);
    REQUIRE(weights.n_rows == S);
    REQUIRE(weights.n_cols == B);
    REQUIRE(weights.is_finite());
    REQUIRE(context.is_finite());
    for (std::size_t b = 0; b < B; ++b) {
      CAPTURE(b);
      double sum = 0.0;
      for (std::size_t j = 0; j < S; ++j) {
        CAPTURE(j);
        if (j >= len[b]) {
          ++padded_checked;
          CHECK(weights(j, b) == 0.0);
        } else {
          CHECK(weights(j, b) >= 0.0);
          CHECK(weights(j, b) <= 1.0);
          sum += weights(j, b);
        }
      }
      if (predictive) {
        CHECK(sum <= 1.0 + 1e-12);
        CHECK(sum > 0.0);
      } else {
        CHECK(sum == Approx(1.0).margin(1e-12));
      }
    }
  }
  CHECK(padded_checked == 4 * (B * S - (5 + 3 + 1)));
}
