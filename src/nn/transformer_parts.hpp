// Pieces shared by the Transformer encoder and decoder layers (internal): nn.LayerNorm, the
// feed-forward activations and one head of scaled dot-product attention over blocks read in place.
#pragma once
#include <cstddef>

#include "attend/core/params.hpp"
#include "attend/nn/transformer.hpp"

namespace attend {

// y = (x − mean) / √(var + ε) ⊙ g + b per column, biased variance, ε = 1e-5 (nn.LayerNorm).
template <typename T>
void layer_norm(const Mat<T>& x, const Mat<T>& g, const Mat<T>& b, Mat<T>& hat, arma::Row<T>& rstd,
                Mat<T>& y);
// dx = rstd ⊙ (dĥ − mean(dĥ) − ĥ ⊙ mean(dĥ ⊙ ĥ)) (+ *plus, if given) with dĥ = dy ⊙ g; adds
// dg, db. dx may be dy.
template <typename T>
void layer_norm_backward(const Mat<T>& dy, const Mat<T>& hat, const arma::Row<T>& rstd, const Mat<T>& g,
                         Mat<T>& dg, Mat<T>& db, Mat<T>& dx, const Mat<T>* plus = nullptr);

// Backward of out = W·x + b (W: m × k at w, leading dimension ldw; d: m × N, the gradient on out):
// gW (leading dimension ldgw) += d·xᵀ, gb (m values) += Σ_j d(:, j), dx = Wᵀ·d (k × N, written).
// All-zero columns of d contribute nothing and give zero columns of dx: when there are enough of
// them, the products run over the other columns only, gathered in s. With cols (not empty), the
// forward computed only those columns: the products run over them and dx is 0 elsewhere.
template <typename T>
void affine_backward(const T* w, std::size_t ldw, const Mat<T>& d, const Mat<T>& x, T* gw, std::size_t ldgw,
                     T* gb, Mat<T>& dx, ColumnGather<T>& s, const Columns* cols = nullptr);

// relu, or the exact gelu 0.5·x·(1 + erf(x/√2)), in place; and d ← d ⊙ act'(pre).
template <typename T>
void activate(Mat<T>& x, bool gelu);
template <typename T>
void activate_backward(const Mat<T>& pre, Mat<T>& d, bool gelu);

// One head of one example, in place in packed projections: q, k, v, o point at the head's rows
// of the first query / key column, with leading dimensions ldq, ldk, ldv, ldo.
//   a = softmax(scale · Kᵀ Q) (nk × nq), column i over its first count(i) keys, 0 below:
//   count(i) = min(first + i + 1, nk) when causal (query i is step first + i), else nk;
//   o = V (a ⊙ mask) (dk × nq); mask: attention dropout (may be empty).
template <typename T>
struct HeadBlock {
  const T *q, *k, *v;
  std::size_t ldq, ldk, ldv;
  std::size_t nq, nk, dk;
  T scale;
  bool causal = false;
  std::size_t first = 0;
};
template <typename T>
void head_forward(const HeadBlock<T>& h, Mat<T>& a, const Mat<T>& mask, Mat<T>& scratch, T* o,
                  std::size_t ldo);
// From do (dk × nq at `dout`, leading dimension lddo): dq, dk, dv written (not added) in place.
template <typename T>
void head_backward(const HeadBlock<T>& h, const Mat<T>& a, const Mat<T>& mask, const T* dout,
                   std::size_t lddo, Mat<T>& scratch, Mat<T>& da, T* dq, T* dkey, T* dv);

}  // namespace attend
