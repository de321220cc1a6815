// Hard attention (--attention-fn hard; attention_fn.hpp, docs/attention-fn.md "hard"): the
// deterministic argmax, the draws (only real positions, distributed as softmax), the REINFORCE
// estimator against the exact gradient of the expected loss on models small enough to enumerate
// every choice, the straight-through Gumbel-softmax backward, seeded training reproduced bit for
// bit and resumed exactly, and the options stored and refused.
#include <catch2/catch.hpp>

#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "attend/core/error.hpp"
#include "attend/io/checkpoint.hpp"
#include "attend/nn/attention.hpp"
#include "attend/nn/attention_fn.hpp"
#include "attend/nn/seq2seq.hpp"
#include "attend/train/trainer.hpp"
#include "gradcheck.hpp"
#include "support.hpp"

using namespace attend;
using attend::test::max_relative_error;
using attend::test::small_config;

namespace {

// The draw's uniform and Gumbel noise exactly as hard_draw makes them from the stream.
double open_uniform(std::mt19937_64& rng) { return (double(rng() >> 11) + 0.5) * 0x1.0p-53; }
double gumbel(std::mt19937_64& rng) { return -std::log(-std::log(open_uniform(rng))); }

std::vector<double> softmax(const std::vector<double>& x) {
  double mx = x[0];
  for (double v : x) mx = std::max(mx, v);
  double sum = 0;
  for (double v : x) sum += std::exp(v - mx);
  std::vector<double> p;
  for (double v : x) p.push_back(std::exp(v - mx) / sum);
  return p;
}

// Pearson's statistic of `counts` against probabilities p over `draws` draws.
double chi_square(const std::vector<std::size_t>& counts, const std::vector<double>& p, std::size_t draws) {
  double x2 = 0;
  for (std::size_t k = 0; k < p.size(); ++k) {
    const double expected = p[k] * double(draws);
    x2 += (double(counts[k]) - expected) * (double(counts[k]) - expected) / expected;
  }
  return x2;
}

// One example small enough to enumerate: source of 3 tokens, target of 1 (+ </s>): two decoder
// steps of 3 positions each.
Batch tiny_batch() {
  std::vector<EncodedPair> data = {{{4, 5, 6}, {4}}};
  return make_batch(data, {0});
}

ModelConfig hard_config(const std::string& attention, const std::string& decoder) {
  ModelConfig c = small_config("gru", attention, decoder);
  c.attention_fn = "hard";
  c.window = 2;
  return c;
}

struct Expectation {
  double loss = 0;       // E_s[L(s)]
  arma::vec estimator;   // E_s[REINFORCE's gradient] (with grads)
  double total_p = 0;    // Σ_s p(s): 1 when every choice was enumerated once
};

// Every tuple of `draws` positions in [0, width) forced in turn (tuples with a position past its
// window skipped): the exact expectation over the choices of the loss and, with `grads`, of the
// gradient loss_and_grad gives (REINFORCE with `reward` and `baseline`, no entropy bonus).
Expectation enumerate(Seq2Seq<double>& model, const Batch& batch, std::size_t draws, std::size_t width, bool grads,
                      HardReward reward = HardReward::ToGo, double baseline = 0) {
  HardAttentionOptions o;
  o.reward = reward;
  std::mt19937_64 rng(1);
  TrainStepOptions opt;
  opt.rng = &rng;
  opt.hard = &o;
  opt.reinforce_baseline = baseline;
  Workspace<double> ws;
  auto& P = model.params();
  Expectation e;
  if (grads) e.estimator.zeros(P.size());
  std::vector<std::size_t> tuple(draws, 0);
  for (;;) {
    ws.hard.forced = tuple;
    LossStats s;
    if (grads) {
      P.zero_grad();
      s = model.loss_and_grad(batch, ws, opt);
    } else {
      s = model.loss(batch, ws, opt);
    }
    REQUIRE(ws.hard.next_forced == draws);
    if (!ws.hard.forced_invalid) {
      double log_p = 0;
      for (double l : ws.hard.log_prob) log_p += l;
      const double p = std::exp(log_p);
      e.loss += p * s.mean();
      if (grads) e.estimator += p * P.grads();
      e.total_p += p;
    }
    std::size_t k = 0;
    while (k < draws && ++tuple[k] == width) tuple[k++] = 0;
    if (k == draws) break;
  }
  return e;
}

// The exact expectation of REINFORCE's gradient (by enumeration) against the finite-difference
// gradient of the exact expected loss (by enumeration): the largest relative error per entry.
double estimator_bias(const ModelConfig& c, std::size_t draws, HardReward reward, double baseline = 0) {
  Seq2Seq<double> model(c, 5);
  const Batch batch = tiny_batch();
  const Expectation e = enumerate(model, batch, draws, 3, true, reward, baseline);
  CHECK(e.total_p == Approx(1.0).epsilon(1e-12));
  std::string worst;
  const double err = max_relative_error(
      model.params(), e.estimator, [&] { return enumerate(model, batch, draws, 3, false).loss; }, &worst);
  INFO(c.attention << " / " << c.decoder << " / " << to_string(reward) << ": worst entry " << worst << ", relative error " << err);
  return err;
}

// A tiny reverse task trained with hard attention (attention_fn.hpp): 26 steps, validation at 13.
attend::test::TinyTask hard_task() {
  attend::test::TinyTask d = attend::test::tiny_reverse_task(0.1);
  d.config.attention = "luong-general";
  d.config.decoder = "luong";
  d.config.attention_fn = "hard";
  return d;
}

TrainOptions hard_training(HardEstimator estimator) {
  TrainOptions o;
  o.optimizer.lr = 0.01;
  o.batch = 32;
  o.steps = 26;
  o.eval_every = 13;
  o.keep_best = false;
  o.seed = 11;
  o.hard.estimator = estimator;
  o.hard.entropy_weight = 0.01;
  return o;
}

arma::fvec trained(const attend::test::TinyTask& d, const TrainOptions& o) {
  Seq2Seq<float> model(d.config, 3);
  train(model, d.train, d.valid, o);
  return model.params().values();
}

// The largest difference between 26 uninterrupted steps and 13 + 13 resumed through a checkpoint
// file (the state saved at the validation of step 13).
float resumed_difference(const attend::test::TinyTask& d, const TrainOptions& o, TrainState* saved_out = nullptr) {
  attend::test::TempDir dir;
  Seq2Seq<float> first(d.config, 3);
  std::optional<TrainState> saved;
  TrainOptions half = o;
  half.steps = 13;
  half.after_validation = [&](const TrainState& st, bool) { saved = st; };
  train(first, d.train, d.valid, half);
  REQUIRE(saved);
  ModelBundle b;
  b.model = std::make_unique<Seq2Seq<float>>(d.config, 3);
  b.model->params().assign(first.params().values());
  b.src_vocab = d.src_vocab;
  b.tgt_vocab = d.tgt_vocab;
  b.tokenizer = Tokenizer::Space;
  b.train_state = *saved;
  save_model(dir.file("m.safetensors"), b);
  ModelBundle l = load_model(dir.file("m.safetensors"));
  REQUIRE(l.train_state);
  if (saved_out) *saved_out = *l.train_state;
  TrainOptions rest = o;
  rest.resume = &*l.train_state;
  train(*l.model, d.train, d.valid, rest);
  return arma::abs(l.model->params().values() - trained(d, o)).max();
}

}  // namespace

TEST_CASE("hard attention decodes with the one-hot argmax, ties to the lowest index", "[hard-attention]") {
  const std::vector<double> z = {1.0, 3.0, -2.0, 3.0, 2.5};
  std::vector<double> p(z.size()), soft(z.size());
  normalize(AttentionFn::Hard, z.data(), z.size(), p.data());
  CHECK(p == std::vector<double>{0, 1, 0, 0, 0});
  CHECK(hard_draw(z.data(), z.size(), nullptr, p.data(), soft.data()) == 1);
  CHECK(p == std::vector<double>{0, 1, 0, 0, 0});
  std::vector<double> dz(z.size(), 7.0);
  normalize_backward(AttentionFn::Hard, p.data(), z.data(), z.size(), dz.data());
  CHECK(dz == std::vector<double>(z.size(), 0.0));
}

TEST_CASE("a model with hard attention decodes deterministically with one-hot weights", "[hard-attention]") {
  for (const std::string attention : {"luong-general", "bahdanau", "local-p", "multihead"}) {
    INFO(attention);
    ModelConfig c = hard_config(attention, "auto");
    Seq2Seq<double> model(c, 7);
    const Batch batch = attend::test::mixed_batch();
    Workspace<double> ws;
    model.loss(batch, ws);  // evaluation: no stream
    const arma::mat first = ws.dec.A;
    model.loss(batch, ws);
    CHECK(arma::approx_equal(first, ws.dec.A, "absdiff", 0.0));
    const std::size_t B = batch.size();
    for (std::size_t col = 0; col < first.n_cols; ++col) {
      const std::size_t b = col % B;
      std::size_t ones = 0;
      for (std::size_t j = 0; j < first.n_rows; ++j) {
        if (j >= batch.src_len[b]) CHECK(first(j, col) == 0.0);
        ones += first(j, col) != 0.0;
      }
      if (attention != "multihead") CHECK(ones == 1);  // multihead shows the mean over heads
      CHECK(arma::accu(first.col(col)) > 0.0);
    }
  }
}

TEST_CASE("hard attention never draws a padded position or one outside the window", "[hard-attention]") {
  for (const std::string attention : {"luong-dot", "local-m", "multihead"}) {
    INFO(attention);
    ModelConfig c = hard_config(attention, "luong");
    c.window = 1;
    Seq2Seq<double> model(c, 7);
    const Batch batch = attend::test::mixed_batch();
    Workspace<double> ws;
    std::mt19937_64 rng(3);
    TrainStepOptions opt;
    opt.rng = &rng;
    std::size_t draws = 0;
    for (int pass = 0; pass < 200; ++pass) {
      model.loss(batch, ws, opt);
      for (std::size_t col = 0; col < ws.dec.A.n_cols; ++col) {
        const std::size_t b = col % batch.size(), t = col / batch.size();
        for (std::size_t j = 0; j < ws.dec.A.n_rows; ++j) {
          if (ws.dec.A(j, col) == 0.0) continue;
          ++draws;
          CHECK(j < batch.src_len[b]);
          if (attention == "local-m") CHECK(std::abs(double(j) - double(std::min<std::size_t>(t, batch.src_len[b] - 1))) <= 1.0);
        }
      }
    }
    CHECK(draws > 0);
  }
}

TEST_CASE("REINFORCE draws follow softmax of the scores (chi-square at a fixed seed)", "[hard-attention]") {
  const std::vector<double> z = {0.5, -1.0, 2.0, 0.0, 1.0};
  const std::vector<double> want = softmax(z);
  HardAttentionPass pass;
  std::mt19937_64 rng(2026);
  pass.rng = &rng;
  std::vector<double> p(z.size()), soft(z.size());
  std::vector<std::size_t> counts(z.size(), 0);
  const std::size_t N = 20000;
  for (std::size_t i = 0; i < N; ++i) ++counts[hard_draw(z.data(), z.size(), &pass, p.data(), soft.data())];
  for (std::size_t k = 0; k < z.size(); ++k) CHECK(soft[k] == Approx(want[k]).epsilon(1e-12));
  // 4 degrees of freedom: P(χ² > 18.47) = 0.001.
  CHECK(chi_square(counts, want, N) < 18.47);
}

TEST_CASE("Gumbel draws follow softmax of the scores too (chi-square at a fixed seed)", "[hard-attention]") {
  const std::vector<double> z = {0.5, -1.0, 2.0, 0.0, 1.0};
  HardAttentionPass pass;
  pass.options.estimator = HardEstimator::Gumbel;
  std::mt19937_64 rng(7);
  pass.rng = &rng;
  std::vector<double> p(z.size()), soft(z.size());
  std::vector<std::size_t> counts(z.size(), 0);
  const std::size_t N = 20000;
  for (std::size_t i = 0; i < N; ++i) ++counts[hard_draw(z.data(), z.size(), &pass, p.data(), soft.data())];
  CHECK(chi_square(counts, softmax(z), N) < 18.47);
}

TEST_CASE("the Gumbel forward is the one-hot of argmax(e + g), its backward that of softmax((e + g)/tau)",
          "[hard-attention]") {
  const std::vector<double> z = {0.3, -0.7, 1.1, 0.2};
  const std::vector<double> dp = {0.5, -1.5, 0.25, 2.0};
  const std::size_t n = z.size();
  for (const double tau : {0.5, 1.0, 2.0}) {
    INFO("tau " << tau);
    HardAttentionPass pass;
    pass.options.estimator = HardEstimator::Gumbel;
    pass.options.gumbel_tau = tau;
    std::mt19937_64 rng(99), copy(99);
    pass.rng = &rng;
    std::vector<double> p(n), soft(n), dz(n);
    const std::size_t j = hard_draw(z.data(), n, &pass, p.data(), soft.data());
    std::vector<double> y(n);  // (e + g)/τ with the same noise
    for (std::size_t k = 0; k < n; ++k) y[k] = (z[k] + gumbel(copy)) / tau;
    std::size_t want = 0;
    for (std::size_t k = 1; k < n; ++k)
      if (y[k] > y[want]) want = k;
    CHECK(j == want);
    for (std::size_t k = 0; k < n; ++k) CHECK(p[k] == (k == want ? 1.0 : 0.0));
    hard_backward(pass.options, p.data(), soft.data(), dp.data(), n, 0.0, 0.0, dz.data());
    // d/dz_k of dp · softmax((z + g)/τ) by central differences with the noise held.
    for (std::size_t k = 0; k < n; ++k) {
      auto f = [&](double h) {
        std::vector<double> x = y;
        x[k] += h / tau;
        const auto s = softmax(x);
        double v = 0;
        for (std::size_t i = 0; i < n; ++i) v += dp[i] * s[i];
        return v;
      };
      const double h = 1e-6;
      CHECK(dz[k] == Approx((f(h) - f(-h)) / (2 * h)).margin(1e-8));
    }
  }
}

TEST_CASE("REINFORCE's score gradient is c (onehot - p) and its entropy bonus the gradient of -lambda H(p)",
          "[hard-attention]") {
  const std::vector<double> z = {0.4, -0.2, 1.3};
  const std::size_t n = z.size();
  const auto p = softmax(z);
  const std::vector<double> onehot = {0, 0, 1}, dp = {9, 9, 9};  // dp plays no part
  HardAttentionOptions o;
  std::vector<double> dz(n);
  hard_backward(o, onehot.data(), p.data(), dp.data(), n, 0.75, 0.0, dz.data());
  for (std::size_t k = 0; k < n; ++k) CHECK(dz[k] == Approx(0.75 * (onehot[k] - p[k])).epsilon(1e-12));
  const double lambda = 0.3;
  hard_backward(o, onehot.data(), p.data(), dp.data(), n, 0.0, lambda, dz.data());
  for (std::size_t k = 0; k < n; ++k) {
    auto neg_entropy = [&](double h) {
      std::vector<double> x = z;
      x[k] += h;
      double H = 0;
      for (double q : softmax(x)) H -= q * std::log(q);
      return -lambda * H;
    };
    CHECK(dz[k] == Approx((neg_entropy(1e-6) - neg_entropy(-1e-6)) / 2e-6).margin(1e-8));
  }
}

TEST_CASE("REINFORCE is exactly unbiased: its expectation over every choice is the expected loss's gradient",
          "[hard-attention][gradcheck]") {
  // Two decoder steps of three positions: 9 choices (81 for two heads). The exact expectation of
  // the estimator against finite differences of the exact expected loss, every parameter.
  // Both rewards: the whole sequence's NLL, and the NLL from the draw's step on (to-go).
  for (const HardReward r : {HardReward::Sequence, HardReward::ToGo}) {
    CHECK(estimator_bias(hard_config("luong-general", "luong"), 2, r) < 1e-6);
    CHECK(estimator_bias(hard_config("bahdanau", "bahdanau"), 2, r) < 1e-6);
    CHECK(estimator_bias(hard_config("luong-concat", "bahdanau"), 2, r) < 1e-6);
    CHECK(estimator_bias(hard_config("local-m", "luong"), 2, r) < 1e-6);
    CHECK(estimator_bias(hard_config("local-p", "luong"), 2, r) < 1e-6);
    CHECK(estimator_bias(hard_config("multihead", "luong"), 4, r) < 1e-6);
  }
}

TEST_CASE("REINFORCE with a constant baseline is exactly unbiased too", "[hard-attention][gradcheck]") {
  CHECK(estimator_bias(hard_config("luong-general", "luong"), 2, HardReward::Sequence, 1.7) < 1e-6);
  CHECK(estimator_bias(hard_config("bahdanau", "bahdanau"), 2, HardReward::ToGo, 1.7) < 1e-6);
}

TEST_CASE("the mean of many REINFORCE samples equals the exact gradient of the expected loss within its standard error",
          "[hard-attention]") {
  const HardReward reward = GENERATE(HardReward::Sequence, HardReward::ToGo);
  INFO(to_string(reward));
  const ModelConfig c = hard_config("luong-general", "luong");
  Seq2Seq<double> model(c, 5);
  const Batch batch = tiny_batch();
  auto& P = model.params();
  // The exact gradient: finite differences of the enumerated expected loss.
  arma::vec exact(P.size());
  for (std::size_t i = 0; i < P.size(); ++i) {
    double& v = P.values()[i];
    const double saved = v, h = 1e-5;
    v = saved + h;
    const double up = enumerate(model, batch, 2, 3, false).loss;
    v = saved - h;
    const double down = enumerate(model, batch, 2, 3, false).loss;
    v = saved;
    exact[i] = (up - down) / (2 * h);
  }
  HardAttentionOptions o;  // REINFORCE, no entropy bonus, baseline 0: unbiased
  o.reward = reward;
  std::mt19937_64 rng(20261207);
  TrainStepOptions opt;
  opt.rng = &rng;
  opt.hard = &o;
  Workspace<double> ws;
  const std::size_t N = 20000;
  arma::vec sum(P.size(), arma::fill::zeros), sum2(P.size(), arma::fill::zeros);
  for (std::size_t i = 0; i < N; ++i) {
    P.zero_grad();
    model.loss_and_grad(batch, ws, opt);
    sum += P.grads();
    sum2 += arma::square(P.grads());
  }
  const arma::vec mean = sum / double(N);
  const arma::vec se = arma::sqrt(arma::clamp(sum2 / double(N) - arma::square(mean), 0.0, arma::datum::inf) / double(N - 1));
  std::size_t compared = 0, outside = 0;
  double worst = 0;
  for (std::size_t i = 0; i < P.size(); ++i) {
    if (se[i] == 0 && std::abs(exact[i]) < 1e-9) continue;  // a parameter nothing reaches
    ++compared;
    const double z = std::abs(mean[i] - exact[i]) / (se[i] + 1e-9);
    worst = std::max(worst, z);
    outside += z > 3;
  }
  INFO(compared << " gradient entries, " << outside << " beyond 3 standard errors, the worst at " << worst);
  CHECK(compared > 50);
  CHECK(worst < 4.5);                          // none far off
  CHECK(double(outside) <= 0.02 * compared);  // about 0.3% expected beyond 3
}

TEST_CASE("a seeded run with hard attention is reproduced bit for bit, and the seed matters", "[hard-attention][train]") {
  const auto d = hard_task();
  for (const HardEstimator e : {HardEstimator::Reinforce, HardEstimator::Gumbel}) {
    INFO(to_string(e));
    TrainOptions o = hard_training(e);
    o.steps = 12;
    const arma::fvec a = trained(d, o), b = trained(d, o);
    CHECK(arma::abs(a - b).max() == 0.0f);
    o.seed = 12;
    CHECK(arma::abs(a - trained(d, o)).max() > 0.0f);
  }
}

TEST_CASE("a run with hard attention and REINFORCE resumed from a checkpoint file is bit for bit the uninterrupted run",
          "[hard-attention][resume]") {
  TrainState saved;
  CHECK(resumed_difference(hard_task(), hard_training(HardEstimator::Reinforce), &saved) == 0.0f);
  CHECK(saved.reinforce_updates == 13);
  CHECK(saved.reinforce_baseline > 0);
  REQUIRE(saved.hard);
  CHECK(saved.hard->entropy_weight == 0.01);
}

TEST_CASE("a run with hard attention and Gumbel resumed on 2 threads is bit for bit the uninterrupted run",
          "[hard-attention][resume][threads]") {
  TrainOptions o = hard_training(HardEstimator::Gumbel);
  o.threads = 2;
  o.hard.gumbel_tau = 0.5;
  CHECK(resumed_difference(hard_task(), o) == 0.0f);
}

TEST_CASE("a run with hard attention refuses to resume with other estimator options", "[hard-attention][resume]") {
  const auto d = hard_task();
  TrainOptions o = hard_training(HardEstimator::Reinforce);
  o.steps = 13;
  std::optional<TrainState> saved;
  o.after_validation = [&](const TrainState& st, bool) { saved = st; };
  Seq2Seq<float> model(d.config, 3);
  train(model, d.train, d.valid, o);
  REQUIRE(saved);
  TrainOptions other = hard_training(HardEstimator::Gumbel);
  other.resume = &*saved;
  CHECK_THROWS_WITH(train(model, d.train, d.valid, other),
                    Catch::Contains("cannot resume") && Catch::Contains("--hard-estimator reinforce"));
}

TEST_CASE("the hard-attention training state is stored, and a state without it reads as none", "[hard-attention][checkpoint]") {
  TrainState s;
  CHECK(s.to_map().count("reinforce_baseline") == 0);
  CHECK(s.to_map().count("hard_estimator") == 0);
  s.reinforce_baseline = 12.345678901234567;
  s.reinforce_updates = 4;
  HardAttentionOptions h;
  h.estimator = HardEstimator::Gumbel;
  h.gumbel_tau = 0.3;
  h.reward = HardReward::Sequence;
  s.hard = h;
  const TrainState r = TrainState::from_map(s.to_map());
  CHECK(r.reinforce_baseline == s.reinforce_baseline);
  CHECK(r.reinforce_updates == 4);
  REQUIRE(r.hard);
  CHECK(r.hard->estimator == HardEstimator::Gumbel);
  CHECK(r.hard->gumbel_tau == 0.3);
  CHECK(r.hard->reward == HardReward::Sequence);
  auto m = s.to_map();
  for (const char* key : {"reinforce_baseline", "reinforce_updates", "hard_estimator", "reinforce_reward", "gumbel_tau",
                          "baseline_decay", "entropy_weight"})
    m.erase(key);
  const TrainState old = TrainState::from_map(m);
  CHECK(old.reinforce_updates == 0);
  CHECK_FALSE(old.hard);
}

TEST_CASE("hard attention options that cannot apply are refused saying what to change", "[hard-attention][config]") {
  ModelConfig c = small_config("gru", "scaled-dot", "transformer", "transformer");
  c.attention_fn = "hard";
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--attention-fn hard is not built for the Transformer decoder"));
  c = small_config("gru", "none", "auto");
  c.attention_fn = "hard";
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("--attention none has none"));
  HardAttentionOptions o;
  o.gumbel_tau = 0;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("--gumbel-tau"));
  o = {};
  o.baseline_decay = 1;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("--baseline-decay"));
  o = {};
  o.entropy_weight = -1;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("--entropy-weight"));
  CHECK_THROWS_WITH(parse_hard_estimator("gumble"), Catch::Contains("reinforce, gumbel"));
  CHECK_THROWS_WITH(parse_hard_reward("togo"), Catch::Contains("sequence, to-go"));
}

TEST_CASE("hard attention on the command line: trained and stored, refused for the Transformer decoder",
          "[hard-attention][cli]") {
  attend::test::TempDir dir;
  const std::string train = "train -q --task reverse --train-size 60 --valid-size 10 --steps 3 --hidden 8 --emb 4 ";
  auto r = attend::test::run_cli(dir, train + "--attention-fn hard --hard-estimator gumbel --gumbel-tau 0.5 "
                                              "--model m.safetensors");
  INFO(r.err);
  CHECK(r.status == 0);
  const auto b = load_model(dir.file("m.safetensors"));
  CHECK(b.model->config().attention_fn == "hard");
  r = attend::test::run_cli(dir, train + "--attention-fn hard --hard-estimator nope --model m.safetensors");
  CHECK(r.status == 2);
  r = attend::test::run_cli(dir, train + "--decoder transformer --attention scaled-dot --heads 2 --self-heads 2 "
                                         "--ffn 8 --attention-fn hard --model m.safetensors");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--attention-fn hard is not built for the Transformer decoder"));
}
