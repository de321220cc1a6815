#include <cmath>

#include "attend/core/error.hpp"
#include "nn/encoders_builtin.hpp"

namespace attend {

TransformerShape self_attention_shape(const ModelConfig& config) {
  TransformerShape s;
  s.width = config.hidden;
  s.heads = config.self_heads;
  s.ffn = config.ffn;
  s.norm_first = config.norm_first;
  s.gelu = config.activation == "gelu";
  s.dropout = config.dropout;
  return s;
}

void validate_self_attention_shape(const ModelConfig& c) {
  if (c.self_heads < 1) throw Error("--self-heads must be at least 1");
  if (c.hidden % c.self_heads != 0)
    throw Error("--self-heads " + std::to_string(c.self_heads) + " does not divide --hidden " +
                std::to_string(c.hidden) + ": each head of a self-attention layer takes " +
                "hidden / heads units");
  if (c.ffn < 1) throw Error("--ffn must be at least 1");
  if (c.activation != "relu" && c.activation != "gelu")
    throw Error("unknown activation '" + c.activation + "' (valid: relu, gelu)");
}

void validate_self_attention(const ModelConfig& c) {
  if (c.self_layers < 1) throw Error("--self-layers must be at least 1 for --encoder " + c.encoder);
  validate_self_attention_shape(c);
  if (c.encoder == "transformer" && c.bidirectional)
    throw Error("--bidirectional applies to recurrent encoders; --encoder transformer has none");
}

template <typename T>
TransformerEncoder<T>::TransformerEncoder(ParameterRegistry<T>& params, const ModelConfig& config,
                                          const Cell<T>& cell)
    : params_(params),
      config_(config),
      cell_memory_(cell.has_memory()),
      embedding_(params.add("encoder.embedding.weight", config.hidden, config.src_vocab, 0.1,
                            TorchLayout::TransposedMatrix)),
      stack_(params, "encoder.transformer.", self_attention_shape(config), config.self_layers) {}

template <typename T>
void TransformerEncoder<T>::forward(const arma::umat& src, const Lengths& len,
                                    EncoderCache<T>& cache, std::mt19937_64* rng) const {
  const std::size_t S = src.n_rows, B = src.n_cols, H = config_.hidden;
  cache.S = S;
  cache.B = B;
  cache.len = len;
  cache.out.clear();
  const Mat<T>& E = params_.value(embedding_);
  const Mat<T> pe = sinusoidal_positions<T>(H, S);
  const T scale = std::sqrt(T(H));
  cache.emb.set_size(H, S * B);
  for (std::size_t t = 0; t < S; ++t)
    for (std::size_t b = 0; b < B; ++b) {
      const arma::uword id = src(t, b);
      if (id >= E.n_cols) throw Error("source token id " + std::to_string(id) + " outside the vocabulary");
      cache.emb.col(t * B + b) = scale * E.col(id) + pe.col(t);
    }
  if (rng && config_.dropout > 0) {
    dropout_mask(cache.emb_mask, H, S * B, config_.dropout, *rng);
    cache.emb %= cache.emb_mask;
  } else {
    cache.emb_mask.reset();
  }
  stack_.forward(cache.emb, len, cache.self_out, cache.self, rng, cache.skip_padding);
  // The initial decoder state: mean over the real positions of the top layer.
  const Mat<T>& top = cache.self_out.back();
  Mat<T> pooled(H, B, arma::fill::zeros);
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t t = 0; t < len[b]; ++t) pooled.col(b) += top.col(t * B + b);
    pooled.col(b) /= T(len[b]);
  }
  cache.final_h.assign(config_.layers, pooled);
  cache.final_c.assign(config_.layers, cell_memory_ ? Mat<T>(H, B, arma::fill::zeros) : Mat<T>());
}

template <typename T>
void TransformerEncoder<T>::backward(const arma::umat& src, const Mat<T>& d_top,
                                     const std::vector<Mat<T>>& d_final_h,
                                     const std::vector<Mat<T>>&, EncoderCache<T>& cache) const {
  const std::size_t S = cache.S, B = cache.B, H = config_.hidden;
  if (d_top.is_empty()) cache.d_out.zeros(H, S * B);
  else cache.d_out = d_top;
  for (const Mat<T>& dh : d_final_h) {
    if (dh.is_empty()) continue;
    for (std::size_t b = 0; b < B; ++b) {
      const Col<T> share = dh.col(b) / T(cache.len[b]);
      for (std::size_t t = 0; t < cache.len[b]; ++t) cache.d_out.col(t * B + b) += share;
    }
  }
  stack_.backward(cache.d_out, cache.self, cache.d_in);
  if (!cache.emb_mask.is_empty()) cache.d_in %= cache.emb_mask;
  const T scale = std::sqrt(T(H));
  Mat<T>& dE = params_.grad(embedding_);
  for (std::size_t t = 0; t < S; ++t)
    for (std::size_t b = 0; b < B; ++b) dE.col(src(t, b)) += scale * cache.d_in.col(t * B + b);
}

template class TransformerEncoder<float>;
template class TransformerEncoder<double>;

}  // namespace attend
