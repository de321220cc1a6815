#include "attend/nn/encoder.hpp"

#include <cmath>

#include "attend/core/error.hpp"

namespace attend {

template <typename T>
RecurrentLayer<T>::RecurrentLayer(ParameterRegistry<T>& params, const Cell<T>& cell,
                                  const std::string& prefix, const std::string& suffix,
                                  std::size_t input, std::size_t hidden)
    : params_(params), cell_(cell), input_(input), hidden_(hidden) {
  const std::size_t G = cell.gates() * hidden;
  const double k = 1.0 / std::sqrt(static_cast<double>(hidden));  // PyTorch's RNN init range
  w_ih_ = params.add(prefix + "weight_ih" + suffix, G, input, k);
  w_hh_ = params.add(prefix + "weight_hh" + suffix, G, hidden, k);
  b_ih_ = params.add(prefix + "bias_ih" + suffix, G, 1, k, TorchLayout::Vector);
  b_hh_ = params.add(prefix + "bias_hh" + suffix, G, 1, k, TorchLayout::Vector);
}

template <typename T>
void RecurrentLayer<T>::project_inputs(const Mat<T>& X, Mat<T>& XW) const {
  XW = params_.value(w_ih_) * X;  // (G·H × N)
  XW.each_col() += params_.value(b_ih_).col(0);
}

template <typename T>
void RecurrentLayer<T>::project_inputs_backward(const Mat<T>& X, const Mat<T>& dXW,
                                                Mat<T>* dX) const {
  params_.grad(w_ih_) += dXW * X.t();
  params_.grad(b_ih_) += arma::sum(dXW, 1);
  if (dX) *dX += params_.value(w_ih_).t() * dXW;  // (I × N)
}

template <typename T>
void RecurrentLayer<T>::step(const Mat<T>& xw, const Mat<T>& h_prev, const Mat<T>& c_prev,
                             Mat<T>& h, Mat<T>& c, Mat<T>& cache, Mat<T>& hw) const {
  hw = params_.value(w_hh_) * h_prev;  // (G·H × B)
  hw.each_col() += params_.value(b_hh_).col(0);
  cell_.forward(xw, hw, h_prev, c_prev, h, c, cache);
}

template <typename T>
void RecurrentLayer<T>::step_backward(const Mat<T>& dh, const Mat<T>& dc, const Mat<T>& h_prev,
                                      const Mat<T>& c_prev, const Mat<T>& h, const Mat<T>& c,
                                      const Mat<T>& cache, Mat<T>& dxw, Mat<T>& dhw,
                                      Mat<T>& dh_prev, Mat<T>& dc_prev) const {
  cell_.backward(dh, dc, h_prev, c_prev, h, c, cache, dxw, dhw, dh_prev, dc_prev);
  dh_prev += params_.value(w_hh_).t() * dhw;  // (H × B)
}

template <typename T>
void RecurrentLayer<T>::recurrent_weights_backward(const Mat<T>& H_prev, const Mat<T>& dHW) const {
  params_.grad(w_hh_) += dHW * H_prev.t();
  params_.grad(b_hh_) += arma::sum(dHW, 1);
}

template <typename T>
void run_sequence(const RecurrentLayer<T>& layer, const Mat<T>& X, const Lengths& len,
                  std::size_t S, bool reverse, SequenceCache<T>& sc) {
  const std::size_t B = len.size(), H = layer.hidden_size();
  const bool mem = layer.cell().has_memory();
  layer.project_inputs(X, sc.xw);
  sc.hs.zeros(H, (S + 1) * B);
  if (mem) sc.cs.zeros(H, (S + 1) * B);
  else sc.cs.zeros(H, B);  // a dummy block for cells without memory
  sc.cell.set_size(layer.cell().cache_rows(H), S * B);
  sc.hw.set_size(layer.gate_rows(), B);
  for (std::size_t k = 0; k < S; ++k) {
    const std::size_t t = reverse ? S - 1 - k : k;
    Mat<T> xw = block(sc.xw, t * B, B);
    Mat<T> h_prev = block(sc.hs, k * B, B), h = block(sc.hs, (k + 1) * B, B);
    Mat<T> c_prev = block(sc.cs, mem ? k * B : 0, B), c = block(sc.cs, mem ? (k + 1) * B : 0, B);
    Mat<T> cache = block(sc.cell, k * B, B);
    layer.step(xw, h_prev, c_prev, h, c, cache, sc.hw);
    for (std::size_t b = 0; b < B; ++b)
      if (t >= len[b]) {  // padding: carry the state through
        h.col(b) = h_prev.col(b);
        if (mem) c.col(b) = c_prev.col(b);
      }
  }
}

template <typename T>
void run_sequence_backward(const RecurrentLayer<T>& layer, const Lengths& len, std::size_t S,
                           bool reverse, const Mat<T>& dOut, const Mat<T>* dh_last,
                           const Mat<T>* dc_last, SequenceCache<T>& sc) {
  const std::size_t B = len.size(), H = layer.hidden_size(), G = layer.gate_rows();
  const bool mem = layer.cell().has_memory();
  sc.dxw.set_size(G, S * B);
  sc.dhw.set_size(G, S * B);
  sc.dh.set_size(H, B);
  sc.dc.zeros(H, B);
  sc.dh_prev.set_size(H, B);
  sc.dc_prev.zeros(H, B);
  sc.keep.set_size(H, B);
  if (dh_last && !dh_last->is_empty()) sc.dh = *dh_last; else sc.dh.zeros();
  if (mem && dc_last && !dc_last->is_empty()) sc.dc = *dc_last;
  for (std::size_t kk = S; kk-- > 0;) {
    const std::size_t t = reverse ? S - 1 - kk : kk;
    if (!dOut.is_empty()) sc.dh += *block(dOut, kk * B, B);
    Mat<T> h_prev = block(sc.hs, kk * B, B), h = block(sc.hs, (kk + 1) * B, B);
    Mat<T> c_prev = block(sc.cs, mem ? kk * B : 0, B), c = block(sc.cs, mem ? (kk + 1) * B : 0, B);
    Mat<T> cache = block(sc.cell, kk * B, B);
    Mat<T> dxw = block(sc.dxw, t * B, B), dhw = block(sc.dhw, kk * B, B);
    // Padded columns pass their gradient straight to the previous state.
    bool any_pad = false;
    for (std::size_t b = 0; b < B; ++b)
      if (t >= len[b]) {
        any_pad = true;
        sc.keep.col(b) = sc.dh.col(b);
        sc.dh.col(b).zeros();
      }
    layer.step_backward(sc.dh, sc.dc, h_prev, c_prev, h, c, cache, dxw, dhw, sc.dh_prev,
                        sc.dc_prev);
    if (any_pad)
      for (std::size_t b = 0; b < B; ++b)
        if (t >= len[b]) {
          sc.dh_prev.col(b) = sc.keep.col(b);
          if (mem) sc.dc_prev.col(b) = sc.dc.col(b);
          dxw.col(b).zeros();
          dhw.col(b).zeros();
        }
    sc.dh.swap(sc.dh_prev);
    if (mem) sc.dc.swap(sc.dc_prev);
  }
  layer.recurrent_weights_backward(block(sc.hs, 0, S * B), sc.dhw);
}

template <typename T>
void dropout_mask(Mat<T>& mask, std::size_t rows, std::size_t cols, double p,
                  std::mt19937_64& rng) {
  mask.set_size(rows, cols);
  const T keep = static_cast<T>(1.0 / (1.0 - p));
  const std::uint64_t threshold = static_cast<std::uint64_t>(p * 18446744073709551615.0);
  for (std::size_t i = 0; i < mask.n_elem; ++i) mask[i] = rng() < threshold ? T(0) : keep;
}

template <typename T>
RecurrentEncoder<T>::RecurrentEncoder(ParameterRegistry<T>& params, const ModelConfig& config, const Cell<T>& cell)
    : params_(params), config_(config), directions_(config.bidirectional ? 2 : 1) {
  embedding_ = params.add("encoder.embedding.weight", config.emb, config.src_vocab, 0.1,
                          TorchLayout::TransposedMatrix);
  const std::size_t Hd = config.hidden / directions_;
  layers_.reserve(config.layers * directions_);
  for (std::size_t l = 0; l < config.layers; ++l)
    for (std::size_t d = 0; d < directions_; ++d)
      layers_.emplace_back(params, cell, "encoder.rnn.",
                           "_l" + std::to_string(l) + (d ? "_reverse" : ""),
                           l == 0 ? config.emb : config.hidden, Hd);
}

template <typename T>
void RecurrentEncoder<T>::forward(const arma::umat& src, const Lengths& len, EncoderCache<T>& cache,
                         std::mt19937_64* rng) const {
  const std::size_t S = src.n_rows, B = src.n_cols, L = layers(), H = config_.hidden;
  const std::size_t Hd = H / directions_;
  const bool mem = layers_[0].cell().has_memory();
  const bool drop = rng && config_.dropout > 0;
  cache.S = S;
  cache.B = B;
  cache.len = len;
  cache.self_out.clear();
  const Mat<T>& E = params_.value(embedding_);
  cache.emb.set_size(config_.emb, S * B);
  for (std::size_t t = 0; t < S; ++t)
    for (std::size_t b = 0; b < B; ++b) {
      const arma::uword id = src(t, b);
      if (id >= E.n_cols) throw Error("source token id " + std::to_string(id) + " outside the vocabulary");
      cache.emb.col(t * B + b) = E.col(id);
    }
  if (drop) {
    dropout_mask(cache.emb_mask, cache.emb.n_rows, cache.emb.n_cols, config_.dropout, *rng);
    cache.emb %= cache.emb_mask;
  } else {
    cache.emb_mask.reset();
  }
  cache.out.resize(L);
  cache.out_mask.resize(L);
  for (auto& m : cache.out_mask) m.reset();
  cache.in.resize(L);
  cache.seq.resize(L * directions_);
  cache.final_h.resize(L);
  cache.final_c.resize(L);
  for (std::size_t l = 0; l < L; ++l) {
    const Mat<T>& X = l == 0 ? cache.emb : cache.in[l];
    if (l > 0) {
      cache.in[l] = cache.out[l - 1];
      if (drop) {
        dropout_mask(cache.out_mask[l - 1], H, S * B, config_.dropout, *rng);
        cache.in[l] %= cache.out_mask[l - 1];
      }
    }
    cache.out[l].set_size(H, S * B);
    cache.final_h[l].set_size(H, B);
    if (mem) cache.final_c[l].set_size(H, B);
    for (std::size_t d = 0; d < directions_; ++d) {
      SequenceCache<T>& sc = cache.seq[l * directions_ + d];
      run_sequence(layers_[l * directions_ + d], X, len, S, d == 1, sc);
      for (std::size_t t = 0; t < S; ++t) {
        const std::size_t slot = d == 0 ? t + 1 : S - t;
        cache.out[l].submat(d * Hd, t * B, (d + 1) * Hd - 1, (t + 1) * B - 1) =
            sc.hs.cols(slot * B, (slot + 1) * B - 1);
      }
      cache.final_h[l].rows(d * Hd, (d + 1) * Hd - 1) = sc.hs.cols(S * B, (S + 1) * B - 1);
      if (mem) cache.final_c[l].rows(d * Hd, (d + 1) * Hd - 1) = sc.cs.cols(S * B, (S + 1) * B - 1);
    }
  }
}

template <typename T>
void RecurrentEncoder<T>::backward(const arma::umat& src, const Mat<T>& d_top,
                          const std::vector<Mat<T>>& d_final_h,
                          const std::vector<Mat<T>>& d_final_c, EncoderCache<T>& cache) const {
  const std::size_t S = cache.S, B = cache.B, L = layers(), H = config_.hidden;
  const std::size_t Hd = H / directions_;
  const bool mem = layers_[0].cell().has_memory();
  if (d_top.is_empty()) cache.d_out.zeros(H, S * B);
  else cache.d_out = d_top;
  Mat<T> dh_last, dc_last;
  for (std::size_t l = L; l-- > 0;) {
    const Mat<T>& X = l == 0 ? cache.emb : cache.in[l];
    cache.d_in.zeros(X.n_rows, S * B);
    for (std::size_t d = 0; d < directions_; ++d) {
      SequenceCache<T>& sc = cache.seq[l * directions_ + d];
      cache.d_proc.set_size(Hd, S * B);
      for (std::size_t t = 0; t < S; ++t) {
        const std::size_t k = d == 0 ? t : S - 1 - t;  // processing index of time t
        cache.d_proc.cols(k * B, (k + 1) * B - 1) =
            cache.d_out.submat(d * Hd, t * B, (d + 1) * Hd - 1, (t + 1) * B - 1);
      }
      const bool has_h = l < d_final_h.size() && !d_final_h[l].is_empty();
      const bool has_c = mem && l < d_final_c.size() && !d_final_c[l].is_empty();
      if (has_h) dh_last = d_final_h[l].rows(d * Hd, (d + 1) * Hd - 1);
      if (has_c) dc_last = d_final_c[l].rows(d * Hd, (d + 1) * Hd - 1);
      run_sequence_backward(layers_[l * directions_ + d], cache.len, S, d == 1, cache.d_proc,
                            has_h ? &dh_last : nullptr, has_c ? &dc_last : nullptr, sc);
      layers_[l * directions_ + d].project_inputs_backward(X, sc.dxw, &cache.d_in);
    }
    if (l > 0) {
      if (!cache.out_mask[l - 1].is_empty()) cache.d_in %= cache.out_mask[l - 1];
      cache.d_out.swap(cache.d_in);
    }
  }
  // cache.d_in now holds the gradient on the (dropped-out) embeddings.
  if (!cache.emb_mask.is_empty()) cache.d_in %= cache.emb_mask;
  Mat<T>& dE = params_.grad(embedding_);
  for (std::size_t t = 0; t < S; ++t)
    for (std::size_t b = 0; b < B; ++b) {
      if (t >= cache.len[b]) continue;
      dE.col(src(t, b)) += cache.d_in.col(t * B + b);
    }
}

template class RecurrentLayer<float>;
template class RecurrentLayer<double>;
template class RecurrentEncoder<float>;
template class RecurrentEncoder<double>;
template void run_sequence(const RecurrentLayer<float>&, const Mat<float>&, const Lengths&,
                           std::size_t, bool, SequenceCache<float>&);
template void run_sequence(const RecurrentLayer<double>&, const Mat<double>&, const Lengths&,
                           std::size_t, bool, SequenceCache<double>&);
template void run_sequence_backward(const RecurrentLayer<float>&, const Lengths&, std::size_t,
                                    bool, const Mat<float>&, const Mat<float>*,
                                    const Mat<float>*, SequenceCache<float>&);
template void run_sequence_backward(const RecurrentLayer<double>&, const Lengths&, std::size_t,
                                    bool, const Mat<double>&, const Mat<double>*,
                                    const Mat<double>*, SequenceCache<double>&);
template void dropout_mask(Mat<float>&, std::size_t, std::size_t, double, std::mt19937_64&);
template void dropout_mask(Mat<double>&, std::size_t, std::size_t, double, std::mt19937_64&);

}  // namespace attend
