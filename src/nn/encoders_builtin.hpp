// The built-in self-attention encoders (the recurrent one is in attend/nn/encoder.hpp), for the
// encoder registry.
#pragma once
#include "attend/nn/encoder.hpp"
#include "attend/nn/transformer.hpp"

namespace attend {

// The shape of every self-attention layer of a configuration (d_model = hidden).
TransformerShape self_attention_shape(const ModelConfig& config);
// Checks what every self-attention layer, the encoder's or the decoder's, takes from the
// configuration (--self-heads dividing the width, --ffn, --activation); throws attend::Error.
void validate_self_attention_shape(const ModelConfig& config);
// The self-attention encoders' checks: the shape, --self-layers, no --bidirectional for transformer.
void validate_self_attention(const ModelConfig& config);

// √H-scaled embeddings (width H) plus sinusoidal positions, then `self_layers` Transformer layers.
// The decoder starts from the masked mean of the top layer over each source's real positions
// (every decoder layer; zero cell memory).
template <typename T>
class TransformerEncoder : public Encoder<T> {
 public:
  TransformerEncoder(ParameterRegistry<T>& params, const ModelConfig& config, const Cell<T>& cell);
  void forward(const arma::umat& src, const Lengths& len, EncoderCache<T>& cache,
               std::mt19937_64* rng) const override;
  void backward(const arma::umat& src, const Mat<T>& d_top, const std::vector<Mat<T>>& d_final_h,
                const std::vector<Mat<T>>& d_final_c, EncoderCache<T>& cache) const override;
  void initialize() const override { stack_.initialize(); }
  std::vector<AttentionView<T>> attention_views(const EncoderCache<T>& cache, std::size_t b) const override {
    return stack_.attention_views(cache.self, b);
  }

 private:
  ParameterRegistry<T>& params_;
  ModelConfig config_;
  bool cell_memory_;
  std::size_t embedding_;
  TransformerStack<T> stack_;
};

// The recurrent encoder, then `self_layers` Transformer layers over its outputs. The decoder
// starts from the recurrent layers' final states.
template <typename T>
class RecurrentSelfEncoder : public Encoder<T> {
 public:
  RecurrentSelfEncoder(ParameterRegistry<T>& params, const ModelConfig& config, const Cell<T>& cell);
  void forward(const arma::umat& src, const Lengths& len, EncoderCache<T>& cache,
               std::mt19937_64* rng) const override;
  void backward(const arma::umat& src, const Mat<T>& d_top, const std::vector<Mat<T>>& d_final_h,
                const std::vector<Mat<T>>& d_final_c, EncoderCache<T>& cache) const override;
  void initialize() const override { stack_.initialize(); }
  std::vector<AttentionView<T>> attention_views(const EncoderCache<T>& cache, std::size_t b) const override {
    return stack_.attention_views(cache.self, b);
  }

 private:
  RecurrentEncoder<T> rnn_;
  TransformerStack<T> stack_;
};

}  // namespace attend
