// Built-in attention strategies (internal). A score maps (query, memory) to e (S × B); the
// scored strategies turn it into weights: globally, in a window at p_t = min(t, S_b − 1)
// (local-m), or in a window at a predicted p_t with a Gaussian prior (local-p).
#pragma once
#include "attend/nn/attention.hpp"
#include "attend/nn/attention_fn.hpp"

namespace attend {

// The keys a score projects once per batch (general: W_a H; additive: W_k H + b; concat: the
// h-block of W_a times H), H × B·S, and their gradient, accumulated over the steps: the batch
// state of the scored strategies.
template <typename T>
struct ScoreKeys : AttentionState {
  Mat<T> K;   // the projected keys
  Mat<T> dK;  // ∂L/∂K
};

template <typename T>
class Score {
 public:
  virtual ~Score() = default;
  // What the score keeps per step besides e (the defaults: nothing).
  virtual std::unique_ptr<AttentionState> make_step_state() const {
    return std::make_unique<AttentionState>();
  }
  virtual void prepare(const Memory<T>&, ScoreKeys<T>&) const {}
  // e: S × B (rows past an example's length are ignored by the caller).
  virtual void forward(const Mat<T>& q, const Memory<T>& m, const ScoreKeys<T>& keys,
                       AttentionState& step, Mat<T>& e) const = 0;
  // de → dq (accumulated), dmemory and the key gradient dK (accumulated).
  virtual void backward(const Mat<T>& de, const Mat<T>& q, const Memory<T>& m, ScoreKeys<T>& keys,
                        AttentionState& step, Mat<T>& dq, Mat<T>& dmemory) const = 0;
  virtual void prepare_backward(const Memory<T>&, ScoreKeys<T>&, Mat<T>&) const {}
};

enum class Locality { Global, Monotonic, Predictive };

template <typename T>
using ScoreFactory = std::function<std::unique_ptr<Score<T>>(
    ParameterRegistry<T>& params, const ModelConfig& config, const std::string& prefix)>;

struct ScoreTraits {
  std::string help;        // the formula
  bool local = false;      // local-m / local-p accept it as --score
  AttentionTraits global;  // of the global strategy over it: checks, data fitting, GEMM cost (always set)
};

// The base scores by name (attention_scores.cpp): dot, scaled-dot, general, additive, concat,
// location.
using ScoreRegistry = FactoryRegistry<ScoreFactory, ScoreTraits>;
const ScoreRegistry& scores();

// Traits of the built-in strategies, each defined beside its code: the local ones
// (attention_scored.cpp) and multihead (attention_multihead.cpp).
AttentionTraits local_traits(Locality locality);
AttentionTraits multihead_traits();

// The step state of the scored strategies (symbols of DESIGN §5).
template <typename T>
struct ScoredStep : WindowState {  // lo, hi: the window |j − p_t| ≤ D (global: all real j)
  Mat<T> e;      // e_j, the base score (S × B)
  Mat<T> alpha;  // α = the normalizer (softmax …) of e in the window (S × B); a = α except for local-p
  Mat<T> soft;   // hard: the distribution of the draw in the window (hard_draw; S × B)
  Mat<T> u;      // local-p: u = tanh(W_p q) (H × B)
  Mat<T> p;      // local-p: row 0 p_t, row 1 σ(v_pᵀ u) (2 × B)
  Mat<T> dw;     // ∂L/∂a, then (local-p) ∂L/∂α (S × B)
  Mat<T> de;     // ∂L/∂e (S × B)
  Mat<T> dp;     // local-p: ∂L/∂p_t (1 × B)
  Mat<T> du;     // local-p: ∂L/∂(W_p q) (H × B)
  std::unique_ptr<AttentionState> score;  // the score's own (Score::make_step_state)
};

template <typename T>
class ScoredAttention final : public Attention<T> {
 public:
  ScoredAttention(ParameterRegistry<T>& params, const ModelConfig& config,
                  const std::string& prefix, const std::string& score, Locality locality);
  std::unique_ptr<AttentionState> make_batch_state() const override;
  std::unique_ptr<AttentionState> make_step_state() const override;
  void prepare(const Memory<T>& m, AttentionState& batch) const override;
  void forward(const Mat<T>& q, std::size_t t, const Memory<T>& m, AttentionState& batch,
               AttentionState& step, Mat<T>& context, Mat<T>& weights) const override;
  void backward(const Mat<T>& dcontext, const Mat<T>& q, std::size_t t, const Memory<T>& m,
                AttentionState& batch, AttentionState& step, const Mat<T>& weights,
                Mat<T>& dq, Mat<T>& dmemory) const override;
  void forward_weights(const Mat<T>& q, std::size_t t, const Memory<T>& m, AttentionState& batch,
                       AttentionState& step, Mat<T>& weights) const override;
  void backward_weights(const Mat<T>& dweights, const Mat<T>& q, std::size_t t, const Memory<T>& m,
                        AttentionState& batch, AttentionState& step, Mat<T>& dq,
                        Mat<T>& dmemory) const override;
  void prepare_backward(const Memory<T>& m, AttentionState& batch,
                        Mat<T>& dmemory) const override;

 private:
  // From st.dw = ∂L/∂weights: dq (overwritten) and the score's dmemory.
  void weights_backward(const Mat<T>& q, std::size_t t, const Memory<T>& m, AttentionState& batch,
                        ScoredStep<T>& st, Mat<T>& dq, Mat<T>& dmemory) const;
  // st.de from st.dw = ∂L/∂α through the normalizer (hard: its estimator, attention_fn.hpp).
  void normalizer_backward(const Memory<T>& m, std::size_t t, ScoredStep<T>& st) const;

  ParameterRegistry<T>& params_;
  std::unique_ptr<Score<T>> score_;
  Locality locality_;
  double window_;
  AttentionFn fn_;                 // the normalizer (--attention-fn)
  std::size_t w_p_ = 0, v_p_ = 0;  // local-p: p_t = (S_b − 1)·σ(v_pᵀ tanh(W_p q))
};

// The states of multihead attention ([q'; k; v] = W_in [q; h; h] + b_in, per head i
// a_i = softmax(q'_iᵀ k_i / √(H/heads)), o_i = Σ_j a_ij v_ij).
template <typename T>
struct MultiheadBatch : AttentionState {
  Mat<T> P;   // W_in H + b_in (3H × B·S): rows H … 2H−1 the keys k, 2H … 3H−1 the values v
  Mat<T> dP;  // ∂L/∂P, accumulated over the steps
};
template <typename T>
struct MultiheadStep : AttentionState {
  Mat<T> qp;   // q' = W_in q + b_in (3H × B; the first H rows are used)
  Mat<T> A;    // a_i (S × B·heads), column b·heads + i
  Mat<T> soft; // hard: each head's distribution of the draw (S × B·heads; hard_draw)
  Mat<T> o;    // [o_1; …; o_heads] (H × B)
  Mat<T> d_o;  // ∂L/∂o (H × B)
  Mat<T> dqp;  // ∂L/∂q' (3H × B)
  Mat<T> da;   // ∂L/∂a_i of one head (S × 1)
  Mat<T> de;   // ∂L/∂(scores) of one head (S × 1; sparsemax / entmax15)
};

template <typename T>
class MultiheadAttention final : public Attention<T> {
 public:
  MultiheadAttention(ParameterRegistry<T>& params, const ModelConfig& config,
                     const std::string& prefix);
  std::unique_ptr<AttentionState> make_batch_state() const override;
  std::unique_ptr<AttentionState> make_step_state() const override;
  void prepare(const Memory<T>& m, AttentionState& batch) const override;
  void forward(const Mat<T>& q, std::size_t t, const Memory<T>& m, AttentionState& batch,
               AttentionState& step, Mat<T>& context, Mat<T>& weights) const override;
  void backward(const Mat<T>& dcontext, const Mat<T>& q, std::size_t t, const Memory<T>& m,
                AttentionState& batch, AttentionState& step, const Mat<T>& weights,
                Mat<T>& dq, Mat<T>& dmemory) const override;
  void prepare_backward(const Memory<T>& m, AttentionState& batch,
                        Mat<T>& dmemory) const override;

 private:
  ParameterRegistry<T>& params_;
  std::size_t heads_;
  AttentionFn fn_;  // the normalizer of each head (--attention-fn)
  std::size_t in_w_, in_b_, out_w_, out_b_;
};

}  // namespace attend
