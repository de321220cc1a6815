// Built-in attention strategies (internal). A score maps (query, memory) to e (S × B); the
// scored strategies turn it into weights: globally, in a window at p_t = min(t, S_b − 1)
// (local-m), or in a window at a predicted p_t with a Gaussian prior (local-p).
#pragma once
#include "attend/nn/attention.hpp"

namespace attend {

template <typename T>
class Score {
 public:
  virtual ~Score() = default;
  virtual void prepare(const Memory<T>&, AttentionCache<T>&) const {}
  // e: S × B (rows past an example's length are ignored by the caller).
  virtual void forward(const Mat<T>& q, const Memory<T>& m, AttentionCache<T>& batch,
                       AttentionCache<T>& step, Mat<T>& e) const = 0;
  // de → dq (accumulated), dmemory and batch-level key gradients (accumulated).
  virtual void backward(const Mat<T>& de, const Mat<T>& q, const Memory<T>& m,
                        AttentionCache<T>& batch, AttentionCache<T>& step, Mat<T>& dq,
                        Mat<T>& dmemory) const = 0;
  virtual void prepare_backward(const Memory<T>&, AttentionCache<T>&, Mat<T>&) const {}
};

// Score slots in the caches start at kScoreSlot, so strategies keep the lower ones.
constexpr std::size_t kScoreSlot = 8;

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

template <typename T>
class ScoredAttention final : public Attention<T> {
 public:
  ScoredAttention(ParameterRegistry<T>& params, const ModelConfig& config,
                  const std::string& prefix, const std::string& score, Locality locality);
  void prepare(const Memory<T>& m, AttentionCache<T>& batch) const override;
  void forward(const Mat<T>& q, std::size_t t, const Memory<T>& m, AttentionCache<T>& batch,
               AttentionCache<T>& step, Mat<T>& context, Mat<T>& weights) const override;
  void backward(const Mat<T>& dcontext, const Mat<T>& q, std::size_t t, const Memory<T>& m,
                AttentionCache<T>& batch, AttentionCache<T>& step, const Mat<T>& weights,
                Mat<T>& dq, Mat<T>& dmemory) const override;
  void prepare_backward(const Memory<T>& m, AttentionCache<T>& batch,
                        Mat<T>& dmemory) const override;

 private:
  ParameterRegistry<T>& params_;
  std::unique_ptr<Score<T>> score_;
  Locality locality_;
  double window_;
  std::size_t w_p_ = 0, v_p_ = 0;  // local-p: p_t = (S_b − 1)·σ(v_pᵀ tanh(W_p q))
};

template <typename T>
class MultiheadAttention final : public Attention<T> {
 public:
  MultiheadAttention(ParameterRegistry<T>& params, const ModelConfig& config,
                     const std::string& prefix);
  void prepare(const Memory<T>& m, AttentionCache<T>& batch) const override;
  void forward(const Mat<T>& q, std::size_t t, const Memory<T>& m, AttentionCache<T>& batch,
               AttentionCache<T>& step, Mat<T>& context, Mat<T>& weights) const override;
  void backward(const Mat<T>& dcontext, const Mat<T>& q, std::size_t t, const Memory<T>& m,
                AttentionCache<T>& batch, AttentionCache<T>& step, const Mat<T>& weights,
                Mat<T>& dq, Mat<T>& dmemory) const override;
  void prepare_backward(const Memory<T>& m, AttentionCache<T>& batch,
                        Mat<T>& dmemory) const override;

 private:
  ParameterRegistry<T>& params_;
  std::size_t heads_;
  std::size_t in_w_, in_b_, out_w_, out_b_;
};

}  // namespace attend
