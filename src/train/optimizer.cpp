#include "attend/train/optimizer.hpp"

#include <cmath>
#include <istream>
#include <ostream>

#include "attend/core/error.hpp"

namespace attend {

namespace {

template <typename T>
void restore_buffer(const OptimizerState<T>& s, const char* name, Col<T>& into, const char* optimizer) {
  const auto it = s.buffers.find(name);
  if (it == s.buffers.end())
    throw Error(std::string("the saved ") + optimizer + " state has no '" + name + "' (saved by another optimizer?)");
  if (it->second.n_elem != into.n_elem)
    throw Error(std::string("the saved ") + optimizer + " state '" + name + "' has " +
                std::to_string(it->second.n_elem) + " values, the model " + std::to_string(into.n_elem));
  into = it->second;
}

// Adam (Kingma & Ba 2015), bias-corrected, one fused loop over the flat parameter vector:
//   m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²;  θ −= lr · m̂ / (√v̂ + ε)
template <typename T>
class Adam final : public Optimizer<T> {
 public:
  Adam(const OptimizerConfig& c, std::size_t n) : c_(c), m_(n, arma::fill::zeros), v_(n, arma::fill::zeros) {
    this->lr = c.lr;
  }
  void step(Col<T>& values, const Col<T>& grads) override {
    ++t_;
    const double bc1 = 1 - std::pow(c_.beta1, double(t_)), bc2 = 1 - std::pow(c_.beta2, double(t_));
    const T step = static_cast<T>(this->lr / bc1), b1 = T(c_.beta1), b2 = T(c_.beta2);
    const T inv_sqrt_bc2 = static_cast<T>(1 / std::sqrt(bc2)), eps = T(c_.eps);
    T* w = values.memptr();
    T* m = m_.memptr();
    T* v = v_.memptr();
    const T* g = grads.memptr();
    for (std::size_t i = 0; i < values.n_elem; ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      w[i] -= step * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
  }
  OptimizerState<T> state() const override { return {t_, {{"exp_avg", m_}, {"exp_avg_sq", v_}}}; }
  void restore(const OptimizerState<T>& s) override {
    restore_buffer(s, "exp_avg", m_, "adam");
    restore_buffer(s, "exp_avg_sq", v_, "adam");
    t_ = s.steps;
  }

 private:
  OptimizerConfig c_;
  Col<T> m_, v_;
  std::size_t t_ = 0;
};

// SGD with optional momentum: u = μ u + g; θ −= lr u
template <typename T>
class Sgd final : public Optimizer<T> {
 public:
  Sgd(const OptimizerConfig& c, std::size_t n) : momentum_(c.momentum) {
    this->lr = c.lr;
    if (momentum_ > 0) u_.zeros(n);
  }
  void step(Col<T>& values, const Col<T>& grads) override {
    const T lr = static_cast<T>(this->lr);
    if (momentum_ <= 0) {
      values -= lr * grads;
      return;
    }
    const T mu = static_cast<T>(momentum_);
    T* w = values.memptr();
    T* u = u_.memptr();
    const T* g = grads.memptr();
    for (std::size_t i = 0; i < values.n_elem; ++i) {
      u[i] = mu * u[i] + g[i];
      w[i] -= lr * u[i];
    }
  }
  OptimizerState<T> state() const override {
    OptimizerState<T> s;
    if (momentum_ > 0) s.buffers["momentum_buffer"] = u_;
    return s;
  }
  void restore(const OptimizerState<T>& s) override {
    if (momentum_ > 0) restore_buffer(s, "momentum_buffer", u_, "sgd");
  }

 private:
  double momentum_;
  Col<T> u_;
};

}  // namespace

std::string to_string(OptimizerKind kind) { return kind == OptimizerKind::Adam ? "adam" : "sgd"; }

OptimizerKind parse_optimizer(const std::string& name) {
  for (OptimizerKind k : {OptimizerKind::Adam, OptimizerKind::Sgd})
    if (to_string(k) == name) return k;
  throw Error("unknown optimizer '" + name + "' (valid: adam, sgd)");
}

std::ostream& operator<<(std::ostream& out, OptimizerKind kind) { return out << to_string(kind); }

std::istream& operator>>(std::istream& in, OptimizerKind& kind) {
  std::string word;
  if (in >> word) {
    try {
      kind = parse_optimizer(word);
    } catch (const Error&) {
      in.setstate(std::ios::failbit);
    }
  }
  return in;
}

void OptimizerConfig::validate() const {
  if (!(lr > 0)) throw Error("--lr must be positive");
}

template <typename T>
std::unique_ptr<Optimizer<T>> make_optimizer(const OptimizerConfig& config, std::size_t size) {
  config.validate();
  switch (config.kind) {
    case OptimizerKind::Adam: return std::make_unique<Adam<T>>(config, size);
    case OptimizerKind::Sgd: return std::make_unique<Sgd<T>>(config, size);
  }
  throw Error("unknown optimizer");
}

template <typename T>
double clip_global_norm(Col<T>& grads, double max_norm) {
  // Σ g² in blocks: each block's sum in T (vectorised), the blocks added in double.
  double sq = 0;
  const T* g = grads.memptr();
  for (std::size_t start = 0; start < grads.n_elem; start += 4096) {
    const std::size_t end = std::min<std::size_t>(grads.n_elem, start + 4096);
    T block_sum = 0;
#pragma omp simd reduction(+ : block_sum)
    for (std::size_t i = start; i < end; ++i) block_sum += g[i] * g[i];
    sq += double(block_sum);
  }
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) grads *= static_cast<T>(max_norm / norm);
  return norm;
}

template std::unique_ptr<Optimizer<float>> make_optimizer(const OptimizerConfig&, std::size_t);
template std::unique_ptr<Optimizer<double>> make_optimizer(const OptimizerConfig&, std::size_t);
template double clip_global_norm(Col<float>&, double);
template double clip_global_norm(Col<double>&, double);

}  // namespace attend
