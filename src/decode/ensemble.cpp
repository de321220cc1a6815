#include "attend/decode/ensemble.hpp"

#include <algorithm>
#include <cmath>

#include "attend/core/error.hpp"
#include "attend/text/vocab.hpp"
#include "core/kernels.hpp"
#include "decode/beam.hpp"

namespace attend {

EnsembleCombine parse_ensemble_combine(const std::string& name) {
  if (name == "mean") return EnsembleCombine::Mean;
  if (name == "logsum") return EnsembleCombine::LogSum;
  throw Error("unknown ensemble combination '" + name + "' (valid: mean, logsum)");
}

namespace {

// One model of the ensemble over a batch of sources, each source's k hypotheses side by side.
template <typename T>
struct Member {
  const Seq2Seq<T>* model;
  Workspace<T> ws;
  Lengths len;  // per source, this model's source length
};

template <typename T>
class EnsembleBatch {
 public:
  EnsembleBatch(const std::vector<const Seq2Seq<T>*>& models, const std::vector<const std::vector<int>*>& first,
                const std::vector<std::vector<const std::vector<int>*>>& per_model, const SearchOptions& opt,
                const EnsembleOptions& ens)
      : opt_(opt), ens_(ens), k_(std::max<std::size_t>(1, opt.beam)), B_(first.size()), out_(first.size()),
        beams_(first.size()) {
    members_.resize(models.size());
    for (std::size_t m = 0; m < models.size(); ++m) {
      Member<T>& mb = members_[m];
      mb.model = models[m];
      const auto& srcs = per_model[m];
      std::size_t S = 1;
      for (const auto* s : srcs) S = std::max(S, s->size());
      arma::umat src(S, B_, arma::fill::zeros);
      mb.len.resize(B_);
      for (std::size_t b = 0; b < B_; ++b) {
        if (srcs[b]->empty()) throw Error("cannot translate an empty source");
        mb.len[b] = srcs[b]->size();
        for (std::size_t j = 0; j < srcs[b]->size(); ++j) src(j, b) = static_cast<arma::uword>((*srcs[b])[j]);
      }
      std::size_t T_max = 1;
      for (std::size_t b = 0; b < B_; ++b) {
        beams_[b].limit = max_output_length(first[b]->size(), opt);
        T_max = std::max(T_max, beams_[b].limit);
      }
      mb.model->start_decoding(src, mb.len, 1, mb.ws);
      // Replicate each source's memory and initial states to its k columns.
      const std::size_t W = B_ * k_;
      const Mat<T> memory = std::move(mb.ws.memory);
      mb.ws.memory.set_size(memory.n_rows, W * S);
      for (std::size_t col = 0; col < W; ++col) block(mb.ws.memory, col * S, S) = *block(memory, (col / k_) * S, S);
      mb.ws.src_len.resize(W);
      for (std::size_t col = 0; col < W; ++col) mb.ws.src_len[col] = mb.len[col / k_];
      std::vector<Mat<T>> h, c;
      auto spread = [&](const std::vector<Mat<T>>& states, std::vector<Mat<T>>& out) {
        out.resize(states.size());
        for (std::size_t l = 0; l < states.size(); ++l) {
          if (states[l].is_empty()) continue;
          out[l].set_size(states[l].n_rows, W);
          for (std::size_t col = 0; col < W; ++col) out[l].col(col) = states[l].col(col / k_);
        }
      };
      spread(mb.ws.h0, h);
      spread(mb.ws.c0, c);
      const Memory<T> mem{&mb.ws.memory, &mb.ws.src_len, S, W};
      mb.model->decoder().begin(mem, h, c, T_max, mb.ws.dec, nullptr);
    }
    for (std::size_t b = 0; b < B_; ++b) {
      beams_[b].alive.resize(1);
      if (beams_[b].limit == 0) finish(b);
    }
    feed_.assign(B_ * k_, Vocab::kBos);
  }

  void run() {
    const std::size_t W = B_ * k_, M = members_.size();
    for (std::size_t t = 0;; ++t) {
      bool any = false;
      for (const auto& b : beams_) any = any || !b.done;
      if (!any) break;
      for (auto& mb : members_) {
        const Decoder<T>& dec = mb.model->decoder();
        dec.step(t, feed_.data(), mb.ws.dec);
        dec.logits(t, 1, mb.ws.dec, mb.ws.logits);
      }
      const std::size_t V = members_[0].ws.logits.n_rows;
      // The combined log-probabilities, V × W.
      scores_.set_size(V, W);
      for (std::size_t col = 0; col < W; ++col) {
        double* out = scores_.colptr(col);
        if (M == 1) {
          const T* z = members_[0].ws.logits.colptr(col);
          const double lse = log_sum_exp(z, V);
          for (std::size_t v = 0; v < V; ++v) out[v] = double(z[v]) - lse;
          continue;
        }
        std::fill(out, out + V, ens_.combine == EnsembleCombine::Mean ? -INFINITY : 0.0);
        for (std::size_t m = 0; m < M; ++m) {
          const T* z = members_[m].ws.logits.colptr(col);
          const double lse = log_sum_exp(z, V);
          if (ens_.combine == EnsembleCombine::LogSum) {
            const double w = ens_.weights.empty() ? 1.0 : ens_.weights[m];
            for (std::size_t v = 0; v < V; ++v) out[v] += w * (double(z[v]) - lse);
          } else {
            for (std::size_t v = 0; v < V; ++v) {  // log(e^a + e^b), stably
              const double a = out[v], x = double(z[v]) - lse;
              const double hi = std::max(a, x), lo = std::min(a, x);
              out[v] = hi + std::log1p(std::exp(lo - hi));
            }
          }
        }
        if (ens_.combine == EnsembleCombine::Mean)
          for (std::size_t v = 0; v < V; ++v) out[v] -= std::log(double(M));
      }
      std::vector<Mat<T>> weights;
      if (opt_.keep_attention)
        for (auto& mb : members_) {
          const auto view = mb.model->decoder().weights(t, mb.ws.dec);
          weights.push_back(*view);
        }
      parents_.resize(W);
      for (std::size_t b = 0; b < B_; ++b) {
        if (beams_[b].done) {
          for (std::size_t i = 0; i < k_; ++i) parents_[b * k_ + i] = b * k_ + i;
          continue;
        }
        advance(b, b * k_, t, weights);
      }
      for (auto& mb : members_) mb.model->decoder().reorder(t, parents_, mb.ws.dec);
    }
  }

  std::vector<std::vector<Hypothesis>> take() { return std::move(out_); }

 private:
  struct Beam {
    std::vector<Hypothesis> alive, finished;
    std::size_t limit = 0;
    bool done = false;
  };
  struct Candidate { double log_prob; std::size_t parent; std::size_t token; };

  void add_attention(Hypothesis& h, const std::vector<Mat<T>>& weights, std::size_t col, std::size_t b) {
    if (!opt_.keep_attention) return;
    const std::size_t M = members_.size();
    if (!weights[0].is_empty())
      h.attention.push_back(attention_column(weights[0], col, members_[0].len[b], members_[0].model->config().reverse_source));
    if (M == 1) return;
    if (h.views.empty()) {
      h.views.resize(M);
      h.view_names.clear();
      for (std::size_t m = 0; m < M; ++m) h.view_names.push_back("model " + std::to_string(m + 1));
    }
    for (std::size_t m = 0; m < M; ++m)
      if (!weights[m].is_empty())
        h.views[m].push_back(attention_column(weights[m], col, members_[m].len[b], members_[m].model->config().reverse_source));
  }

  void advance(std::size_t b, std::size_t base, std::size_t t, const std::vector<Mat<T>>& weights) {
    Beam& beam = beams_[b];
    const std::size_t k = k_, V = scores_.n_rows;
    cand_.clear();
    for (std::size_t i = 0; i < beam.alive.size(); ++i) {
      const double* z = scores_.colptr(base + i);
      // The 2k best tokens of the row (ties: lower index first).
      top_.clear();
      const std::size_t m = std::min(2 * k, V);
      for (std::size_t v = 0; v < V; ++v) {
        if (top_.size() == m && !(z[v] > z[top_.back()])) continue;
        if (top_.size() == m) top_.pop_back();
        std::size_t at = top_.size();
        while (at > 0 && z[v] > z[top_[at - 1]]) --at;
        top_.insert(top_.begin() + at, v);
      }
      for (std::size_t v : top_) cand_.push_back({beam.alive[i].log_prob + z[v], i, v});
    }
    const std::size_t n = std::min(cand_.size(), 2 * k);
    std::partial_sort(cand_.begin(), cand_.begin() + n, cand_.end(), [](const Candidate& a, const Candidate& c) {
      if (a.log_prob != c.log_prob) return a.log_prob > c.log_prob;
      if (a.parent != c.parent) return a.parent < c.parent;
      return a.token < c.token;
    });
    std::vector<Hypothesis> next;
    std::size_t slot = 0;
    for (std::size_t r = 0; r < n && next.size() < k; ++r) {
      const Candidate& c = cand_[r];
      const Hypothesis& parent = beam.alive[c.parent];
      Hypothesis h;
      h.tokens = parent.tokens;
      h.log_prob = c.log_prob;
      h.attention = parent.attention;
      h.view_names = parent.view_names;
      h.views = parent.views;
      add_attention(h, weights, base + c.parent, b);
      if (c.token == Vocab::kEos && opt_.stop_at_eos) {
        if (r < k) {
          h.finished = true;
          h.score = h.log_prob / length_penalty(h.tokens.size() + 1, opt_.length_penalty);
          beam.finished.push_back(std::move(h));
        }
        continue;
      }
      h.tokens.push_back(static_cast<int>(c.token));
      parents_[base + slot] = base + c.parent;
      feed_[base + slot] = static_cast<arma::uword>(c.token);
      ++slot;
      next.push_back(std::move(h));
    }
    for (std::size_t i = slot; i < k; ++i) parents_[base + i] = slot ? parents_[base] : base;
    beam.alive = std::move(next);
    if (beam.alive.empty() || beam.finished.size() >= k || t + 1 >= beam.limit) finish(b);
  }

  void finish(std::size_t b) {
    Beam& beam = beams_[b];
    beam.done = true;
    out_[b] = ranked_nbest(std::move(beam.finished), beam.alive, opt_);
    beam.alive.clear();
  }

  const SearchOptions& opt_;
  const EnsembleOptions& ens_;
  const std::size_t k_, B_;
  std::vector<Member<T>> members_;
  std::vector<std::vector<Hypothesis>> out_;
  std::vector<Beam> beams_;
  std::vector<arma::uword> feed_;
  std::vector<std::size_t> parents_, top_;
  std::vector<Candidate> cand_;
  Mat<double> scores_;
};

}  // namespace

template <typename T>
std::vector<std::vector<Hypothesis>> ensemble_decode(const std::vector<const Seq2Seq<T>*>& models,
                                                     const std::vector<std::vector<std::vector<int>>>& sources,
                                                     const SearchOptions& opt, const EnsembleOptions& ens,
                                                     std::size_t batch_size) {
  opt.validate();
  if (models.empty()) throw Error("an ensemble needs at least one model");
  if (sources.size() != models.size()) throw Error("ensemble: one list of sources per model");
  for (std::size_t m = 1; m < models.size(); ++m) {
    if (models[m]->config().tgt_vocab != models[0]->config().tgt_vocab)
      throw Error("the models of an ensemble must share the target vocabulary: model 1 has " +
                  std::to_string(models[0]->config().tgt_vocab) + " target tokens, model " + std::to_string(m + 1) +
                  " has " + std::to_string(models[m]->config().tgt_vocab));
    if (sources[m].size() != sources[0].size()) throw Error("ensemble: the models' source lists differ in length");
  }
  if (!ens.weights.empty() && ens.weights.size() != models.size())
    throw Error("--ensemble-weights: " + std::to_string(ens.weights.size()) + " weights for " +
                std::to_string(models.size()) + " models");
  std::vector<std::vector<Hypothesis>> out(sources[0].size());
  if (batch_size == 0) batch_size = 1;
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < sources[0].size(); ++i)
    if (!sources[0][i].empty()) todo.push_back(i);
  for (std::size_t at = 0; at < todo.size(); at += batch_size) {
    const std::size_t end = std::min(todo.size(), at + batch_size);
    std::vector<const std::vector<int>*> first;
    std::vector<std::vector<const std::vector<int>*>> per_model(models.size());
    for (std::size_t j = at; j < end; ++j) {
      first.push_back(&sources[0][todo[j]]);
      for (std::size_t m = 0; m < models.size(); ++m) per_model[m].push_back(&sources[m][todo[j]]);
    }
    EnsembleBatch<T> batch(models, first, per_model, opt, ens);
    batch.run();
    auto results = batch.take();
    for (std::size_t j = at; j < end; ++j) out[todo[j]] = std::move(results[j - at]);
  }
  return out;
}

template <typename T>
std::vector<double> ensemble_score(const std::vector<const Seq2Seq<T>*>& models,
                                   const std::vector<std::vector<EncodedPair>>& pairs, const EnsembleOptions& ens) {
  if (models.empty() || pairs.size() != models.size()) throw Error("ensemble: one list of pairs per model");
  if (!ens.weights.empty() && ens.weights.size() != models.size())
    throw Error("--ensemble-weights: " + std::to_string(ens.weights.size()) + " weights for " +
                std::to_string(models.size()) + " models");
  const std::size_t M = models.size(), N = pairs[0].size();
  for (std::size_t m = 1; m < M; ++m)
    if (pairs[m].size() != N) throw Error("ensemble: the models' pair lists differ in length");
  std::vector<double> out(N, 0.0);
  std::vector<Workspace<T>> ws(M);
  std::vector<double> lp(M);
  for (std::size_t i = 0; i < N; ++i) {
    const std::vector<int>& tgt = pairs[0][i].tgt;
    const std::size_t steps = tgt.size() + 1;
    for (std::size_t m = 0; m < M; ++m) {
      const auto& src = pairs[m][i].src;
      if (pairs[m][i].tgt != tgt) throw Error("ensemble: the models encode target " + std::to_string(i + 1) + " differently");
      arma::umat s(src.size(), 1);
      for (std::size_t j = 0; j < src.size(); ++j) s(j, 0) = static_cast<arma::uword>(src[j]);
      models[m]->start_decoding(s, Lengths{src.size()}, steps, ws[m]);
    }
    double total = 0;
    for (std::size_t t = 0; t < steps; ++t) {
      const arma::uword feed = t == 0 ? arma::uword(Vocab::kBos) : arma::uword(tgt[t - 1]);
      const std::size_t y = t < tgt.size() ? std::size_t(tgt[t]) : std::size_t(Vocab::kEos);
      for (std::size_t m = 0; m < M; ++m) {
        const Decoder<T>& dec = models[m]->decoder();
        dec.step(t, &feed, ws[m].dec);
        dec.logits(t, 1, ws[m].dec, ws[m].logits);
        const T* z = ws[m].logits.colptr(0);
        lp[m] = double(z[y]) - log_sum_exp(z, ws[m].logits.n_rows);
      }
      double step = 0;
      if (M == 1) {
        step = lp[0];
      } else if (ens.combine == EnsembleCombine::LogSum) {
        for (std::size_t m = 0; m < M; ++m) step += (ens.weights.empty() ? 1.0 : ens.weights[m]) * lp[m];
      } else {
        const double hi = *std::max_element(lp.begin(), lp.end());
        double sum = 0;
        for (double x : lp) sum += std::exp(x - hi);
        step = hi + std::log(sum / double(M));
      }
      total += step;
    }
    out[i] = total;
  }
  return out;
}

template std::vector<double> ensemble_score(const std::vector<const Seq2Seq<float>*>&,
                                            const std::vector<std::vector<EncodedPair>>&, const EnsembleOptions&);
template std::vector<double> ensemble_score(const std::vector<const Seq2Seq<double>*>&,
                                            const std::vector<std::vector<EncodedPair>>&, const EnsembleOptions&);

template std::vector<std::vector<Hypothesis>> ensemble_decode(const std::vector<const Seq2Seq<float>*>&,
                                                              const std::vector<std::vector<std::vector<int>>>&,
                                                              const SearchOptions&, const EnsembleOptions&, std::size_t);
template std::vector<std::vector<Hypothesis>> ensemble_decode(const std::vector<const Seq2Seq<double>*>&,
                                                              const std::vector<std::vector<std::vector<int>>>&,
                                                              const SearchOptions&, const EnsembleOptions&, std::size_t);

}  // namespace attend
