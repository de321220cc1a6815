// The encoder-decoder model: embeddings, encoder, bridge, decoder with its attention strategy and
// the output layer, all parameters in one registry.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <random>

#include "attend/text/batch.hpp"
#include "attend/nn/decoder.hpp"
#include "attend/nn/encoder.hpp"

namespace attend {

// Everything one forward/backward pass needs, owned by the caller and reused across batches.
template <typename T>
struct Workspace {
  arma::umat src;                         // after optional source reversal
  Lengths src_len;
  EncoderCache<T> enc;
  Mat<T> memory, dmemory, dtop;           // H × B·S (batch-major) and H × S·B (time-major)
  std::vector<Mat<T>> h0, c0, dh0, dc0;   // decoder initial states per layer
  std::vector<Mat<T>> dfinal_h, dfinal_c;
  DecoderCache<T> dec;
  arma::umat fed;                         // decoder input tokens actually fed (T × B)
  Mat<T> logits, dlogits;                 // V × T·B
  Col<T> scratch;                         // V: probabilities when not training
  HardAttentionPass hard;                 // --attention-fn hard while training (Memory::hard)
};

struct LossStats {
  double nll_sum = 0;        // Σ −log p over real target tokens
  std::size_t tokens = 0;    // real target tokens (including </s>)
  std::size_t correct = 0;   // argmax == reference (a column without a finite maximum never counts)
  // Some real target position had a NaN or infinite logit (its max or its Σ exp not finite):
  // nll_sum and the gradients are then not to be trusted. Never set for finite logits.
  bool non_finite = false;
  double mean() const { return tokens ? nll_sum / tokens : 0; }
};

struct TrainStepOptions {
  double teacher_forcing = 1.0;  // probability of feeding the reference token (else the argmax)
  double label_smoothing = 0.0;
  std::mt19937_64* rng = nullptr;  // dropout and scheduled sampling; nullptr = evaluation mode
  std::size_t normalizer = 0;      // tokens the mean is taken over; 0 = the batch's real target tokens
  // When set, the forward pass adds its statistics here (read from its own caches after the
  // pass: no second pass, and nothing is done when null).
  ForwardStatistics* statistics = nullptr;
  // Self-attention encoders, and decoders that can (DecoderTraits::skips_padding) under teacher
  // forcing, compute no padded position: the loss and its gradients are the same either way
  // (dropout included: the masks are drawn for every position, as without skipping).
  bool skip_padding = true;
  // Hard attention (--attention-fn hard) while training (rng set): the estimator's options
  // (nullptr = the defaults) and the REINFORCE baseline β, a moving average of the negative
  // log-likelihood per token (TrainState::reinforce_baseline; 0 = none yet).
  const HardAttentionOptions* hard = nullptr;
  double reinforce_baseline = 0;
};

template <typename T>
class Seq2Seq {
 public:
  // Validates the configuration and builds the model; parameters start from (seed, name).
  Seq2Seq(const ModelConfig& config, std::uint64_t seed);
  Seq2Seq(const Seq2Seq&) = delete;
  Seq2Seq& operator=(const Seq2Seq&) = delete;

  const ModelConfig& config() const { return config_; }
  ParameterRegistry<T>& params() { return params_; }
  const ParameterRegistry<T>& params() const { return params_; }
  const Decoder<T>& decoder() const { return *decoder_; }
  const Encoder<T>& encoder() const { return *encoder_; }

  // Mean cross-entropy over real target tokens; writes nothing but the workspace.
  LossStats loss(const Batch& batch, Workspace<T>& ws, const TrainStepOptions& opt = {}) const;
  // The same, and adds d(mean loss)/dθ to the registry's gradients (callers zero them).
  LossStats loss_and_grad(const Batch& batch, Workspace<T>& ws, const TrainStepOptions& opt = {});

  // Encodes a batch and sets the decoder up for up to T_max steps (inference).
  void start_decoding(const arma::umat& src, const Lengths& len, std::size_t T_max,
                      Workspace<T>& ws) const;
  // Same as start_decoding for one source, replicated k times (beam search).
  void start_decoding_replicated(const arma::umat& src, arma::uword len, std::size_t k,
                                 std::size_t T_max, Workspace<T>& ws) const;

 private:
  void encode(const arma::umat& src, const Lengths& len, Workspace<T>& ws,
              std::mt19937_64* rng) const;
  // Logits, loss statistics and, with `dlogits`, ws.dlogits = d(mean loss)/dlogits.
  LossStats forward(const Batch& batch, Workspace<T>& ws, bool dlogits,
                    const TrainStepOptions& opt) const;
  void bridge(Workspace<T>& ws) const;
  void collect_statistics(const Batch& batch, const Workspace<T>& ws, ForwardStatistics& out) const;
  void bridge_backward(Workspace<T>& ws);

  ModelConfig config_;
  // Encoder, decoder and strategy were built over this registry and write its gradients only
  // from the backward passes that loss_and_grad runs.
  ParameterRegistry<T> params_;
  std::unique_ptr<Cell<T>> cell_;
  std::unique_ptr<Encoder<T>> encoder_;
  std::unique_ptr<Decoder<T>> decoder_;
  DecoderTraits decoder_traits_;
  std::vector<std::size_t> bridge_hw_, bridge_hb_, bridge_cw_, bridge_cb_;
};

}  // namespace attend
