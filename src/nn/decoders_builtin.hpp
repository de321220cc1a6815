// Built-in decoders (internal): the recurrent decoder (DESIGN §6) and the Transformer decoder
// (DESIGN §6b). Both are reached through the decoder registry (decoder_registry.cpp).
#pragma once
#include "attend/nn/decoder.hpp"
#include "attend/nn/encoder.hpp"

namespace attend {

// One step at a time over L recurrent layers. Styles (DESIGN §6):
//   bahdanau: c_t = attn(s_{t−1}, H); s_t = cell([E y_{t−1}; c_t], s_{t−1}); o_t = [s_t; c_t; E y_{t−1}]
//   luong:    h_t = cell([E y_{t−1}; h̃_{t−1}], h_{t−1}); c_t = attn(h_t, H); h̃_t = tanh(W_c [c_t; h_t]); o_t = h̃_t
//             (--luong-output linear: h̃_t = W_c [c_t; h_t])
//   none:     h_t = cell(E y_{t−1}, h_{t−1}); o_t = h_t
//   logits_t = W_out o_t + b_out (one GEMM over all steps of a batch when they are known)
template <typename T>
struct RecurrentDecoderState : DecoderState {
  Mat<T> EY, emb_mask;                  // emb × T·B
  std::vector<SequenceCache<T>> layer;  // per layer; state slot t+1 = after step t
  std::vector<Mat<T>> layer_in, layer_mask;  // per layer ≥ 1: its input (after dropout)
  Mat<T> CTX;                           // H × T·B context vectors
  Mat<T> HT;                            // luong: h̃, H × (T+1)·B, slot 0 = 0
  Mat<T> CAT;                           // luong: [c_t; h_t], 2H × T·B
  Mat<T> O;                             // output-layer inputs, in × T·B
  // The attention strategy's states, one per decoder step, reused across batches.
  std::unique_ptr<AttentionState> batch;
  std::vector<std::unique_ptr<AttentionState>> steps;
  Mat<T> dcat, dctx, dq, dtop, dxin;    // backward scratch
};

template <typename T>
class RecurrentDecoder final : public Decoder<T> {
 public:
  RecurrentDecoder(ParameterRegistry<T>& params, const ModelConfig& config, const Cell<T>& cell);

  void begin(const Memory<T>& memory, const std::vector<Mat<T>>& h0, const std::vector<Mat<T>>& c0,
             std::size_t T_max, DecoderCache<T>& cache, std::mt19937_64* rng) const override;
  void teacher_forced(const arma::umat& tokens, DecoderCache<T>& cache) const override;
  void step(std::size_t t, const arma::uword* tokens, DecoderCache<T>& cache) const override;
  void logits(std::size_t t0, std::size_t n, const DecoderCache<T>& cache, Mat<T>& out) const override;
  void backward(const Mat<T>& dlogits, std::size_t steps, const arma::umat& tokens,
                DecoderCache<T>& cache, Mat<T>& dmemory, std::vector<Mat<T>>& dh0,
                std::vector<Mat<T>>& dc0) const override;
  void reorder(std::size_t t, const std::vector<std::size_t>& parents, DecoderCache<T>& cache) const override;
  void keep_columns(std::size_t t, const std::vector<std::size_t>& keep, const Memory<T>& memory,
                    std::size_t T_max, DecoderCache<T>& cache) const override;
  void add_statistics(const Lengths& tgt_len, std::size_t steps, const DecoderCache<T>& cache,
                      ForwardStatistics& out) const override;

 private:
  std::size_t output_input_size() const;

  ParameterRegistry<T>& params_;
  ModelConfig config_;
  DecoderStyle style_;
  std::size_t embedding_, w_c_ = 0, out_w_, out_b_;
  std::vector<RecurrentLayer<T>> layers_;
  std::unique_ptr<Attention<T>> attention_;
};

}  // namespace attend
