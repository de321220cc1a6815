// The attention strategy interface. A strategy scores the encoder memory against a query and
// returns a context vector and weights; backward returns the gradients on the query, the memory
// and its own parameters. Strategies are built by name from a registry; a user's own strategy
// registers the same way and then works everywhere a built-in one does.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attend/core/params.hpp"
#include "attend/core/registry.hpp"
#include "attend/nn/attention_fn.hpp"
#include "attend/nn/cost.hpp"
#include "attend/nn/config.hpp"

namespace attend {

using Lengths = std::vector<arma::uword>;

// Encoder outputs in batch-major blocks: column b·S + j holds position j of example b, so
// example b's memory is the contiguous d × S matrix `example(b)`.
template <typename T>
struct Memory {
  const Mat<T>* values = nullptr;  // d × (B·S)
  const Lengths* len = nullptr;    // real length of each example
  std::size_t S = 0, B = 0;
  // A training pass of hard attention (--attention-fn hard): where to draw and how to estimate
  // the score's gradient (attention_fn.hpp). nullptr = evaluation: the deterministic argmax.
  HardAttentionPass* hard = nullptr;

  std::size_t dim() const { return values->n_rows; }
  ConstBlock<T> example(std::size_t b) const { return block(*values, b * S, S); }
};

// What a strategy keeps between calls: each strategy derives its own structs and creates them
// with make_batch_state / make_step_state. The caller owns them (the decoder keeps one batch
// state and one step state per decoder step and reuses them across batches): sizes persist, so
// after the first batch nothing is allocated, and two threads decoding with their own states
// share nothing.
struct AttentionState {
  virtual ~AttentionState() = default;
};

// A strategy's own state type back from the base; a state made by another strategy throws
// std::bad_cast instead of being misread. Once per call, cheap next to the products.
template <class State>
State& state_as(AttentionState& state) {
  return dynamic_cast<State&>(state);
}
template <class State>
const State& state_as(const AttentionState& state) {
  return dynamic_cast<const State&>(state);
}

// The positions a step attended to, lo[b] … hi[b] of example b (inclusive): the local
// strategies' step states derive from it, so a caller can read their window.
struct WindowState : AttentionState {
  Lengths lo, hi;
};

// Attention weights beyond a model's default view, named: a Transformer decoder's cross-attention
// per layer and head ("layer 1 head 0", S × B per output step) and a self-attention encoder's
// ("encoder layer 0 head 2", queries × keys of one example).
template <typename T>
struct AttentionView {
  std::string name;
  Mat<T> weights;
};

template <typename T>
class Attention {
 public:
  virtual ~Attention() = default;
  // The states this strategy's calls take; the defaults keep nothing.
  virtual std::unique_ptr<AttentionState> make_batch_state() const {
    return std::make_unique<AttentionState>();
  }
  virtual std::unique_ptr<AttentionState> make_step_state() const {
    return std::make_unique<AttentionState>();
  }
  // Once per batch: whatever does not depend on the query (key projections).
  virtual void prepare(const Memory<T>& memory, AttentionState& batch) const {
    (void)memory;
    (void)batch;
  }
  // Decoder step t (0-based): query q (H × B) → context (d × B), weights (S × B, zero past each
  // example's length).
  virtual void forward(const Mat<T>& q, std::size_t t, const Memory<T>& memory,
                       AttentionState& batch, AttentionState& step, Mat<T>& context,
                       Mat<T>& weights) const = 0;
  // dcontext → dq (overwritten); dmemory (d × B·S) accumulates. Called with the step state that
  // forward filled, in reverse step order. Gradients on batch-level keys may be kept in `batch`.
  virtual void backward(const Mat<T>& dcontext, const Mat<T>& q, std::size_t t,
                        const Memory<T>& memory, AttentionState& batch, AttentionState& step,
                        const Mat<T>& weights, Mat<T>& dq, Mat<T>& dmemory) const = 0;
  // The weights alone, and their backward from ∂L/∂weights (dq overwritten, dmemory
  // accumulated): what a head of the Transformer decoder's cross-attention calls, taking the
  // context from its own values (DESIGN §6b; AttentionTraits::per_head says a strategy has them).
  virtual void forward_weights(const Mat<T>& q, std::size_t t, const Memory<T>& memory,
                               AttentionState& batch, AttentionState& step, Mat<T>& weights) const;
  virtual void backward_weights(const Mat<T>& dweights, const Mat<T>& q, std::size_t t,
                                const Memory<T>& memory, AttentionState& batch, AttentionState& step,
                                Mat<T>& dq, Mat<T>& dmemory) const;
  // After every step's backward: gradients through the batch-level keys.
  virtual void prepare_backward(const Memory<T>& memory, AttentionState& batch,
                                Mat<T>& dmemory) const {
    (void)memory;
    (void)batch;
    (void)dmemory;
  }
};

// A factory declares the strategy's parameters (names under `prefix`, e.g. "decoder.attention.")
// in the registry and returns the strategy; it may return nullptr for "no attention".
template <typename T>
using AttentionFactory = std::function<std::unique_ptr<Attention<T>>(
    ParameterRegistry<T>& params, const ModelConfig& config, const std::string& prefix)>;

// What the rest of the library knows about a strategy besides how to build it. Every member may
// be left empty (a user strategy's defaults): no extra checks, nothing fitted to the data, any
// source length, no GEMM cost counted, the luong style for --decoder auto.
struct AttentionTraits {
  std::string help;                             // one line for --help
  DecoderStyle decoder = DecoderStyle::Luong;   // what --decoder auto resolves to; None: no context
  std::function<void(const ModelConfig&)> validate;  // throws attend::Error saying what to change
  // Sizes that depend on the data (see ModelConfig::fit_to_data).
  std::function<void(ModelConfig&, std::size_t longest_source, bool user_set_sizes)> fit_to_data;
  std::function<std::size_t(const ModelConfig&)> source_limit;  // longest source; 0 = any
  std::function<GemmCost(const ModelConfig&)> cost;             // for `attend bench`
  // Serves as the score of each head of the Transformer decoder's cross-attention: it implements
  // forward_weights / backward_weights and is built with config.hidden = the head width.
  bool per_head = false;
  // Reads ModelConfig::attention_fn (softmax | sparsemax | entmax15 | hard) for its normalizer; a
  // strategy without it accepts softmax only (validate refuses the others).
  bool attention_fn = false;
};

template <typename T>
std::unique_ptr<Attention<T>> make_attention(const std::string& name, ParameterRegistry<T>& params,
                                             const ModelConfig& config, const std::string& prefix);
// Registered strategies in registration order (built-ins first): names, {name, help} pairs, and
// "none | bahdanau | …" for help texts.
std::vector<std::string> attention_names();
std::vector<RegistryItem> attention_list();
std::string attention_help();
bool attention_known(const std::string& name);
// A strategy's traits; throws attend::Error naming the valid strategies when the name is unknown.
AttentionTraits attention_traits(const std::string& name);
// Registers a strategy for both element types (float for training, double for gradient checks).
// Throws attend::Error when the name is already registered.
void register_attention(const std::string& name, AttentionFactory<float> f32,
                        AttentionFactory<double> f64, AttentionTraits traits = {});

// Registers `Strategy<float>` and `Strategy<double>`, each constructed as
// Strategy<T>(params, config, prefix).
template <template <typename> class Strategy>
void register_attention(const std::string& name, AttentionTraits traits = {}) {
  register_attention(
      name,
      [](ParameterRegistry<float>& p, const ModelConfig& c, const std::string& prefix) {
        return std::unique_ptr<Attention<float>>(new Strategy<float>(p, c, prefix));
      },
      [](ParameterRegistry<double>& p, const ModelConfig& c, const std::string& prefix) {
        return std::unique_ptr<Attention<double>>(new Strategy<double>(p, c, prefix));
      },
      std::move(traits));
}

// The base scores local-m / local-p accept for --score ("dot | general | concat").
std::vector<RegistryItem> local_score_list();
std::string local_score_help();

// Helpers for strategies: softmax over positions lo[b] … hi[b] of column b (zero elsewhere) and
// its backward, de = a ⊙ (da − Σ a ⊙ da).
template <typename T>
void window_softmax(const Mat<T>& e, const Lengths& lo, const Lengths& hi, Mat<T>& a);
template <typename T>
void softmax_backward(const Mat<T>& a, const Mat<T>& da, Mat<T>& de);

}  // namespace attend
