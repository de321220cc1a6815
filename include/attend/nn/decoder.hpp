// The decoder interface and its registry. A decoder turns the encoder memory and the target
// prefix into logits. Training runs every target position of a batch at once (teacher_forced);
// decoding runs one step at a time (step), so greedy decoding, beam search and scheduled
// sampling share the same code. Built-in decoders (DESIGN §6, §6b):
//   auto | bahdanau | luong  the recurrent decoder in that style (decoder_recurrent.cpp)
//   transformer             a stack of Transformer decoder layers (decoder_transformer.cpp)
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "attend/nn/attention.hpp"
#include "attend/nn/cell.hpp"

namespace attend {

// What a forward pass's activations look like, over the batch's real positions only (no padding):
// why a model learns slowly shows here (TrainOptions::diagnostics_every). Counts, so that shards
// of a batch add up to the whole batch's figures.
struct ForwardStatistics {
  struct Share {
    std::size_t saturated = 0, units = 0;
    double value() const { return units ? double(saturated) / double(units) : 0.0; }
  };
  // "h~" (luong style with tanh: |h̃| > 0.99), "decoder gates" / "encoder gates" (sigmoids
  // outside [0.01, 0.99]), "decoder candidates" / "encoder candidates" (the cells' tanh
  // candidates, |·| > 0.99). A group appears only when the model has such units.
  std::map<std::string, Share> saturation;
  double entropy_sum = 0;          // Σ over output steps of −Σ_j a_j ln a_j (nats)
  double uniform_entropy_sum = 0;  // Σ over the same steps of ln(source length)
  std::size_t attention_steps = 0; // real output steps with attention; 0 without attention
  // Sparsity (--attention-fn sparsemax / entmax15 give exact zeros): over the same steps, the
  // real source positions and those whose weight is exactly 0. Share of zeros = zero_weights /
  // attention_positions; mean support = (attention_positions − zero_weights) / attention_steps.
  std::size_t attention_positions = 0, zero_weights = 0;

  void add(const ForwardStatistics& other);
};

// What a decoder keeps of a batch besides what every decoder has: each decoder derives its own
// and makes it with Decoder::make_state.
struct DecoderState {
  virtual ~DecoderState() = default;
};

template <typename T>
struct DecoderCache {
  std::size_t T_max = 0, B = 0;
  Memory<T> memory;              // kept by pointer: must outlive the cache's use
  Mat<T> A;                      // the attention weights each step shows (S × T·B; see weights())
  std::mt19937_64* rng = nullptr;  // dropout; nullptr = evaluation
  // Set before teacher_forced, for a decoder whose traits say skips_padding: the columns t·B + b
  // whose logits are wanted (the real target positions), in order; empty: every column. Such a
  // decoder computes only those: logits() of that call are V × real.size() in this order, and
  // backward takes dlogits of that shape.
  std::vector<std::size_t> real;
  // The decoder's own activations, made by the decoder `state_of` and reused across batches.
  const void* state_of = nullptr;
  std::unique_ptr<DecoderState> state;
};

// A decoder's state back from the cache; a state made by another decoder throws std::bad_cast.
template <class State, typename T>
State& decoder_state(DecoderCache<T>& cache) {
  return dynamic_cast<State&>(*cache.state);
}
template <class State, typename T>
const State& decoder_state(const DecoderCache<T>& cache) {
  return dynamic_cast<const State&>(*cache.state);
}

template <typename T>
class Decoder {
 public:
  virtual ~Decoder() = default;

  // Sets up a batch of B examples for up to T_max steps from the encoder memory and, for decoders
  // that take them, initial states (per layer, H × B; entries may be empty).
  virtual void begin(const Memory<T>& memory, const std::vector<Mat<T>>& h0,
                     const std::vector<Mat<T>>& c0, std::size_t T_max, DecoderCache<T>& cache,
                     std::mt19937_64* rng) const = 0;
  // Teacher forcing: runs steps 0 … T−1 with the input tokens (T × B) known in advance.
  virtual void teacher_forced(const arma::umat& tokens, DecoderCache<T>& cache) const = 0;
  // Runs step t on the B input tokens of this step (steps 0 … t−1 ran before).
  virtual void step(std::size_t t, const arma::uword* tokens, DecoderCache<T>& cache) const = 0;
  // logits (V × n·B) for steps t0 … t0+n−1.
  virtual void logits(std::size_t t0, std::size_t n, const DecoderCache<T>& cache, Mat<T>& out) const = 0;
  // Backward over steps 0 … T−1 from dlogits (V × T·B); `tokens` are the inputs fed. Accumulates
  // parameter gradients and dmemory (d × B·S); writes the gradients on the initial states.
  virtual void backward(const Mat<T>& dlogits, std::size_t steps, const arma::umat& tokens,
                        DecoderCache<T>& cache, Mat<T>& dmemory, std::vector<Mat<T>>& dh0,
                        std::vector<Mat<T>>& dc0) const = 0;
  // Beam search: after step t, column b takes column parents[b]'s state.
  virtual void reorder(std::size_t t, const std::vector<std::size_t>& parents,
                       DecoderCache<T>& cache) const = 0;
  // Beam search: after step t only the columns `keep` go on, over `memory` (theirs, in that
  // order), for up to T_max steps in all.
  virtual void keep_columns(std::size_t t, const std::vector<std::size_t>& keep,
                            const Memory<T>& memory, std::size_t T_max,
                            DecoderCache<T>& cache) const = 0;
  // The attention weights of step t (S × B; empty without attention): the strategy's weights for
  // a recurrent decoder, the mean over the last layer's heads of the cross-attention for a
  // Transformer. A read-only view into the cache: hold it while reading.
  ConstBlock<T> weights(std::size_t t, const DecoderCache<T>& cache) const {
    if (cache.A.is_empty()) return block(cache.A, 0, 0);
    return block(cache.A, t * cache.B, cache.B);
  }
  // Every view of step t's attention the decoder has beyond weights() (per layer and head).
  virtual std::vector<AttentionView<T>> attention_views(std::size_t t, const DecoderCache<T>& cache) const {
    (void)t;
    (void)cache;
    return {};
  }
  // Adds the decoder's own saturation counts for the real positions (t < tgt_len[b]) of the
  // last teacher-forced pass.
  virtual void add_statistics(const Lengths& tgt_len, std::size_t steps, const DecoderCache<T>& cache,
                              ForwardStatistics& out) const {
    (void)tgt_len;
    (void)steps;
    (void)cache;
    (void)out;
  }
  // Called once the registry is allocated: parameters whose start is not uniform noise.
  virtual void initialize() const {}
};

// Builds a decoder over `params` (the cell is the model's recurrent cell).
template <typename T>
using DecoderFactory =
    std::function<std::unique_ptr<Decoder<T>>(ParameterRegistry<T>&, const ModelConfig&, const Cell<T>&)>;

// What the rest of the library knows about a decoder besides how to build it.
struct DecoderTraits {
  std::string help;                                  // one line for --help
  std::function<void(const ModelConfig&)> validate;  // throws attend::Error; may be empty
  // The style ModelConfig::style() reports: Auto resolves through the attention strategy
  // (recurrent decoders); Transformer for a Transformer decoder.
  DecoderStyle style = DecoderStyle::Auto;
  bool initial_state = true;       // starts from the encoder's final states (--bridge applies)
  bool scheduled_sampling = true;  // trains with --teacher-forcing below 1
  bool skips_padding = false;      // teacher_forced computes only DecoderCache::real
  std::string default_attention;   // what --attention means when not given ("": the model default)
};

// Registry by name. Built-in decoders: auto, bahdanau, luong (recurrent), transformer.
template <typename T>
std::unique_ptr<Decoder<T>> make_decoder(ParameterRegistry<T>& params, const ModelConfig& config,
                                         const Cell<T>& cell);
std::vector<RegistryItem> decoder_list();
std::string decoder_help();  // "auto | bahdanau | luong | transformer"
// A decoder's target embedding, `width` × tgt_vocab: decoder.embedding.weight, or with
// config.share_embeddings the encoder's encoder.embedding.weight (the encoder is built first).
// Throws attend::Error when the shared matrix has another shape.
template <typename T>
std::size_t target_embedding(ParameterRegistry<T>& params, const ModelConfig& config, std::size_t width,
                             double init_scale);
bool decoder_known(const std::string& name);
// Throws attend::Error naming the valid decoders when unknown.
DecoderTraits decoder_traits(const std::string& name);
// Throws attend::Error when the name is taken.
void register_decoder(const std::string& name, DecoderFactory<float> f32, DecoderFactory<double> f64,
                      DecoderTraits traits);

}  // namespace attend
