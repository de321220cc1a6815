#include "nn/encoders_builtin.hpp"

namespace attend {

template <typename T>
RecurrentSelfEncoder<T>::RecurrentSelfEncoder(ParameterRegistry<T>& params, const ModelConfig& config,
                                              const Cell<T>& cell)
    : rnn_(params, config, cell),
      stack_(params, "encoder.transformer.", self_attention_shape(config), config.self_layers) {}

template <typename T>
void RecurrentSelfEncoder<T>::forward(const arma::umat& src, const Lengths& len,
                                      EncoderCache<T>& cache, std::mt19937_64* rng) const {
  rnn_.forward(src, len, cache, rng);
  stack_.forward(cache.out.back(), len, cache.self_out, cache.self, rng, cache.skip_padding);
}

template <typename T>
void RecurrentSelfEncoder<T>::backward(const arma::umat& src, const Mat<T>& d_top,
                                       const std::vector<Mat<T>>& d_final_h,
                                       const std::vector<Mat<T>>& d_final_c,
                                       EncoderCache<T>& cache) const {
  if (d_top.is_empty()) cache.d_out.zeros(cache.self_out.back().n_rows, cache.S * cache.B);
  else cache.d_out = d_top;
  stack_.backward(cache.d_out, cache.self, cache.d_self);
  rnn_.backward(src, cache.d_self, d_final_h, d_final_c, cache);
}

template class RecurrentSelfEncoder<float>;
template class RecurrentSelfEncoder<double>;

}  // namespace attend
