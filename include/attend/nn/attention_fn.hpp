// The normalizer of attention weights (--attention-fn, ModelConfig::attention_fn): what turns a
// strategy's scores e over a window of positions into weights that sum to one. docs/attention-fn.md
// has the equations.
//   softmax:   a_j = exp(e_j) / Σ_k exp(e_k)                       (every weight > 0; the default)
//   sparsemax: a = argmin_{p ∈ Δ} ‖p − e‖² = [e − τ]₊              (Martins & Astudillo, 2016)
//   entmax15:  a = [e/2 − τ]₊²  with τ such that Σ a = 1            (1.5-entmax; Peters et al., 2019)
//   hard:      a = one-hot(j): while training j ~ softmax(e) (REINFORCE) or j = argmax(e + g) with
//              Gumbel noise g (straight-through); otherwise j = argmax e, ties to the lowest index
//              (Xu et al., 2015, "Show, Attend and Tell")
// sparsemax and entmax15 give exact zeros; positions outside the window (padding included) are 0
// for every normalizer. Both are computed exactly by sorting, in double precision whatever T is.
#pragma once
#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "attend/core/params.hpp"

namespace attend {

enum class AttentionFn { Softmax, Sparsemax, Entmax15, Hard };

std::string to_string(AttentionFn fn);  // "softmax", "sparsemax", "entmax15", "hard"
// Throws attend::Error naming the bad name and the valid ones.
AttentionFn parse_attention_fn(const std::string& name);
bool attention_fn_known(const std::string& name);
std::string attention_fn_help();  // "softmax | sparsemax | entmax15 | hard"

// ---- hard attention (docs/attention-fn.md, "hard") -------------------------------------------
// How the score's gradient is estimated while training (--hard-estimator):
//   reinforce: j ~ p = softmax(e); ∂L/∂e = c_bt (onehot(j) − p) + (λ/n) p ⊙ (log p + H(p)),
//              c_bt = (R_bt − β m_bt)/n: R_bt the negative log-likelihood the reward sums (the
//              example's whole target, or its tokens t, t+1, … for to-go; HardReward), m_bt the
//              number of those tokens, β a moving average of the NLL per token (the baseline) and
//              n the tokens the loss is averaged over (the entropy term is the gradient of
//              −(λ/n) H(p): an entropy bonus);
//   gumbel:    j = argmax(e + g), g_j = −log(−log u_j), u_j ~ U(0, 1); forward one-hot(j),
//              backward that of y = softmax((e + g)/τ): ∂L/∂e = (1/τ) y ⊙ (∂L/∂a − Σ y ⊙ ∂L/∂a).
enum class HardEstimator { Reinforce, Gumbel };
std::string to_string(HardEstimator e);  // "reinforce", "gumbel"
HardEstimator parse_hard_estimator(const std::string& name);  // throws attend::Error
std::string hard_estimator_help();  // "reinforce | gumbel"

// What REINFORCE's reward for the draw at step t sums (--reinforce-reward): the negative
// log-likelihood of the example's whole target (sequence, as Xu et al.), or of its tokens t, t+1, …
// (to-go: the draw at step t cannot change the tokens before t, so leaving them out keeps the
// estimate unbiased and lowers its variance).
enum class HardReward { Sequence, ToGo };
std::string to_string(HardReward r);  // "sequence", "to-go"
HardReward parse_hard_reward(const std::string& name);  // throws attend::Error
std::string hard_reward_help();  // "sequence | to-go"

// The training options of hard attention (TrainOptions::hard; ignored for other normalizers).
struct HardAttentionOptions {
  HardEstimator estimator = HardEstimator::Reinforce;
  double gumbel_tau = 1.0;        // τ of the straight-through Gumbel-softmax (> 0)
  HardReward reward = HardReward::ToGo;  // what REINFORCE's reward sums
  double baseline_decay = 0.9;    // REINFORCE baseline β ← d·β + (1 − d)·(the batch's NLL per token)
  double entropy_weight = 0.0;    // λ of the entropy bonus (REINFORCE)
  void validate() const;          // throws attend::Error naming the option
};

// What one training pass of a model with hard attention gives its strategies, through
// Memory::hard (nullptr: evaluation, the deterministic argmax). The model fills it: `rng` and
// `options` before the forward, `coef` (c_bt above; REINFORCE only) after it, before the backward.
struct HardAttentionPass {
  HardAttentionOptions options;
  std::mt19937_64* rng = nullptr;  // the draws (the training stream that dropout uses)
  std::vector<double> coef;        // c_bt of step t, example b at t·batch + b (0 past the target)
  std::size_t batch = 0;           // examples in the pass
  double entropy_coef = 0;         // λ / n
  std::vector<arma::uword> steps;  // per example: the target length; later steps get no score gradient
  // For tests that enumerate every choice: when not empty, the draws take these positions in turn
  // (window-relative: 0 = the window's first position) instead of sampling.
  // A forced position past the window's end takes its last position and sets forced_invalid.
  std::vector<std::size_t> forced;
  std::size_t next_forced = 0;
  bool forced_invalid = false;
  // Written by the forward: Σ over the example's real steps (t < steps[b]; every step when
  // `steps` is empty) and heads of log p(j drawn) under the sampling distribution (REINFORCE).
  std::vector<double> log_prob;

  double coefficient(std::size_t b, std::size_t t) const {
    const std::size_t k = t * batch + b;
    return k < coef.size() ? coef[k] : 0.0;
  }
};

// One draw over n scores z: writes the one-hot p and `soft`, the distribution whose backward the
// estimator uses (reinforce: softmax(z); gumbel: softmax((z + g)/τ)); returns j. Without `pass`
// (evaluation), j = argmax z (lowest index on ties) and soft = p. p may alias z. The stream gives
// each uniform u = (⌊r / 2¹¹⌋ + ½)·2⁻⁵³ from one draw r: reinforce one per draw (inverse CDF),
// gumbel one per position.
template <typename T>
std::size_t hard_draw(const T* z, std::size_t n, HardAttentionPass* pass, T* p, T* soft);
// ∂L/∂z of a draw from dp = ∂L/∂p: reinforce (with `coef` = c_bt, `entropy_coef` = λ/n; dp
// unused), gumbel (dp through softmax((z + g)/τ)). dz may not alias the others.
template <typename T>
void hard_backward(const HardAttentionOptions& options, const T* p, const T* soft, const T* dp,
                   std::size_t n, double coef, double entropy_coef, T* dz);

// One vector z of n scores → p (n weights summing to 1). p may alias z.
template <typename T>
void sparsemax(const T* z, std::size_t n, T* p);
template <typename T>
void entmax15(const T* z, std::size_t n, T* p);
template <typename T>
void normalize(AttentionFn fn, const T* z, std::size_t n, T* p);

// Their backward, from p (the forward's output) and dp = ∂L/∂p to dz = ∂L/∂z (dz may alias dp):
//   softmax:   dz = p ⊙ (dp − Σ p ⊙ dp)
//   sparsemax: dz_j = [p_j > 0] (dp_j − mean of dp over the support)
//   entmax15:  dz = s ⊙ dp − s (s·dp) / Σ s,  s_j = √p_j (zero off the support)
template <typename T>
void normalize_backward(AttentionFn fn, const T* p, const T* dp, std::size_t n, T* dz);

// Over positions lo[b] … hi[b] of column b of e (zero elsewhere), and the backward over whole
// columns (a is zero outside each window, so nothing flows there). Softmax is window_softmax /
// softmax_backward, bit for bit.
template <typename T>
void window_normalize(AttentionFn fn, const Mat<T>& e, const std::vector<arma::uword>& lo,
                      const std::vector<arma::uword>& hi, Mat<T>& a);
template <typename T>
void window_normalize_backward(AttentionFn fn, const Mat<T>& a, const Mat<T>& da, Mat<T>& de);

}  // namespace attend
