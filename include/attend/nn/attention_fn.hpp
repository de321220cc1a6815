// The normalizer of attention weights (--attention-fn, ModelConfig::attention_fn): what turns a
// strategy's scores e over a window of positions into weights that sum to one. docs/attention-fn.md
// has the equations.
//   softmax:   a_j = exp(e_j) / Σ_k exp(e_k)                       (every weight > 0; the default)
//   sparsemax: a = argmin_{p ∈ Δ} ‖p − e‖² = [e − τ]₊              (Martins & Astudillo, 2016)
//   entmax15:  a = [e/2 − τ]₊²  with τ such that Σ a = 1            (1.5-entmax; Peters et al., 2019)
// sparsemax and entmax15 give exact zeros; positions outside the window (padding included) are 0
// for every normalizer. Both are computed exactly by sorting, in double precision whatever T is.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "attend/core/params.hpp"

namespace attend {

enum class AttentionFn { Softmax, Sparsemax, Entmax15 };

std::string to_string(AttentionFn fn);  // "softmax", "sparsemax", "entmax15"
// Throws attend::Error naming the bad name and the valid ones.
AttentionFn parse_attention_fn(const std::string& name);
bool attention_fn_known(const std::string& name);
std::string attention_fn_help();  // "softmax | sparsemax | entmax15"

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
