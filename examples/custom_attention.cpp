// Define an attention strategy outside the library, register it under a new name, check its
// gradients and train with it through the same pipeline as the built-in strategies.
//
// "diagonal" attention: e_j = Σ_i w_i q_i h_ji (Luong's general score with a diagonal W_a),
// a = masked softmax(e), c = Σ_j a_j h_j.
#include <attend/nn/attention.hpp>
#include <attend/text/tasks.hpp>
#include <attend/eval/evaluate.hpp>
#include <attend/train/trainer.hpp>
#include <cstdio>

using namespace attend;

// What the strategy keeps per decoder step; the decoder creates one per step through
// make_step_state and reuses it across batches.
template <typename T>
struct DiagonalStep : AttentionState {
  Mat<T> e;   // the scores e_j (S × B)
  Mat<T> da;  // ∂L/∂a
  Mat<T> de;  // ∂L/∂e
};

template <typename T>
class DiagonalAttention : public Attention<T> {
 public:
  DiagonalAttention(ParameterRegistry<T>& params, const ModelConfig& config, const std::string& prefix)
      : params_(params), w_(params.add(prefix + "w", config.hidden, 1, 1.0, TorchLayout::Vector)) {}

  std::unique_ptr<AttentionState> make_step_state() const override {
    return std::make_unique<DiagonalStep<T>>();
  }

  void forward(const Mat<T>& q, std::size_t, const Memory<T>& m, AttentionState&,
               AttentionState& step, Mat<T>& context, Mat<T>& weights) const override {
    const Col<T> w = params_.value(w_).col(0);
    Mat<T>& e = state_as<DiagonalStep<T>>(step).e;
    e.zeros(m.S, m.B);
    Lengths lo(m.B, 0), hi(m.B);
    for (std::size_t b = 0; b < m.B; ++b) {
      const Col<T> qw = q.col(b) % w;
      const auto h = m.example(b);  // a read-only d × S view: *h is the matrix
      for (std::size_t j = 0; j < (*m.len)[b]; ++j) e(j, b) = arma::dot(qw, h->col(j));
      hi[b] = (*m.len)[b] - 1;
    }
    window_softmax(e, lo, hi, weights);
    for (std::size_t b = 0; b < m.B; ++b) context.col(b) = *m.example(b) * weights.col(b);
  }

  void backward(const Mat<T>& dcontext, const Mat<T>& q, std::size_t, const Memory<T>& m,
                AttentionState&, AttentionState& step, const Mat<T>& weights, Mat<T>& dq,
                Mat<T>& dmemory) const override {
    const Col<T> w = params_.value(w_).col(0);
    DiagonalStep<T>& st = state_as<DiagonalStep<T>>(step);  // the one forward filled
    Mat<T>& da = st.da;
    Mat<T>& de = st.de;
    da.zeros(m.S, m.B);
    for (std::size_t b = 0; b < m.B; ++b) {
      const auto h = m.example(b);
      Mat<T> dh = block(dmemory, b * m.S, m.S);
      da.col(b) = h->t() * dcontext.col(b);           // ∂L/∂a_j = h_jᵀ dc
      dh += dcontext.col(b) * weights.col(b).t();    // ∂L/∂h_j += a_j dc
    }
    softmax_backward(weights, da, de);
    dq.zeros(q.n_rows, q.n_cols);
    Mat<T>& dw = params_.grad(w_);
    for (std::size_t b = 0; b < m.B; ++b) {
      const auto h = m.example(b);
      Mat<T> dh = block(dmemory, b * m.S, m.S);
      for (std::size_t j = 0; j < (*m.len)[b]; ++j) {
        const T g = de(j, b);
        dq.col(b) += g * (w % h->col(j));
        dh.col(j) += g * (w % q.col(b));
        dw.col(0) += g * (q.col(b) % h->col(j));
      }
    }
  }

 private:
  ParameterRegistry<T>& params_;
  std::size_t w_;
};

int main() {
  // Traits are optional: a help line for listings; the decoder style for --decoder auto is luong.
  register_attention<DiagonalAttention>("diagonal", {"general score with a diagonal W_a"});

  TaskOptions task;
  task.name = "reverse";
  task.train_size = 4000;
  const TaskData data = make_task(task);
  std::vector<std::vector<std::string>> src, tgt;
  for (const auto& e : data.train) src.push_back(e.src), tgt.push_back(e.tgt);
  const Vocab sv = Vocab::build(src), tv = Vocab::build(tgt);
  const auto train_set = encode_examples(data.train, sv, tv);
  const auto test_set = encode_examples(data.test, sv, tv);

  ModelConfig config;
  config.attention = "diagonal";  // the new name works wherever a built-in one does
  config.emb = 16;
  config.hidden = 64;
  config.src_vocab = sv.size();
  config.tgt_vocab = tv.size();

  // A finite-difference check of the new strategy's gradients, in double precision.
  {
    ModelConfig small = config;
    small.hidden = 6;
    small.emb = 3;
    Seq2Seq<double> model(small, 1);
    model.params().values() *= 3.0;  // peaked attention: gradients well above rounding noise
    Workspace<double> ws;
    const Batch b = make_batch(train_set, {0, 1, 2});
    auto& P = model.params();
    P.zero_grad();
    model.loss_and_grad(b, ws);
    const long id = P.find("decoder.attention.w");
    arma::vec analytic(P.entries()[id].rows), numeric(P.entries()[id].rows);
    for (std::size_t i = 0; i < P.entries()[id].rows; ++i) {
      double& v = P.value(id)(i, 0);
      const double saved = v, h = 1e-4;
      auto f = [&](double x) {
        v = saved + x;
        return model.loss(b, ws).mean();
      };
      numeric[i] = ((f(-2 * h) - f(2 * h)) + 8 * (f(h) - f(-h))) / (12 * h);
      v = saved;
      analytic[i] = P.grad(id)(i, 0);
    }
    std::printf("gradient check of decoder.attention.w: relative error %.2e\n",
                arma::norm(analytic - numeric) / (arma::norm(analytic) + arma::norm(numeric)));
  }

  Seq2Seq<float> model(config, 1);
  TrainOptions options;
  options.steps = 800;
  options.optimizer.lr = 5e-3;
  train(model, train_set, {}, options, [](const TrainProgress& p) {
    if (p.step % 200 == 0) std::printf("step %zu  loss %.4f\n", p.step, p.loss);
  });
  const EvalResult r = evaluate(model, test_set, 128, true);
  std::printf("diagonal attention on reverse: test exact match %.2f%%\n", 100 * r.exact_match);
}
