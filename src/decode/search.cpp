#include "attend/decode/search.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attend/core/error.hpp"
#include "attend/text/vocab.hpp"
#include "core/kernels.hpp"

namespace attend {

namespace {

// log Σ exp(z) of one logits column, so log p(v) = z_v − log Σ exp(z); both searches use it, so
// beam 1 equals greedy exactly. The exponentials are summed in T (vectorised), the result in double.
template <typename T>
double log_sum_exp(const T* z, std::size_t V) {
  T mx = z[0];
#pragma omp simd reduction(max : mx)
  for (std::size_t v = 1; v < V; ++v) mx = z[v] > mx ? z[v] : mx;
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::size_t v = 0; v < V; ++v) sum += exp_fast(z[v] - mx);
  return double(mx) + std::log(double(sum));
}

// The m largest entries of z (ties: lower index first), in that order.
template <typename T>
void top_tokens(const T* z, std::size_t V, std::size_t m, std::vector<std::size_t>& top) {
  m = std::min(m, V);
  top.clear();
  for (std::size_t v = 0; v < V; ++v) {
    if (top.size() == m && !(z[v] > z[top.back()])) continue;
    if (top.size() == m) top.pop_back();
    std::size_t at = top.size();
    while (at > 0 && z[v] > z[top[at - 1]]) --at;
    top.insert(top.begin() + at, v);
  }
}

// Greedy's choice without the whole log-softmax: the first largest logit and its log-probability,
// exactly the number beam search computes for it.
template <typename T>
std::size_t best_token(const T* z, std::size_t V, double& log_prob) {
  const std::size_t y = std::max_element(z, z + V) - z;
  log_prob = double(z[y]) - log_sum_exp(z, V);
  return y;
}

double length_penalty(std::size_t length, double alpha) {
  return alpha == 0 ? 1.0 : std::pow((5.0 + double(length)) / 6.0, alpha);
}

// Weights over the source in its original order (the encoder saw it reversed with reverse_source).
template <typename T>
std::vector<float> attention_column(const Mat<T>& w, std::size_t col, std::size_t len,
                                    bool reversed) {
  std::vector<float> a(len);
  for (std::size_t j = 0; j < len; ++j) a[reversed ? len - 1 - j : j] = static_cast<float>(w(j, col));
  return a;
}

}  // namespace

std::size_t max_output_length(std::size_t src_len, const SearchOptions& opt) {
  return static_cast<std::size_t>(std::ceil(opt.max_len_ratio * double(src_len))) + opt.max_len_extra;
}

template <typename T>
std::vector<Hypothesis> greedy_search(const Seq2Seq<T>& model, const arma::umat& src,
                                      const Lengths& len, const SearchOptions& opt,
                                      Workspace<T>& ws) {
  const std::size_t B = src.n_cols;
  std::vector<std::size_t> limit(B);
  std::size_t T_max = 1;
  for (std::size_t b = 0; b < B; ++b) T_max = std::max(T_max, limit[b] = max_output_length(len[b], opt));
  model.start_decoding(src, len, T_max, ws);
  const Decoder<T>& dec = model.decoder();
  std::vector<Hypothesis> out(B);
  std::vector<arma::uword> feed(B, Vocab::kBos);
  std::size_t done = 0;
  for (std::size_t t = 0; t < T_max && done < B; ++t) {
    dec.step(t, feed.data(), ws.dec);
    dec.logits(t, 1, ws.dec, ws.logits);
    const auto view = dec.weights(t, ws.dec);  // read-only, no copy
    const Mat<T>& w = *view;
    for (std::size_t b = 0; b < B; ++b) {
      Hypothesis& h = out[b];
      if (h.finished || t >= limit[b]) continue;
      double log_prob;
      const std::size_t y = best_token(ws.logits.colptr(b), ws.logits.n_rows, log_prob);
      h.log_prob += log_prob;
      if (opt.keep_attention && !w.is_empty()) h.attention.push_back(attention_column(w, b, len[b], model.config().reverse_source));
      if (y == Vocab::kEos && opt.stop_at_eos) {
        h.finished = true;
        ++done;
      } else {
        h.tokens.push_back(static_cast<int>(y));
        if (t + 1 == limit[b]) ++done;
      }
      feed[b] = y;
    }
  }
  for (auto& h : out)
    h.score = h.log_prob / length_penalty(h.tokens.size() + (h.finished ? 1 : 0), opt.length_penalty);
  return out;
}

template <typename T>
std::vector<Hypothesis> beam_search(const Seq2Seq<T>& model, const std::vector<int>& src,
                                    const SearchOptions& opt, Workspace<T>& ws) {
  if (src.empty()) throw Error("cannot translate an empty source");
  const std::size_t k = std::max<std::size_t>(1, opt.beam), S = src.size();
  const std::size_t T_max = max_output_length(S, opt);
  arma::umat s(S, 1);
  for (std::size_t j = 0; j < S; ++j) s(j, 0) = static_cast<arma::uword>(src[j]);
  model.start_decoding_replicated(s, S, k, T_max, ws);
  const Decoder<T>& dec = model.decoder();

  std::vector<Hypothesis> alive(1), finished;
  std::vector<arma::uword> feed(k, Vocab::kBos);
  std::vector<std::size_t> top;
  struct Candidate { double log_prob; std::size_t parent; std::size_t token; };
  std::vector<Candidate> cand;
  for (std::size_t t = 0; t < T_max && !alive.empty() && finished.size() < k; ++t) {
    dec.step(t, feed.data(), ws.dec);
    dec.logits(t, 1, ws.dec, ws.logits);
    const std::size_t V = ws.logits.n_rows;
    cand.clear();
    for (std::size_t i = 0; i < alive.size(); ++i) {
      // Only a row's 2k best tokens can be among the 2k best candidates overall.
      const T* z = ws.logits.colptr(i);
      top_tokens(z, V, 2 * k, top);
      const double lse = log_sum_exp(z, V);
      for (std::size_t v : top) cand.push_back({alive[i].log_prob + (double(z[v]) - lse), i, v});
    }
    // The 2k best; ties go to the earlier hypothesis and the lower token id.
    const std::size_t n = std::min(cand.size(), 2 * k);
    std::partial_sort(cand.begin(), cand.begin() + n, cand.end(), [](const Candidate& a, const Candidate& b) {
      if (a.log_prob != b.log_prob) return a.log_prob > b.log_prob;
      if (a.parent != b.parent) return a.parent < b.parent;
      return a.token < b.token;
    });
    const auto view = dec.weights(t, ws.dec);  // read-only, no copy
    const Mat<T>& w = *view;
    std::vector<Hypothesis> next;
    std::vector<std::size_t> parents;
    for (std::size_t r = 0; r < n && next.size() < k; ++r) {
      const Candidate& c = cand[r];
      Hypothesis h;
      h.tokens = alive[c.parent].tokens;
      h.log_prob = c.log_prob;
      if (opt.keep_attention) {
        h.attention = alive[c.parent].attention;
        if (!w.is_empty()) h.attention.push_back(attention_column(w, c.parent, S, model.config().reverse_source));
      }
      if (c.token == Vocab::kEos && opt.stop_at_eos) {
        // Only an end within the k best finishes a hypothesis; a finished one is never extended.
        if (r < k) {
          h.finished = true;
          h.score = h.log_prob / length_penalty(h.tokens.size() + 1, opt.length_penalty);
          finished.push_back(std::move(h));
        }
        continue;
      }
      h.tokens.push_back(static_cast<int>(c.token));
      parents.push_back(c.parent);
      next.push_back(std::move(h));
    }
    for (std::size_t i = 0; i < next.size(); ++i) feed[i] = static_cast<arma::uword>(next[i].tokens.back());
    parents.resize(k, parents.empty() ? 0 : parents[0]);
    dec.reorder(t, parents, ws.dec);
    alive = std::move(next);
  }
  if (finished.size() < opt.nbest || finished.empty())
    for (auto& h : alive) {
      h.score = h.log_prob / length_penalty(h.tokens.size(), opt.length_penalty);
      finished.push_back(std::move(h));
    }
  std::stable_sort(finished.begin(), finished.end(),
                   [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
  if (finished.size() > std::max<std::size_t>(1, opt.nbest)) finished.resize(std::max<std::size_t>(1, opt.nbest));
  return finished;
}

template std::vector<Hypothesis> greedy_search(const Seq2Seq<float>&, const arma::umat&,
                                               const Lengths&, const SearchOptions&,
                                               Workspace<float>&);
template std::vector<Hypothesis> greedy_search(const Seq2Seq<double>&, const arma::umat&,
                                               const Lengths&, const SearchOptions&,
                                               Workspace<double>&);
template std::vector<Hypothesis> beam_search(const Seq2Seq<float>&, const std::vector<int>&,
                                             const SearchOptions&, Workspace<float>&);
template std::vector<Hypothesis> beam_search(const Seq2Seq<double>&, const std::vector<int>&,
                                             const SearchOptions&, Workspace<double>&);

}  // namespace attend
