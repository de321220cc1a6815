// Optimizers step the registry's flat value vector with its flat gradient vector.
#pragma once
#include <memory>
#include <string>

#include "attend/params.hpp"

namespace attend {

struct OptimizerConfig {
  std::string name = "adam";  // adam | sgd
  double lr = 1e-3;
  double momentum = 0.0;      // sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam
};

template <typename T>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step(Col<T>& values, const Col<T>& grads) = 0;
  double lr = 1e-3;
};

template <typename T>
std::unique_ptr<Optimizer<T>> make_optimizer(const OptimizerConfig& config, std::size_t size);

// Scales grads so that their global L2 norm is at most max_norm (if max_norm > 0); returns the
// norm before clipping.
template <typename T>
double clip_global_norm(Col<T>& grads, double max_norm);

}  // namespace attend
