#include "attend/decode/search.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attend/core/error.hpp"
#include "attend/text/vocab.hpp"
#include "core/kernels.hpp"
#include "decode/beam.hpp"

namespace attend {

namespace {

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

// Appends step t's row of every view (column col of each) to h's views; the first row names them.
template <typename T>
void append_views(Hypothesis& h, const std::vector<AttentionView<T>>& views, std::size_t col,
                  std::size_t len, bool reversed) {
  if (views.empty()) return;
  if (h.views.empty()) {
    h.views.resize(views.size());
    h.view_names.clear();
    for (const auto& v : views) h.view_names.push_back(v.name);
  }
  for (std::size_t v = 0; v < views.size(); ++v)
    h.views[v].push_back(attention_column(views[v].weights, col, len, reversed));
}

// Example b's encoder self-attention views (see Hypothesis::encoder_views) into h, positions in
// their original order (the encoder saw them reversed with reverse_source).
template <typename T>
void set_encoder_views(Hypothesis& h, const Seq2Seq<T>& model, const Workspace<T>& ws, std::size_t b) {
  const bool reversed = model.config().reverse_source;
  h.encoder_view_names.clear();
  h.encoder_views.clear();
  for (const auto& v : model.encoder().attention_views(ws.enc, b)) {
    const std::size_t n = v.weights.n_rows;
    auto at = [&](std::size_t i) { return reversed ? n - 1 - i : i; };
    std::vector<std::vector<float>> rows(n, std::vector<float>(n));
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) rows[at(i)][at(j)] = static_cast<float>(v.weights(i, j));
    h.encoder_view_names.push_back(v.name);
    h.encoder_views.push_back(std::move(rows));
  }
}

}  // namespace

const std::vector<std::vector<float>>& attention_rows(const Hypothesis& h, const std::string& name) {
  if (name == kDefaultAttentionViewName) return h.attention;
  for (std::size_t v = 0; v < h.view_names.size() && v < h.views.size(); ++v)
    if (h.view_names[v] == name) return h.views[v];
  throw Error("unknown attention view '" + name + "' (valid: " + attention_view_list(h.view_names) + ")");
}

std::string attention_view_list(const std::vector<std::string>& view_names) {
  std::string s = kDefaultAttentionViewName;
  for (const auto& n : view_names) s += ", " + n;
  return s;
}

template <typename T>
std::vector<std::string> attention_view_names(const Seq2Seq<T>& model) {
  arma::umat src(1, 1);
  src(0, 0) = static_cast<arma::uword>(Vocab::kUnk);
  Workspace<T> ws;
  model.start_decoding(src, Lengths{1}, 1, ws);
  const Decoder<T>& dec = model.decoder();
  const arma::uword feed = Vocab::kBos;
  dec.step(0, &feed, ws.dec);
  std::vector<std::string> names;
  for (const auto& v : dec.attention_views(0, ws.dec)) names.push_back(v.name);
  return names;
}

namespace {

void check_beam(const SearchOptions& opt) {
  if (opt.beam == 0) throw Error("--beam must be at least 1");
}

}  // namespace

void SearchOptions::validate() const {
  check_beam(*this);
  if (nbest == 0) throw Error("--nbest must be at least 1");
  if (nbest > beam)
    throw Error("--nbest " + std::to_string(nbest) + " needs at least as wide a beam; use --beam " +
                std::to_string(nbest));
  if (!(max_len_ratio > 0)) throw Error("--max-len-ratio must be positive");
}

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
  std::vector<Hypothesis> out(B);
  if (opt.keep_attention_views)
    for (std::size_t b = 0; b < B; ++b) set_encoder_views(out[b], model, ws, b);
  const Decoder<T>& dec = model.decoder();
  std::vector<arma::uword> feed(B, Vocab::kBos);
  std::size_t done = 0;
  for (std::size_t t = 0; t < T_max && done < B; ++t) {
    dec.step(t, feed.data(), ws.dec);
    dec.logits(t, 1, ws.dec, ws.logits);
    const auto view = dec.weights(t, ws.dec);  // read-only, no copy
    const Mat<T>& w = *view;
    std::vector<AttentionView<T>> views;
    if (opt.keep_attention_views) views = dec.attention_views(t, ws.dec);
    for (std::size_t b = 0; b < B; ++b) {
      Hypothesis& h = out[b];
      if (h.finished || t >= limit[b]) continue;
      double log_prob;
      const std::size_t y = best_token(ws.logits.colptr(b), ws.logits.n_rows, log_prob);
      h.log_prob += log_prob;
      if (opt.keep_attention && !w.is_empty()) h.attention.push_back(attention_column(w, b, len[b], model.config().reverse_source));
      append_views(h, views, b, len[b], model.config().reverse_source);
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

namespace {

// A batch of beam searches: source p of the batch owns decoder columns p·k … p·k+k−1.
template <typename T>
class BeamBatch {
 public:
  BeamBatch(const Seq2Seq<T>& model, const arma::umat& src, const Lengths& len,
            const SearchOptions& opt, Workspace<T>& ws)
      : model_(model), dec_(model.decoder()), opt_(opt), ws_(ws),
        k_(std::max<std::size_t>(1, opt.beam)), len_(len), S_(src.n_rows), out_(src.n_cols),
        beams_(src.n_cols) {
    const std::size_t B = src.n_cols;
    for (std::size_t b = 0; b < B; ++b) {
      if (len[b] == 0) throw Error("cannot translate an empty source");
      beams_[b].limit = max_output_length(len[b], opt);
      beams_[b].alive.resize(1);
      if (beams_[b].limit > 0) active_.push_back(b);
      else finish(b);
    }
    if (active_.empty()) return;
    // The encoder runs once per source; its memory and initial states are then copied to the
    // source's k columns.
    model.start_decoding(src, len, 1, ws);
    if (opt.keep_attention_views) {
      encoder_views_.resize(src.n_cols);
      for (std::size_t b : active_) set_encoder_views(encoder_views_[b], model, ws, b);
    }
    Mat<T> memory = std::move(ws.memory);
    std::vector<Mat<T>> h0 = std::move(ws.h0), c0 = std::move(ws.c0);
    restart(memory, active_, h0, c0);
  }

  void run() {
    std::vector<std::size_t> top;
    for (std::size_t t = 0; !active_.empty(); ++t) {
      const std::size_t W = active_.size() * k_;
      dec_.step(t, feed_.data(), ws_.dec);
      dec_.logits(t, 1, ws_.dec, ws_.logits);
      const auto view = dec_.weights(t, ws_.dec);  // read-only, no copy
      const Mat<T>& w = *view;
      views_.clear();
      if (opt_.keep_attention_views) views_ = dec_.attention_views(t, ws_.dec);
      parents_.resize(W);
      std::size_t live = 0;
      for (std::size_t p = 0; p < active_.size(); ++p) {
        const std::size_t b = active_[p];
        if (beams_[b].done) {
          for (std::size_t i = 0; i < k_; ++i) parents_[p * k_ + i] = p * k_ + i;
          continue;
        }
        advance(b, p * k_, t, w, top);
        if (!beams_[b].done) ++live;
      }
      dec_.reorder(t, parents_, ws_.dec);
      // Ended searches leave the batch once they hold a quarter of its columns: a restart
      // recomputes the key projections of the remaining memory, so it waits for enough gain.
      if (live == 0) break;
      if (4 * live * k_ <= 3 * W) compact(t);
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

  // One step of source b's search, whose columns start at `base`; exactly the one-source
  // algorithm, with columns offset by base.
  void advance(std::size_t b, std::size_t base, std::size_t t, const Mat<T>& w,
               std::vector<std::size_t>& top) {
    Beam& beam = beams_[b];
    const std::size_t k = k_, V = ws_.logits.n_rows;
    cand_.clear();
    for (std::size_t i = 0; i < beam.alive.size(); ++i) {
      // Only a row's 2k best tokens can be among the 2k best candidates overall.
      const T* z = ws_.logits.colptr(base + i);
      top_tokens(z, V, 2 * k, top);
      const double lse = log_sum_exp(z, V);
      for (std::size_t v : top) cand_.push_back({beam.alive[i].log_prob + (double(z[v]) - lse), i, v});
    }
    // The 2k best; ties go to the earlier hypothesis and the lower token id.
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
      if (opt_.keep_attention) {
        h.attention = parent.attention;
        if (!w.is_empty())
          h.attention.push_back(attention_column(w, base + c.parent, len_[b], model_.config().reverse_source));
      }
      if (opt_.keep_attention_views) {
        h.view_names = parent.view_names;
        h.views = parent.views;
        append_views(h, views_, base + c.parent, len_[b], model_.config().reverse_source);
      }
      if (c.token == Vocab::kEos && opt_.stop_at_eos) {
        // Only an end within the k best finishes a hypothesis; a finished one is never extended.
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
    // Unused columns follow the first hypothesis; their results are never read.
    for (std::size_t i = slot; i < k; ++i) parents_[base + i] = slot ? parents_[base] : base;
    beam.alive = std::move(next);
    if (beam.alive.empty() || beam.finished.size() >= k || t + 1 >= beam.limit) finish(b);
  }

  void finish(std::size_t b) {
    Beam& beam = beams_[b];
    beam.done = true;
    std::vector<Hypothesis> finished = ranked_nbest(std::move(beam.finished), beam.alive, opt_);
    if (b < encoder_views_.size())
      for (auto& h : finished) {
        h.encoder_view_names = encoder_views_[b].encoder_view_names;
        h.encoder_views = encoder_views_[b].encoder_views;
      }
    out_[b] = std::move(finished);
    beam.alive.clear();
  }

  // Drops the columns of ended searches after step t: the decoder goes on with the remaining
  // sources' columns only.
  void compact(std::size_t t) {
    std::vector<std::size_t> still, keep_cols;
    for (std::size_t p = 0; p < active_.size(); ++p)
      if (!beams_[active_[p]].done) {
        still.push_back(active_[p]);
        for (std::size_t i = 0; i < k_; ++i) keep_cols.push_back(p * k_ + i);
      }
    std::vector<arma::uword> feed(keep_cols.size());
    for (std::size_t i = 0; i < keep_cols.size(); ++i) feed[i] = feed_[keep_cols[i]];
    Mat<T> memory = std::move(ws_.memory);
    active_ = std::move(still);
    const std::size_t T_max = place_memory(t + 1, memory, keep_cols, false);
    const Memory<T> m{&ws_.memory, &ws_.src_len, S_, active_.size() * k_};
    dec_.keep_columns(t, keep_cols, m, T_max, ws_.dec);
    feed_ = std::move(feed);
  }

  // Sets the decoder up for the active sources' columns. Column p·k + i of the batch takes the
  // encoder's memory of source column from[p], and the initial states follow the same map.
  void restart(const Mat<T>& memory, const std::vector<std::size_t>& from, const std::vector<Mat<T>>& h0,
               const std::vector<Mat<T>>& c0) {
    const std::size_t W = active_.size() * k_;
    const std::size_t T_max = place_memory(0, memory, from, true);
    std::vector<Mat<T>> h, c;
    auto spread = [&](const std::vector<Mat<T>>& states, std::vector<Mat<T>>& out) {
      out.resize(states.size());
      for (std::size_t l = 0; l < states.size(); ++l) {
        if (states[l].is_empty()) continue;
        out[l].set_size(states[l].n_rows, W);
        for (std::size_t col = 0; col < W; ++col) out[l].col(col) = states[l].col(from[col / k_]);
      }
    };
    spread(h0, h);
    spread(c0, c);
    feed_.assign(W, Vocab::kBos);
    const Memory<T> m{&ws_.memory, &ws_.src_len, S_, W};
    dec_.begin(m, h, c, T_max, ws_.dec, nullptr);
  }

  // ws_.memory and ws_.src_len for the active columns: column i takes the memory of column
  // `from[i]` of `memory` (first: of source from[i / k]). Returns the steps the active searches
  // may still run, counted from step 0 (at least t0 + 1).
  std::size_t place_memory(std::size_t t0, const Mat<T>& memory, const std::vector<std::size_t>& from,
                           bool first) {
    const std::size_t W = active_.size() * k_, S = S_;
    auto origin = [&](std::size_t col) { return first ? from[col / k_] : from[col]; };
    ws_.memory.set_size(memory.n_rows, W * S);
    for (std::size_t col = 0; col < W; ++col)
      block(ws_.memory, col * S, S) = *block(memory, origin(col) * S, S);
    ws_.src_len.resize(W);
    std::size_t T_max = t0 + 1;
    for (std::size_t p = 0; p < active_.size(); ++p) {
      T_max = std::max(T_max, beams_[active_[p]].limit);
      for (std::size_t i = 0; i < k_; ++i) ws_.src_len[p * k_ + i] = len_[active_[p]];
    }
    return T_max;
  }

  const Seq2Seq<T>& model_;
  const Decoder<T>& dec_;
  const SearchOptions& opt_;
  Workspace<T>& ws_;
  const std::size_t k_;
  const Lengths len_;
  const std::size_t S_;
  std::vector<std::vector<Hypothesis>> out_;
  std::vector<Beam> beams_;
  std::vector<std::size_t> active_;  // sources in the decoder batch, in column order
  std::vector<arma::uword> feed_;
  std::vector<std::size_t> parents_;
  std::vector<Candidate> cand_;
  std::vector<AttentionView<T>> views_;  // this step's views, with keep_attention_views
  std::vector<Hypothesis> encoder_views_;  // per source: its encoder views only (keep_attention_views)
};

}  // namespace

template <typename T>
std::vector<std::vector<Hypothesis>> beam_search(const Seq2Seq<T>& model, const arma::umat& src,
                                                 const Lengths& len, const SearchOptions& opt,
                                                 Workspace<T>& ws) {
  check_beam(opt);
  if (len.size() != src.n_cols) throw Error("source lengths do not match the batch");
  BeamBatch<T> batch(model, src, len, opt, ws);
  batch.run();
  return batch.take();
}

template <typename T>
std::vector<Hypothesis> beam_search(const Seq2Seq<T>& model, const std::vector<int>& src,
                                    const SearchOptions& opt, Workspace<T>& ws) {
  if (src.empty()) throw Error("cannot translate an empty source");
  arma::umat s(src.size(), 1);
  for (std::size_t j = 0; j < src.size(); ++j) s(j, 0) = static_cast<arma::uword>(src[j]);
  return beam_search(model, s, Lengths{src.size()}, opt, ws)[0];
}

template std::vector<Hypothesis> greedy_search(const Seq2Seq<float>&, const arma::umat&,
                                               const Lengths&, const SearchOptions&,
                                               Workspace<float>&);
template std::vector<Hypothesis> greedy_search(const Seq2Seq<double>&, const arma::umat&,
                                               const Lengths&, const SearchOptions&,
                                               Workspace<double>&);
template std::vector<std::vector<Hypothesis>> beam_search(const Seq2Seq<float>&, const arma::umat&,
                                                          const Lengths&, const SearchOptions&,
                                                          Workspace<float>&);
template std::vector<std::vector<Hypothesis>> beam_search(const Seq2Seq<double>&, const arma::umat&,
                                                          const Lengths&, const SearchOptions&,
                                                          Workspace<double>&);
template std::vector<std::string> attention_view_names(const Seq2Seq<float>&);
template std::vector<std::string> attention_view_names(const Seq2Seq<double>&);
template std::vector<Hypothesis> beam_search(const Seq2Seq<float>&, const std::vector<int>&,
                                             const SearchOptions&, Workspace<float>&);
template std::vector<Hypothesis> beam_search(const Seq2Seq<double>&, const std::vector<int>&,
                                             const SearchOptions&, Workspace<double>&);

}  // namespace attend
