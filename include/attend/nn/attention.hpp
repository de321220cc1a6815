// The attention strategy interface. A strategy scores the encoder memory against a query and
// returns a context vector and weights; backward returns the gradients on the query, the memory
// and its own parameters. Strategies are built by name from a registry; a user's own strategy
// registers the same way and then works everywhere a built-in one does.
#pragma once
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attend/nn/config.hpp"
#include "attend/core/params.hpp"

namespace attend {

using Lengths = std::vector<arma::uword>;

// Encoder outputs in batch-major blocks: column b·S + j holds position j of example b, so
// example b's memory is the contiguous d × S matrix `example(b)`.
template <typename T>
struct Memory {
  const Mat<T>* values = nullptr;  // d × (B·S)
  const Lengths* len = nullptr;    // real length of each example
  std::size_t S = 0, B = 0;

  std::size_t dim() const { return values->n_rows; }
  const Mat<T> example(std::size_t b) const { return block(*values, b * S, S); }
};

// Scratch space a strategy keeps between calls, owned by the caller: slot i is any matrix the
// strategy wants. Sizes persist, so after the first batch nothing is allocated.
template <typename T>
struct AttentionCache {
  std::deque<Mat<T>> slots;  // a deque: growing it keeps references to earlier slots valid
  Mat<T>& operator[](std::size_t i) {
    if (i >= slots.size()) slots.resize(i + 1);
    return slots[i];
  }
};

template <typename T>
class Attention {
 public:
  virtual ~Attention() = default;
  // Once per batch: whatever does not depend on the query (key projections).
  virtual void prepare(const Memory<T>& memory, AttentionCache<T>& batch) const {
    (void)memory;
    (void)batch;
  }
  // Decoder step t (0-based): query q (H × B) → context (d × B), weights (S × B, zero past each
  // example's length).
  virtual void forward(const Mat<T>& q, std::size_t t, const Memory<T>& memory,
                       AttentionCache<T>& batch, AttentionCache<T>& step, Mat<T>& context,
                       Mat<T>& weights) const = 0;
  // dcontext → dq (overwritten); dmemory (d × B·S) accumulates. Called with the step cache that
  // forward filled, in reverse step order. Gradients on batch-level keys may be kept in `batch`.
  virtual void backward(const Mat<T>& dcontext, const Mat<T>& q, std::size_t t,
                        const Memory<T>& memory, AttentionCache<T>& batch,
                        AttentionCache<T>& step, const Mat<T>& weights, Mat<T>& dq,
                        Mat<T>& dmemory) const = 0;
  // After every step's backward: gradients through the batch-level keys.
  virtual void prepare_backward(const Memory<T>& memory, AttentionCache<T>& batch,
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

template <typename T>
std::unique_ptr<Attention<T>> make_attention(const std::string& name, ParameterRegistry<T>& params,
                                             const ModelConfig& config, const std::string& prefix);
std::vector<std::string> attention_names();
bool attention_known(const std::string& name);
// Registers a strategy for both element types (float for training, double for gradient checks).
void register_attention(const std::string& name, AttentionFactory<float> f32,
                        AttentionFactory<double> f64);

// Registers `Strategy<float>` and `Strategy<double>`, each constructed as
// Strategy<T>(params, config, prefix).
template <template <typename> class Strategy>
void register_attention(const std::string& name) {
  register_attention(
      name,
      [](ParameterRegistry<float>& p, const ModelConfig& c, const std::string& prefix) {
        return std::unique_ptr<Attention<float>>(new Strategy<float>(p, c, prefix));
      },
      [](ParameterRegistry<double>& p, const ModelConfig& c, const std::string& prefix) {
        return std::unique_ptr<Attention<double>>(new Strategy<double>(p, c, prefix));
      });
}

// Helpers for strategies: softmax over positions lo[b] … hi[b] of column b (zero elsewhere) and
// its backward, de = a ⊙ (da − Σ a ⊙ da).
template <typename T>
void window_softmax(const Mat<T>& e, const Lengths& lo, const Lengths& hi, Mat<T>& a);
template <typename T>
void softmax_backward(const Mat<T>& a, const Mat<T>& da, Mat<T>& de);

}  // namespace attend
