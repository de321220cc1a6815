// The decoder: one step at a time, so training (teacher forcing or scheduled sampling), greedy
// decoding and beam search all run the same code. Styles (DESIGN §6):
//   bahdanau: c_t = attn(s_{t−1}, H); s_t = cell([E y_{t−1}; c_t], s_{t−1}); o_t = [s_t; c_t; E y_{t−1}]
//   luong:    h_t = cell([E y_{t−1}; h̃_{t−1}], h_{t−1}); c_t = attn(h_t, H); h̃_t = tanh(W_c [c_t; h_t]); o_t = h̃_t
//             (--luong-output linear: h̃_t = W_c [c_t; h_t])
//   none:     h_t = cell(E y_{t−1}, h_{t−1}); o_t = h_t
//   logits_t = W_out o_t + b_out (one GEMM over all steps of a batch when they are known)
#pragma once
#include <random>

#include "attend/nn/attention.hpp"
#include "attend/nn/encoder.hpp"

namespace attend {

template <typename T>
struct DecoderCache {
  std::size_t T_max = 0, B = 0;
  Memory<T> memory;
  Mat<T> EY, emb_mask;                  // emb × T·B
  std::vector<SequenceCache<T>> layer;  // per layer; state slot t+1 = after step t
  std::vector<Mat<T>> layer_in, layer_mask;  // per layer ≥ 1: its input (after dropout)
  Mat<T> CTX;                           // H × T·B context vectors
  Mat<T> A;                             // S × T·B attention weights
  Mat<T> HT;                            // luong: h̃, H × (T+1)·B, slot 0 = 0
  Mat<T> CAT;                           // luong: [c_t; h_t], 2H × T·B
  Mat<T> O;                             // output-layer inputs, in × T·B
  // The attention strategy's states (its make_batch_state / make_step_state), one per decoder
  // step; made once by the strategy `states_of` and reused across batches.
  const Attention<T>* states_of = nullptr;
  std::unique_ptr<AttentionState> batch;
  std::vector<std::unique_ptr<AttentionState>> steps;
  Mat<T> dcat, dctx, dq, dtop, dxin;    // backward scratch
  std::mt19937_64* rng = nullptr;
};

template <typename T>
class Decoder {
 public:
  Decoder(ParameterRegistry<T>& params, const ModelConfig& config, const Cell<T>& cell);

  DecoderStyle style() const { return style_; }
  std::size_t output_input_size() const;
  const Attention<T>* attention() const { return attention_.get(); }

  // Sets up a batch of B examples for up to T_max steps from initial states (per layer, H × B)
  // and the encoder memory (kept by pointer: it must outlive the cache's use).
  void begin(const Memory<T>& memory, const std::vector<Mat<T>>& h0, const std::vector<Mat<T>>& c0,
             std::size_t T_max, DecoderCache<T>& cache, std::mt19937_64* rng) const;
  // Embeds the input tokens of steps 0 … T−1 at once (teacher forcing): tokens is T × B.
  void embed_all(const arma::umat& tokens, DecoderCache<T>& cache) const;
  // Runs step t. tokens: the B input tokens of this step, or nullptr when embed_all provided them.
  void step(std::size_t t, const arma::uword* tokens, DecoderCache<T>& cache) const;
  // logits (V × n·B) for steps t0 … t0+n−1.
  void logits(std::size_t t0, std::size_t n, const DecoderCache<T>& cache, Mat<T>& out) const;
  // Backward over steps 0 … T−1 from dlogits (V × T·B). Accumulates parameter gradients,
  // dmemory (d × B·S) and the gradients on the initial states (dh0, dc0: per layer).
  void backward(const Mat<T>& dlogits, std::size_t steps, const arma::umat& tokens,
                DecoderCache<T>& cache, Mat<T>& dmemory, std::vector<Mat<T>>& dh0,
                std::vector<Mat<T>>& dc0) const;
  // Beam search: after step t, column b of the new state takes column parents[b]'s values.
  void reorder(std::size_t t, const std::vector<std::size_t>& parents, DecoderCache<T>& cache) const;
  // Attention weights of step t (S × B), empty without attention.
  // A read-only view into the cache: hold it (`const auto w = …`) while reading.
  ConstBlock<T> weights(std::size_t t, const DecoderCache<T>& cache) const;

 private:
  ParameterRegistry<T>& params_;
  ModelConfig config_;
  DecoderStyle style_;
  std::size_t embedding_, w_c_ = 0, out_w_, out_b_;
  std::vector<RecurrentLayer<T>> layers_;
  std::unique_ptr<Attention<T>> attention_;
};

}  // namespace attend
