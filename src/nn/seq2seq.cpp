#include "attend/nn/seq2seq.hpp"

#include <cmath>

#include "attend/core/error.hpp"
#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "nn/saturation.hpp"

namespace attend {

template <typename T>
Seq2Seq<T>::Seq2Seq(const ModelConfig& config, std::uint64_t seed) : config_(config) {
  config_.validate();
  decoder_traits_ = decoder_traits(config_.decoder);
  if (config_.src_vocab < 5 || config_.tgt_vocab < 5)
    throw Error("the model needs source and target vocabularies (src_vocab/tgt_vocab unset)");
  cell_ = make_cell<T>(config_.cell);
  encoder_ = make_encoder<T>(params_, config_, *cell_);
  if (config_.bridge == Bridge::Dense && decoder_traits_.initial_state) {
    const std::size_t H = config_.hidden;
    const double k = 1.0 / std::sqrt(double(H));
    for (std::size_t l = 0; l < config_.layers; ++l) {
      const std::string n = std::to_string(l);
      bridge_hw_.push_back(params_.add("bridge.h." + n + ".weight", H, H, k));
      bridge_hb_.push_back(params_.add("bridge.h." + n + ".bias", H, 1, k, TorchLayout::Vector));
      if (cell_->has_memory()) {
        bridge_cw_.push_back(params_.add("bridge.c." + n + ".weight", H, H, k));
        bridge_cb_.push_back(params_.add("bridge.c." + n + ".bias", H, 1, k, TorchLayout::Vector));
      }
    }
  }
  decoder_ = make_decoder<T>(params_, config_, *cell_);
  params_.allocate(seed);
  encoder_->initialize();
  decoder_->initialize();
}

template <typename T>
void Seq2Seq<T>::encode(const arma::umat& src, const Lengths& len, Workspace<T>& ws,
                        std::mt19937_64* rng) const {
  const std::size_t S = src.n_rows, B = src.n_cols;
  if (len.size() != B) throw Error("source lengths do not match the batch");
  for (std::size_t b = 0; b < B; ++b)
    if (len[b] < 1 || len[b] > S) throw Error("every source needs between 1 and S tokens");
  ws.src = src;
  ws.src_len = len;
  if (config_.reverse_source)
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t i = 0, j = len[b] - 1; i < j; ++i, --j) std::swap(ws.src(i, b), ws.src(j, b));
  encoder_->forward(ws.src, ws.src_len, ws.enc, rng);
  const Mat<T>& out = ws.enc.top();  // H × S·B, time-major
  ws.memory.set_size(out.n_rows, B * S);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t j = 0; j < S; ++j) ws.memory.col(b * S + j) = out.col(j * B + b);
  bridge(ws);
}

// copy: the decoder starts from the encoder's final states; dense: tanh(W h_enc + b) per layer
// (and for LSTM c0 = tanh(W' c_enc + b')); none: zeros.
template <typename T>
void Seq2Seq<T>::bridge(Workspace<T>& ws) const {
  const std::size_t L = config_.layers;
  const bool takes_state = decoder_traits_.initial_state;
  ws.h0.resize(L);
  ws.c0.resize(L);
  for (std::size_t l = 0; l < L; ++l) {
    if (config_.bridge == Bridge::None || !takes_state) {
      ws.h0[l].reset();
      ws.c0[l].reset();
    } else if (config_.bridge == Bridge::Copy) {
      ws.h0[l] = ws.enc.final_h[l];
      ws.c0[l] = ws.enc.final_c[l];
    } else {
      ws.h0[l] = params_.value(bridge_hw_[l]) * ws.enc.final_h[l];
      ws.h0[l].each_col() += params_.value(bridge_hb_[l]).col(0);
      ws.h0[l].transform([](T x) { return std::tanh(x); });
      if (cell_->has_memory()) {
        ws.c0[l] = params_.value(bridge_cw_[l]) * ws.enc.final_c[l];
        ws.c0[l].each_col() += params_.value(bridge_cb_[l]).col(0);
        ws.c0[l].transform([](T x) { return std::tanh(x); });
      }
    }
  }
}

template <typename T>
void Seq2Seq<T>::bridge_backward(Workspace<T>& ws) {
  const std::size_t L = config_.layers;
  ws.dfinal_h.assign(L, Mat<T>());
  ws.dfinal_c.assign(L, Mat<T>());
  if (config_.bridge == Bridge::None || !decoder_traits_.initial_state) return;
  for (std::size_t l = 0; l < L; ++l) {
    if (config_.bridge == Bridge::Copy) {
      ws.dfinal_h[l] = ws.dh0[l];
      if (cell_->has_memory()) ws.dfinal_c[l] = ws.dc0[l];
      continue;
    }
    Mat<T> dpre = ws.dh0[l] % (1 - arma::square(ws.h0[l]));
    params_.grad(bridge_hw_[l]) += dpre * ws.enc.final_h[l].t();
    params_.grad(bridge_hb_[l]) += arma::sum(dpre, 1);
    ws.dfinal_h[l] = params_.value(bridge_hw_[l]).t() * dpre;
    if (cell_->has_memory()) {
      Mat<T> dcp = ws.dc0[l] % (1 - arma::square(ws.c0[l]));
      params_.grad(bridge_cw_[l]) += dcp * ws.enc.final_c[l].t();
      params_.grad(bridge_cb_[l]) += arma::sum(dcp, 1);
      ws.dfinal_c[l] = params_.value(bridge_cw_[l]).t() * dcp;
    }
  }
}

template <typename T>
LossStats Seq2Seq<T>::loss(const Batch& batch, Workspace<T>& ws, const TrainStepOptions& opt) const {
  return forward(batch, ws, false, opt);
}

template <typename T>
LossStats Seq2Seq<T>::forward(const Batch& batch, Workspace<T>& ws, bool backward,
                              const TrainStepOptions& opt) const {
  const std::size_t B = batch.size(), Tn = batch.tgt_in.n_rows, S = batch.src.n_rows;
  const std::size_t V = config_.tgt_vocab;
  ws.enc.skip_padding = opt.skip_padding;
  encode(batch.src, batch.src_len, ws, opt.rng);
  Memory<T> memory{&ws.memory, &ws.src_len, S, B};
  // Hard attention while training draws its positions from the training stream; the REINFORCE
  // coefficients follow from the loss below, before any backward reads them.
  const bool hard = opt.rng && config_.attention_fn == "hard";
  if (hard) {
    HardAttentionPass& h = ws.hard;
    h.options = opt.hard ? *opt.hard : HardAttentionOptions{};
    h.rng = opt.rng;
    h.coef.assign(Tn * B, 0.0);
    h.batch = B;
    h.entropy_coef = 0;
    h.steps = batch.tgt_len;
    h.next_forced = 0;
    h.forced_invalid = false;
    h.log_prob.assign(B, 0.0);
    memory.hard = &h;
  }
  decoder_->begin(memory, ws.h0, ws.c0, Tn, ws.dec, opt.rng);
  const bool sampled = opt.rng && opt.teacher_forcing < 1.0;
  ws.fed = batch.tgt_in;
  ws.dec.real.clear();
  if (!sampled) {
    if (decoder_traits_.skips_padding && opt.skip_padding) real_columns(batch.tgt_len, Tn, ws.dec.real);
    decoder_->teacher_forced(batch.tgt_in, ws.dec);
    decoder_->logits(0, Tn, ws.dec, ws.logits);
  } else {
    if (!decoder_traits_.scheduled_sampling)
      throw Error("--decoder " + config_.decoder +
                  " trains with teacher forcing only; leave --teacher-forcing at 1");
    // Scheduled sampling: each input is the reference token with probability teacher_forcing,
    // otherwise the model's own previous argmax.
    ws.logits.set_size(V, Tn * B);
    std::vector<arma::uword> feed(B);
    const std::uint64_t keep = static_cast<std::uint64_t>(opt.teacher_forcing * 18446744073709551615.0);
    for (std::size_t t = 0; t < Tn; ++t) {
      for (std::size_t b = 0; b < B; ++b) {
        if (t > 0 && (*opt.rng)() >= keep) ws.fed(t, b) = ws.logits.col((t - 1) * B + b).index_max();
        feed[b] = ws.fed(t, b);
      }
      decoder_->step(t, feed.data(), ws.dec);
      Mat<T> logits_t = block(ws.logits, t * B, B);
      decoder_->logits(t, 1, ws.dec, logits_t);
    }
  }
  LossStats stats;
  stats.tokens = batch.real_target_tokens();
  // The logits' columns: every position t·B + b, or only the real ones (ws.dec.real, in order).
  const std::vector<std::size_t>& real = ws.dec.real;
  const std::size_t cols = real.empty() ? Tn * B : real.size();
  if (backward) ws.dlogits.set_size(V, cols);
  else ws.scratch.set_size(V);
  const double eps = opt.label_smoothing;
  const std::size_t n = opt.normalizer ? opt.normalizer : stats.tokens;
  const T inv_n = static_cast<T>(1.0 / std::max<std::size_t>(1, n));
  for (std::size_t col = 0; col < cols; ++col) {
    const std::size_t pos = real.empty() ? col : real[col], t = pos / B, b = pos % B;
    if (t >= batch.tgt_len[b]) {  // padding: no loss, no gradient
      if (backward) ws.dlogits.col(col).zeros();
      continue;
    }
    const T* z = ws.logits.colptr(col);
    const arma::uword y = batch.tgt_out(t, b);
    T mx = z[0];
#pragma omp simd reduction(max : mx)
    for (std::size_t v = 1; v < V; ++v) mx = z[v] > mx ? z[v] : mx;
    // The first maximum. With a NaN in z[0] (mx stays NaN) or an infinite logit there is no
    // valid maximum: arg = V matches no reference and the batch is flagged.
    // Blocks of 64 compared at once (vectorised), then the first match inside the block.
    std::size_t arg = 0;
    for (; arg + 64 <= V; arg += 64) {
      bool hit = false;
#pragma omp simd reduction(| : hit)
      for (std::size_t v = arg; v < arg + 64; ++v) hit |= z[v] == mx;
      if (hit) break;
    }
    while (arg < V && z[arg] != mx) ++arg;
    // One exp per logit: p_v = exp(z_v − max) / Σ, kept in the gradient column when training.
    T* g = backward ? ws.dlogits.colptr(col) : ws.scratch.memptr();
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::size_t v = 0; v < V; ++v) {
      g[v] = exp_fast(z[v] - mx);
      sum += g[v];
    }
    const double nll = std::log(double(sum)) - double(z[y] - mx);
    stats.nll_sum += nll;
    if (hard) ws.hard.coef[pos] = nll;
    stats.correct += arg == y;
    if (!std::isfinite(mx) || !std::isfinite(sum)) stats.non_finite = true;
    if (!backward) continue;
    // d/dz of mean[(1−ε)(−log p_y) + ε·mean_v(−log p_v)] = p − (1−ε)·onehot(y) − ε/V
    const T scale = static_cast<T>(1.0 / double(sum)) * inv_n, smooth = static_cast<T>(eps / V) * inv_n;
    for (std::size_t v = 0; v < V; ++v) g[v] = g[v] * scale - smooth;
    g[y] -= static_cast<T>(1 - eps) * inv_n;
  }
  if (hard) {  // c_bt = (R_bt − β m_bt) / n, and λ / n (attention_fn.hpp)
    const double inv = 1.0 / double(std::max<std::size_t>(1, n)), beta = opt.reinforce_baseline;
    const bool to_go = ws.hard.options.reward == HardReward::ToGo;
    for (std::size_t b = 0; b < B; ++b) {
      const std::size_t steps = std::min<std::size_t>(batch.tgt_len[b], Tn);
      double suffix = 0;  // Σ NLL over tokens t … steps − 1
      for (std::size_t t = steps; t-- > 0;) {
        suffix += ws.hard.coef[t * B + b];
        ws.hard.coef[t * B + b] = suffix;  // R_bt for to-go
      }
      for (std::size_t t = 0; t < steps; ++t) {
        double& c = ws.hard.coef[t * B + b];
        const double R = to_go ? c : suffix, m = double(to_go ? steps - t : steps);
        c = (R - beta * m) * inv;
      }
    }
    ws.hard.entropy_coef = ws.hard.options.entropy_weight * inv;
  }
  if (opt.statistics) collect_statistics(batch, ws, *opt.statistics);
  return stats;
}

void ForwardStatistics::add(const ForwardStatistics& o) {
  for (const auto& [group, share] : o.saturation) {
    saturation[group].saturated += share.saturated;
    saturation[group].units += share.units;
  }
  entropy_sum += o.entropy_sum;
  uniform_entropy_sum += o.uniform_entropy_sum;
  attention_steps += o.attention_steps;
  attention_positions += o.attention_positions;
  zero_weights += o.zero_weights;
}


template <typename T>
void Seq2Seq<T>::collect_statistics(const Batch& batch, const Workspace<T>& ws,
                                    ForwardStatistics& out) const {
  const std::size_t B = batch.size(), Tn = batch.tgt_in.n_rows, S = batch.src.n_rows;
  const bool bi = config_.bidirectional;
  ForwardStatistics s;
  // Encoder: cache column k·B + b holds processed step k, time S−1−k in a reverse direction.
  if (!ws.enc.seq.empty()) {
    auto& gates = s.saturation["encoder gates"];
    auto& candidates = s.saturation["encoder candidates"];
    for (std::size_t i = 0; i < ws.enc.seq.size(); ++i) {
      const SequenceCache<T>& sc = ws.enc.seq[i];
      const auto rows = cell_->activations(sc.hs.n_rows);
      const bool reverse = bi && i % 2 == 1;
      for (std::size_t k = 0; k < S && !rows.empty(); ++k)
        for (std::size_t b = 0; b < B; ++b)
          if ((reverse ? S - 1 - k : k) < ws.src_len[b])
            count_cell_column(sc.cell, k * B + b, rows, gates, candidates);
    }
  }
  decoder_->add_statistics(batch.tgt_len, Tn, ws.dec, s);
  if (!ws.dec.A.is_empty())
    for (std::size_t t = 0; t < Tn; ++t)
      for (std::size_t b = 0; b < B; ++b) {
        if (t >= batch.tgt_len[b]) continue;
        const T* a = ws.dec.A.colptr(t * B + b);
        double h = 0;
        for (std::size_t j = 0; j < ws.src_len[b]; ++j)
          if (a[j] > 0) h -= double(a[j]) * std::log(double(a[j]));
          else ++s.zero_weights;
        s.attention_positions += ws.src_len[b];
        s.entropy_sum += h;
        s.uniform_entropy_sum += std::log(double(ws.src_len[b]));
        ++s.attention_steps;
      }
  for (auto it = s.saturation.begin(); it != s.saturation.end();)
    it = it->second.units ? std::next(it) : s.saturation.erase(it);
  out.add(s);
}

template <typename T>
LossStats Seq2Seq<T>::loss_and_grad(const Batch& batch, Workspace<T>& ws, const TrainStepOptions& opt) {
  const LossStats stats = forward(batch, ws, true, opt);
  const std::size_t B = batch.size(), Tn = batch.tgt_in.n_rows, S = batch.src.n_rows;
  ws.dmemory.zeros(ws.memory.n_rows, ws.memory.n_cols);
  decoder_->backward(ws.dlogits, Tn, ws.fed, ws.dec, ws.dmemory, ws.dh0, ws.dc0);
  bridge_backward(ws);
  ws.dtop.set_size(ws.memory.n_rows, S * B);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t j = 0; j < S; ++j) ws.dtop.col(j * B + b) = ws.dmemory.col(b * S + j);
  encoder_->backward(ws.src, ws.dtop, ws.dfinal_h, ws.dfinal_c, ws.enc);
  return stats;
}

template <typename T>
void Seq2Seq<T>::start_decoding(const arma::umat& src, const Lengths& len, std::size_t T_max,
                                Workspace<T>& ws) const {
  encode(src, len, ws, nullptr);
  Memory<T> memory{&ws.memory, &ws.src_len, src.n_rows, src.n_cols};
  decoder_->begin(memory, ws.h0, ws.c0, T_max, ws.dec, nullptr);
}

template <typename T>
void Seq2Seq<T>::start_decoding_replicated(const arma::umat& src, arma::uword len, std::size_t k,
                                           std::size_t T_max, Workspace<T>& ws) const {
  encode(src, Lengths{len}, ws, nullptr);
  const std::size_t S = src.n_rows;
  ws.memory = arma::repmat(ws.memory, 1, k);  // example b = copy b: H × k·S
  ws.src_len.assign(k, len);
  for (auto& h : ws.h0) if (!h.is_empty()) h = arma::repmat(h, 1, k);
  for (auto& c : ws.c0) if (!c.is_empty()) c = arma::repmat(c, 1, k);
  Memory<T> memory{&ws.memory, &ws.src_len, S, k};
  decoder_->begin(memory, ws.h0, ws.c0, T_max, ws.dec, nullptr);
}

template class Seq2Seq<float>;
template class Seq2Seq<double>;

}  // namespace attend
