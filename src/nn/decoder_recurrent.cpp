#include <cmath>

#include "attend/core/error.hpp"
#include "core/kernels.hpp"
#include "nn/decoders_builtin.hpp"
#include "nn/saturation.hpp"

namespace attend {

template <typename T>
RecurrentDecoder<T>::RecurrentDecoder(ParameterRegistry<T>& params, const ModelConfig& config, const Cell<T>& cell)
    : params_(params), config_(config) {
  style_ = config.style();
  const std::size_t H = config.hidden, E = config.emb;
  embedding_ = target_embedding(params, config, E, 0.1);
  layers_.reserve(config.layers);
  for (std::size_t l = 0; l < config.layers; ++l)
    layers_.emplace_back(params, cell, "decoder.rnn.", "_l" + std::to_string(l),
                         l == 0 ? E + (style_ == DecoderStyle::None ? 0 : H) : H, H);
  if (style_ != DecoderStyle::None)
    attention_ = make_attention<T>(config.attention, params, config, "decoder.attention.");
  if (style_ != DecoderStyle::None && !attention_)
    throw Error("attention '" + config.attention + "' built no strategy");
  if (style_ == DecoderStyle::Luong)
    w_c_ = params.add("decoder.W_c.weight", H, 2 * H, 1.0 / std::sqrt(2.0 * H));
  const std::size_t in = output_input_size();
  out_w_ = params.add("decoder.out.weight", config.tgt_vocab, in, 1.0 / std::sqrt(double(in)));
  out_b_ = params.add("decoder.out.bias", config.tgt_vocab, 1, 1.0 / std::sqrt(double(in)),
                      TorchLayout::Vector);
}

template <typename T>
std::size_t RecurrentDecoder<T>::output_input_size() const {
  return style_ == DecoderStyle::Bahdanau ? 2 * config_.hidden + config_.emb : config_.hidden;
}

template <typename T>
void RecurrentDecoder<T>::begin(const Memory<T>& memory, const std::vector<Mat<T>>& h0,
                       const std::vector<Mat<T>>& c0, std::size_t T_max, DecoderCache<T>& cache,
                       std::mt19937_64* rng) const {
  const std::size_t B = memory.B, H = config_.hidden, L = layers_.size();
  const bool mem = layers_[0].cell().has_memory();
  if (cache.state_of != this) {  // a cache first used with this decoder
    cache.state = std::make_unique<RecurrentDecoderState<T>>();
    cache.state_of = this;
  }
  auto& st = decoder_state<RecurrentDecoderState<T>>(cache);
  cache.T_max = T_max;
  cache.B = B;
  cache.memory = memory;
  cache.rng = config_.dropout > 0 ? rng : nullptr;
  st.EY.set_size(config_.emb, T_max * B);
  if (cache.rng) dropout_mask(st.emb_mask, config_.emb, T_max * B, config_.dropout, *cache.rng);
  else st.emb_mask.reset();
  st.layer.resize(L);
  st.layer_in.resize(L);
  st.layer_mask.resize(L);
  for (std::size_t l = 0; l < L; ++l) {
    SequenceCache<T>& sc = st.layer[l];
    sc.xw.set_size(layers_[l].gate_rows(), T_max * B);
    sc.hs.set_size(H, (T_max + 1) * B);
    sc.cs.set_size(H, (mem ? T_max + 1 : 1) * B);
    sc.cell.set_size(layers_[l].cell().cache_rows(H), T_max * B);
    sc.hw.set_size(layers_[l].gate_rows(), B);
    if (l < h0.size() && !h0[l].is_empty()) sc.hs.cols(0, B - 1) = h0[l];
    else sc.hs.cols(0, B - 1).zeros();
    if (mem && l < c0.size() && !c0[l].is_empty()) sc.cs.cols(0, B - 1) = c0[l];
    else sc.cs.cols(0, B - 1).zeros();
    if (l > 0) {
      st.layer_in[l].set_size(H, T_max * B);
      if (cache.rng) dropout_mask(st.layer_mask[l], H, T_max * B, config_.dropout, *cache.rng);
      else st.layer_mask[l].reset();
    }
  }
  if (attention_) {
    st.CTX.set_size(H, T_max * B);
    cache.A.set_size(memory.S, T_max * B);
    if (!st.batch) st.batch = attention_->make_batch_state();
    while (st.steps.size() < T_max) st.steps.push_back(attention_->make_step_state());
    attention_->prepare(memory, *st.batch);
  } else {
    cache.A.reset();
  }
  if (style_ == DecoderStyle::Luong) {
    st.HT.set_size(H, (T_max + 1) * B);
    st.HT.cols(0, B - 1).zeros();  // h̃_0 = 0
    st.CAT.set_size(2 * H, T_max * B);
  }
  st.O.set_size(output_input_size(), T_max * B);
}

template <typename T>
void RecurrentDecoder<T>::teacher_forced(const arma::umat& tokens, DecoderCache<T>& cache) const {
  auto& st = decoder_state<RecurrentDecoderState<T>>(cache);
  const std::size_t Tn = tokens.n_rows, B = cache.B;
  const Mat<T>& E = params_.value(embedding_);
  for (std::size_t t = 0; t < Tn; ++t)
    for (std::size_t b = 0; b < B; ++b) st.EY.col(t * B + b) = E.col(tokens(t, b));
  Mat<T> ey = block(st.EY, 0, Tn * B);
  if (!st.emb_mask.is_empty()) ey %= st.emb_mask.cols(0, Tn * B - 1);
  const Mat<T> We = block(params_.value(layers_[0].w_ih()), 0, config_.emb);
  Mat<T> xw = block(st.layer[0].xw, 0, Tn * B);
  xw = We * ey;  // (G·H × T·B): the embedding part of layer 0's input projection, all steps
  xw.each_col() += params_.value(layers_[0].b_ih()).col(0);
  for (std::size_t t = 0; t < Tn; ++t) step(t, nullptr, cache);
}

template <typename T>
void RecurrentDecoder<T>::step(std::size_t t, const arma::uword* tokens, DecoderCache<T>& cache) const {
  auto& st = decoder_state<RecurrentDecoderState<T>>(cache);
  const std::size_t B = cache.B, H = config_.hidden, L = layers_.size();
  const bool mem = layers_[0].cell().has_memory();
  Mat<T> xw0 = block(st.layer[0].xw, t * B, B);
  Mat<T> ey = block(st.EY, t * B, B);
  if (tokens) {
    const Mat<T>& E = params_.value(embedding_);
    for (std::size_t b = 0; b < B; ++b) {
      if (tokens[b] >= E.n_cols) throw Error("target token id outside the vocabulary");
      ey.col(b) = E.col(tokens[b]);
    }
    if (!st.emb_mask.is_empty()) ey %= block(st.emb_mask, t * B, B);
    xw0 = block(params_.value(layers_[0].w_ih()), 0, config_.emb) * ey;
    xw0.each_col() += params_.value(layers_[0].b_ih()).col(0);
  }
  const Mat<T> Wx = block(params_.value(layers_[0].w_ih()), config_.emb, H);  // context / h̃ part
  Mat<T> ctx = attention_ ? block(st.CTX, t * B, B) : Mat<T>();
  Mat<T> weights = attention_ ? block(cache.A, t * B, B) : Mat<T>();
  if (style_ == DecoderStyle::Bahdanau) {
    const Mat<T> s_prev = block(st.layer[L - 1].hs, t * B, B);
    attention_->forward(s_prev, t, cache.memory, *st.batch, *st.steps[t], ctx, weights);
    xw0 += Wx * ctx;
  } else if (style_ == DecoderStyle::Luong) {
    xw0 += Wx * block(st.HT, t * B, B);
  }
  for (std::size_t l = 0; l < L; ++l) {
    SequenceCache<T>& sc = st.layer[l];
    Mat<T> xw = block(sc.xw, t * B, B);
    if (l > 0) {
      Mat<T> in = block(st.layer_in[l], t * B, B);
      in = block(st.layer[l - 1].hs, (t + 1) * B, B);
      if (!st.layer_mask[l].is_empty()) in %= block(st.layer_mask[l], t * B, B);
      layers_[l].project_inputs(in, xw);
    }
    Mat<T> h_prev = block(sc.hs, t * B, B), h = block(sc.hs, (t + 1) * B, B);
    Mat<T> c_prev = block(sc.cs, mem ? t * B : 0, B), c = block(sc.cs, mem ? (t + 1) * B : 0, B);
    Mat<T> cell = block(sc.cell, t * B, B);
    layers_[l].step(xw, h_prev, c_prev, h, c, cell, sc.hw);
  }
  const Mat<T> top = block(st.layer[L - 1].hs, (t + 1) * B, B);
  Mat<T> o = block(st.O, t * B, B);
  if (style_ == DecoderStyle::Luong) {
    attention_->forward(top, t, cache.memory, *st.batch, *st.steps[t], ctx, weights);
    Mat<T> cat = block(st.CAT, t * B, B);
    cat.rows(0, H - 1) = ctx;
    cat.rows(H, 2 * H - 1) = top;
    Mat<T> ht = block(st.HT, (t + 1) * B, B);
    ht = params_.value(w_c_) * cat;  // (H × B)
    if (config_.luong_output == LuongOutput::Tanh)
      for (std::size_t i = 0; i < ht.n_elem; ++i) ht[i] = tanh_fast(ht[i]);
    o = ht;
  } else if (style_ == DecoderStyle::Bahdanau) {
    o.rows(0, H - 1) = top;
    o.rows(H, 2 * H - 1) = ctx;
    o.rows(2 * H, o.n_rows - 1) = ey;
  } else {
    o = top;
  }
}

template <typename T>
void RecurrentDecoder<T>::logits(std::size_t t0, std::size_t n, const DecoderCache<T>& cache,
                        Mat<T>& out) const {
  const auto& st = decoder_state<RecurrentDecoderState<T>>(cache);
  out = params_.value(out_w_) * *block(st.O, t0 * cache.B, n * cache.B);  // (V × n·B)
  out.each_col() += params_.value(out_b_).col(0);
}

template <typename T>
void RecurrentDecoder<T>::backward(const Mat<T>& dlogits, std::size_t Tn, const arma::umat& tokens,
                          DecoderCache<T>& cache, Mat<T>& dmemory, std::vector<Mat<T>>& dh0,
                          std::vector<Mat<T>>& dc0) const {
  auto& st = decoder_state<RecurrentDecoderState<T>>(cache);
  const std::size_t B = cache.B, H = config_.hidden, L = layers_.size(), N = Tn * B;
  const bool mem = layers_[0].cell().has_memory();
  const Mat<T> O = block(st.O, 0, N);
  params_.grad(out_w_) += dlogits * O.t();
  params_.grad(out_b_) += arma::sum(dlogits, 1);
  Mat<T> dO = params_.value(out_w_).t() * dlogits;  // (in × T·B)

  std::vector<Mat<T>> dh(L), dc(L);
  for (std::size_t l = 0; l < L; ++l) {
    dh[l].zeros(H, B);
    dc[l].zeros(H, B);
    SequenceCache<T>& sc = st.layer[l];
    sc.dxw.set_size(layers_[l].gate_rows(), N);
    sc.dhw.set_size(layers_[l].gate_rows(), N);
    sc.dh_prev.set_size(H, B);
    sc.dc_prev.zeros(H, B);
  }
  Mat<T> dEY(config_.emb, N, arma::fill::zeros);
  Mat<T> dPRE, dht_carry;
  if (style_ == DecoderStyle::Luong) {
    dPRE.set_size(H, N);
    dht_carry.zeros(H, B);
  }
  st.dctx.set_size(H, B);
  st.dq.set_size(H, B);
  const Mat<T>& W_ih0 = params_.value(layers_[0].w_ih());
  const auto Wx = block(W_ih0, config_.emb, H);
  for (std::size_t t = Tn; t-- > 0;) {
    const Mat<T> dOt = block(dO, t * B, B);
    const Mat<T> top = block(st.layer[L - 1].hs, (t + 1) * B, B);
    if (style_ == DecoderStyle::None) {
      dh[L - 1] += dOt;
    } else if (style_ == DecoderStyle::Bahdanau) {
      dh[L - 1] += dOt.rows(0, H - 1);
      st.dctx = dOt.rows(H, 2 * H - 1);
      block(dEY, t * B, B) += dOt.rows(2 * H, dOt.n_rows - 1);
    } else {
      Mat<T> dpre = block(dPRE, t * B, B);
      const Mat<T> ht = block(st.HT, (t + 1) * B, B);
      if (config_.luong_output == LuongOutput::Tanh)
        for (std::size_t i = 0; i < dpre.n_elem; ++i)
          dpre[i] = (dOt[i] + dht_carry[i]) * (T(1) - ht[i] * ht[i]);
      else
        dpre = dOt + dht_carry;
      st.dcat = params_.value(w_c_).t() * dpre;  // (2H × B)
      st.dctx = st.dcat.rows(0, H - 1);
      dh[L - 1] += st.dcat.rows(H, 2 * H - 1);
      attention_->backward(st.dctx, top, t, cache.memory, *st.batch, *st.steps[t],
                           block(cache.A, t * B, B), st.dq, dmemory);
      dh[L - 1] += st.dq;
    }
    for (std::size_t l = L; l-- > 0;) {
      SequenceCache<T>& sc = st.layer[l];
      const Mat<T> h_prev = block(sc.hs, t * B, B), h = block(sc.hs, (t + 1) * B, B);
      const Mat<T> c_prev = block(sc.cs, mem ? t * B : 0, B), c = block(sc.cs, mem ? (t + 1) * B : 0, B);
      const Mat<T> cell = block(sc.cell, t * B, B);
      Mat<T> dxw = block(sc.dxw, t * B, B), dhw = block(sc.dhw, t * B, B);
      layers_[l].step_backward(dh[l], dc[l], h_prev, c_prev, h, c, cell, dxw, dhw, sc.dh_prev,
                               sc.dc_prev);
      if (l > 0) {
        st.dxin = params_.value(layers_[l].w_ih()).t() * dxw;  // (H × B)
        if (!st.layer_mask[l].is_empty()) st.dxin %= block(st.layer_mask[l], t * B, B);
        dh[l - 1] += st.dxin;
      }
      dh[l].swap(sc.dh_prev);
      if (mem) dc[l].swap(sc.dc_prev);
    }
    if (style_ != DecoderStyle::None) {
      const Mat<T> dxw0 = block(st.layer[0].dxw, t * B, B);
      if (style_ == DecoderStyle::Bahdanau) {
        st.dctx += Wx->t() * dxw0;
        const Mat<T> s_prev = block(st.layer[L - 1].hs, t * B, B);
        attention_->backward(st.dctx, s_prev, t, cache.memory, *st.batch, *st.steps[t],
                             block(cache.A, t * B, B), st.dq, dmemory);
        dh[L - 1] += st.dq;
      } else {
        dht_carry = Wx->t() * dxw0;
      }
    }
  }
  dh0 = dh;
  dc0 = dc;

  for (std::size_t l = 0; l < L; ++l) {
    SequenceCache<T>& sc = st.layer[l];
    layers_[l].recurrent_weights_backward(block(sc.hs, 0, N), sc.dhw);
    if (l > 0) layers_[l].project_inputs_backward(block(st.layer_in[l], 0, N), sc.dxw, nullptr);
  }
  const Mat<T>& dXW0 = st.layer[0].dxw;
  Mat<T>& dW_ih0 = params_.grad(layers_[0].w_ih());
  Mat<T> dWe = block(dW_ih0, 0, config_.emb);
  dWe += dXW0 * block(st.EY, 0, N).t();
  params_.grad(layers_[0].b_ih()) += arma::sum(dXW0, 1);
  if (style_ != DecoderStyle::None) {
    Mat<T> dWx = block(dW_ih0, config_.emb, H);
    if (style_ == DecoderStyle::Bahdanau) dWx += dXW0 * block(st.CTX, 0, N).t();
    else dWx += dXW0 * block(st.HT, 0, N).t();  // input at step t is h̃_{t−1} = HT slot t
  }
  if (style_ == DecoderStyle::Luong) params_.grad(w_c_) += dPRE * block(st.CAT, 0, N).t();
  dEY += block(W_ih0, 0, config_.emb)->t() * dXW0;
  if (!st.emb_mask.is_empty()) dEY %= st.emb_mask.cols(0, N - 1);
  Mat<T>& dE = params_.grad(embedding_);
  for (std::size_t t = 0; t < Tn; ++t)
    for (std::size_t b = 0; b < B; ++b) dE.col(tokens(t, b)) += dEY.col(t * B + b);
  if (attention_) attention_->prepare_backward(cache.memory, *st.batch, dmemory);
}

template <typename T>
void RecurrentDecoder<T>::reorder(std::size_t t, const std::vector<std::size_t>& parents,
                         DecoderCache<T>& cache) const {
  auto& st = decoder_state<RecurrentDecoderState<T>>(cache);
  const std::size_t B = cache.B;
  auto permute = [&](Mat<T>& m, std::size_t slot) {
    Mat<T> s = block(m, slot * B, B);
    st.dq = s;
    for (std::size_t b = 0; b < B; ++b) s.col(b) = st.dq.col(parents[b]);
  };
  const bool mem = layers_[0].cell().has_memory();
  for (auto& sc : st.layer) {
    permute(sc.hs, t + 1);
    if (mem) permute(sc.cs, t + 1);
  }
  if (style_ == DecoderStyle::Luong) permute(st.HT, t + 1);
}

template <typename T>
void RecurrentDecoder<T>::keep_columns(std::size_t t, const std::vector<std::size_t>& keep,
                                       const Memory<T>& memory, std::size_t T_max,
                                       DecoderCache<T>& cache) const {
  const std::size_t W = cache.B, L = layers_.size();
  const arma::uvec cols = arma::conv_to<arma::uvec>::from(keep);
  const bool mem = layers_[0].cell().has_memory();
  std::vector<Mat<T>> h(L), c(L);
  Mat<T> ht;
  {
    const auto& st = decoder_state<RecurrentDecoderState<T>>(cache);
    for (std::size_t l = 0; l < L; ++l) {
      h[l] = block(st.layer[l].hs, (t + 1) * W, W)->cols(cols);
      if (mem) c[l] = block(st.layer[l].cs, (t + 1) * W, W)->cols(cols);
    }
    if (style_ == DecoderStyle::Luong) ht = block(st.HT, (t + 1) * W, W)->cols(cols);
  }
  begin(memory, {}, {}, T_max, cache, nullptr);
  auto& st = decoder_state<RecurrentDecoderState<T>>(cache);
  const std::size_t W2 = keep.size();
  for (std::size_t l = 0; l < L; ++l) {
    block(st.layer[l].hs, (t + 1) * W2, W2) = h[l];
    if (mem) block(st.layer[l].cs, (t + 1) * W2, W2) = c[l];
  }
  if (!ht.is_empty()) block(st.HT, (t + 1) * W2, W2) = ht;
}

template <typename T>
void RecurrentDecoder<T>::add_statistics(const Lengths& tgt_len, std::size_t Tn,
                                         const DecoderCache<T>& cache, ForwardStatistics& out) const {
  const auto& st = decoder_state<RecurrentDecoderState<T>>(cache);
  const std::size_t B = cache.B;
  auto& gates = out.saturation["decoder gates"];
  auto& candidates = out.saturation["decoder candidates"];
  for (const SequenceCache<T>& sc : st.layer) {
    const auto rows = layers_[0].cell().activations(sc.hs.n_rows);
    for (std::size_t t = 0; t < Tn && !rows.empty(); ++t)
      for (std::size_t b = 0; b < B; ++b)
        if (t < tgt_len[b]) count_cell_column(sc.cell, t * B + b, rows, gates, candidates);
  }
  if (style_ == DecoderStyle::Luong && config_.luong_output == LuongOutput::Tanh) {
    auto& ht = out.saturation["h~"];
    const std::size_t H = st.HT.n_rows;
    for (std::size_t t = 0; t < Tn; ++t)
      for (std::size_t b = 0; b < B; ++b) {
        if (t >= tgt_len[b]) continue;
        const T* h = st.HT.colptr((t + 1) * B + b);  // slot 0 is h̃_0 = 0
        for (std::size_t i = 0; i < H; ++i) ht.saturated += saturated(h[i], false);
        ht.units += H;
      }
  }
}

template class RecurrentDecoder<float>;
template class RecurrentDecoder<double>;

}  // namespace attend
