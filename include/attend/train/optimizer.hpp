// Optimizers step the registry's flat value vector with its flat gradient vector.
#pragma once
#include <iosfwd>
#include <map>
#include <memory>
#include <string>

#include "attend/core/params.hpp"

namespace attend {

enum class OptimizerKind { Adam, Sgd };
std::string to_string(OptimizerKind kind);  // "adam", "sgd"
// Throws attend::Error "unknown optimizer 'x' (valid: adam, sgd)".
OptimizerKind parse_optimizer(const std::string& name);
// For Boost.Program_options: operator>> reads one word and sets failbit on an unknown name.
std::ostream& operator<<(std::ostream& out, OptimizerKind kind);
std::istream& operator>>(std::istream& in, OptimizerKind& kind);

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Adam;
  double lr = 1e-3;
  double momentum = 0.0;      // sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam

  // A positive learning rate; throws attend::Error naming the option.
  void validate() const;
};

// An optimizer's own variables, so that a checkpoint can carry them and a resumed run continue
// exactly: the update count and named flat vectors laid out like the parameters — Adam's
// "exp_avg" (m) and "exp_avg_sq" (v), SGD's "momentum_buffer" (u) — PyTorch's state names.
template <typename T>
struct OptimizerState {
  std::size_t steps = 0;
  std::map<std::string, Col<T>> buffers;
};

template <typename T>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step(Col<T>& values, const Col<T>& grads) = 0;
  virtual OptimizerState<T> state() const = 0;
  // Throws Error when a buffer is missing or has the wrong size (another model or optimizer).
  virtual void restore(const OptimizerState<T>& state) = 0;
  double lr = 1e-3;
};

template <typename T>
std::unique_ptr<Optimizer<T>> make_optimizer(const OptimizerConfig& config, std::size_t size);

// Scales grads so that their global L2 norm is at most max_norm (if max_norm > 0); returns the
// norm before clipping.
template <typename T>
double clip_global_norm(Col<T>& grads, double max_norm);

}  // namespace attend
