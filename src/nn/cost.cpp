#include "attend/nn/cost.hpp"

#include "attend/nn/attention.hpp"
#include "attend/nn/config.hpp"

namespace attend {

double training_step_flops(const ModelConfig& c, std::size_t B, std::size_t S, std::size_t T,
                           std::size_t G) {
  const double Ns = double(S * B), Nt = double(T * B), H = double(c.hidden), E = double(c.emb);
  const double V = double(c.tgt_vocab), dirs = c.bidirectional ? 2 : 1, Hd = H / dirs;
  const DecoderStyle style = c.style();
  const bool attention = style != DecoderStyle::None;
  const bool recurrent = c.encoder != "transformer";
  double f = 0;
  if (c.encoder == "transformer" || c.encoder == "rnn+self") {
    const double F = double(c.ffn), Sd = double(S);
    // in_proj, out_proj, linear1, linear2 over every position; QKᵀ and the weighted values per
    // example (2 products forward, 4 backward, each 2·S·S·H summed over the heads).
    f += c.self_layers * (3 * 2 * (4 * H * H + 2 * H * F) * Ns + 6 * 2 * Sd * Sd * H * B);
  }
  const bool transformer = style == DecoderStyle::Transformer;
  for (std::size_t l = 0; l < c.layers; ++l) {
    const double in = l == 0 ? E : H;
    if (recurrent) f += dirs * 3 * 2 * G * Hd * (in + Hd) * Ns;       // encoder layer
    if (transformer) continue;
    const double din = l == 0 ? E + (attention ? H : 0) : H;
    f += 3 * 2 * G * H * (din + H) * Nt;                               // decoder layer
    if (c.bridge == Bridge::Dense) f += 3 * 2 * H * H * B * (G == 4 ? 2 : 1);
  }
  if (transformer) {
    // Per layer: self-attention in_proj and out_proj, the cross-attention's query and out_proj
    // over every target position, its keys and values over every source position, linear1 and
    // linear2; the causal QKᵀ and weighted values (on the full T × T block) and the cross-attention's
    // (T × S) per example. With --attention other than multihead, the heads' strategies add their
    // own products (not counted).
    const double F = double(c.ffn), Td = double(T), Sd = double(S);
    f += c.transformer_decoder_layers() *
         (3 * 2 * (6 * H * H + 2 * H * F) * Nt + 3 * 2 * 2 * H * H * Ns + 6 * 2 * Td * (Td + Sd) * H * B);
  }
  const double out_in = style == DecoderStyle::Bahdanau ? 2 * H + E : H;
  f += 3 * 2 * V * out_in * Nt;                                        // output layer
  if (style == DecoderStyle::Luong) f += 3 * 2 * H * 2 * H * Nt;       // W_c
  const AttentionTraits traits = attention_traits(c.attention);
  if (traits.cost && !transformer) {
    const GemmCost a = traits.cost(c);                                 // the strategy's own
    f += a.per_source_position * Ns;
    f += a.per_target_step * Nt;
  }
  return f;
}

}  // namespace attend
