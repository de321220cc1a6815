// Base scores e_j for position j of an example (then a = masked softmax(e)):
//   dot:        qᵀ h_j            scaled-dot: qᵀ h_j / √d        general: qᵀ W_a h_j
//   additive:   vᵀ tanh(W_q q + W_k h_j + b)   (Bahdanau)
//   concat:     vᵀ tanh(W_a [q; h_j])          (Luong; W_a = [W_aq | W_ah], no bias)
//   location:   (W_a q)_j                      (one row of W_a per position)
#include <cmath>

#include "attend/core/error.hpp"
#include "nn/attention_builtin.hpp"
#include "core/kernels.hpp"

namespace attend {

namespace {

// e_j = scale · qᵀ k_j with k = memory (dot) or the keys K = W_a·memory (general).
template <typename T>
class DotScore final : public Score<T> {
 public:
  DotScore(ParameterRegistry<T>& params, const ModelConfig& config, const std::string& prefix,
           bool general, bool scaled)
      : params_(params), general_(general), scale_(scaled ? 1.0 / std::sqrt(double(config.hidden)) : 1.0) {
    if (general)
      w_a_ = params.add(prefix + "W_a.weight", config.hidden, config.hidden,
                        1.0 / std::sqrt(double(config.hidden)));
  }
  void prepare(const Memory<T>& m, ScoreKeys<T>& keys) const override {
    if (!general_) return;
    keys.K = params_.value(w_a_) * *m.values;  // (H × B·S)
    keys.dK.zeros(keys.K.n_rows, keys.K.n_cols);
  }
  void forward(const Mat<T>& q, const Memory<T>& m, const ScoreKeys<T>& keys, AttentionState&,
               Mat<T>& e) const override {
    const Mat<T>& K = general_ ? keys.K : *m.values;
    const std::size_t d = K.n_rows;
    const T s = static_cast<T>(scale_);
    for (std::size_t b = 0; b < m.B; ++b)
      for (std::size_t j = 0; j < m.S; ++j)
        e(j, b) = j < (*m.len)[b] ? s * dot(q.colptr(b), K.colptr(b * m.S + j), d) : T(0);
  }
  void backward(const Mat<T>& de, const Mat<T>& q, const Memory<T>& m, ScoreKeys<T>& keys,
                AttentionState&, Mat<T>& dq, Mat<T>& dmemory) const override {
    const Mat<T>& K = general_ ? keys.K : *m.values;
    Mat<T>& dK = general_ ? keys.dK : dmemory;
    const std::size_t d = K.n_rows;
    const T s = static_cast<T>(scale_);
    for (std::size_t b = 0; b < m.B; ++b)
      for (std::size_t j = 0; j < (*m.len)[b]; ++j) {
        const T g = s * de(j, b);
        axpy(g, K.colptr(b * m.S + j), dq.colptr(b), d);
        axpy(g, q.colptr(b), dK.colptr(b * m.S + j), d);
      }
  }
  void prepare_backward(const Memory<T>& m, ScoreKeys<T>& keys, Mat<T>& dmemory) const override {
    if (!general_) return;
    const Mat<T>& dK = keys.dK;
    params_.grad(w_a_) += dK * m.values->t();
    dmemory += params_.value(w_a_).t() * dK;
  }

 private:
  ParameterRegistry<T>& params_;
  bool general_;
  double scale_;
  std::size_t w_a_ = 0;
};

// What the additive score keeps per step.
template <typename T>
struct AdditiveStep : AttentionState {
  Mat<T> qw;   // W_q q (H × B)
  Mat<T> U;    // tanh(W_q q + k_j) for every position (H × B·S)
  Mat<T> dqw;  // ∂L/∂(W_q q) (H × B)
};

// vᵀ tanh(W_q q + W_k h_j [+ b]); for concat W_q and W_k are the two column blocks of W_a.
template <typename T>
class AdditiveScore final : public Score<T> {
 public:
  AdditiveScore(ParameterRegistry<T>& params, const ModelConfig& config, const std::string& prefix,
                bool concat)
      : params_(params), concat_(concat), H_(config.hidden) {
    const double k = 1.0 / std::sqrt(double(H_));
    if (concat) {
      w_a_ = params.add(prefix + "W_a.weight", H_, 2 * H_, 1.0 / std::sqrt(2.0 * H_));
    } else {
      w_q_ = params.add(prefix + "W_q.weight", H_, H_, k);
      w_k_ = params.add(prefix + "W_k.weight", H_, H_, k);
      b_ = params.add(prefix + "b", H_, 1, k, TorchLayout::Vector);
    }
    v_ = params.add(prefix + "v.weight", 1, H_, k);
  }
  std::unique_ptr<AttentionState> make_step_state() const override {
    return std::make_unique<AdditiveStep<T>>();
  }
  void prepare(const Memory<T>& m, ScoreKeys<T>& keys) const override {
    Mat<T>& K = keys.K;
    if (concat_) {
      K = wk(params_.value(w_a_)) * *m.values;  // (H × B·S)
    } else {
      K = params_.value(w_k_) * *m.values;
      K.each_col() += params_.value(b_).col(0);
    }
    keys.dK.zeros(K.n_rows, K.n_cols);
  }
  void forward(const Mat<T>& q, const Memory<T>& m, const ScoreKeys<T>& keys,
               AttentionState& step, Mat<T>& e) const override {
    AdditiveStep<T>& st = state_as<AdditiveStep<T>>(step);
    const Mat<T>& K = keys.K;
    Mat<T>& qw = st.qw;
    Mat<T>& U = st.U;
    if (concat_) qw = wq(params_.value(w_a_)) * q;  // (H × B)
    else qw = params_.value(w_q_) * q;
    U.set_size(H_, m.B * m.S);
    const T* v = params_.value(v_).memptr();
    for (std::size_t b = 0; b < m.B; ++b)
      for (std::size_t j = 0; j < m.S; ++j) {
        if (j >= (*m.len)[b]) { e(j, b) = 0; continue; }
        const T* k = K.colptr(b * m.S + j);
        const T* x = qw.colptr(b);
        T* u = U.colptr(b * m.S + j);
        for (std::size_t i = 0; i < H_; ++i) u[i] = tanh_fast(x[i] + k[i]);
        e(j, b) = dot(v, u, H_);
      }
  }
  void backward(const Mat<T>& de, const Mat<T>& q, const Memory<T>& m, ScoreKeys<T>& keys,
                AttentionState& step, Mat<T>& dq, Mat<T>&) const override {
    AdditiveStep<T>& st = state_as<AdditiveStep<T>>(step);
    Mat<T>& dK = keys.dK;
    const Mat<T>& U = st.U;
    Mat<T>& dqw = st.dqw;
    dqw.zeros(H_, m.B);
    const T* v = params_.value(v_).memptr();
    T* dv = params_.grad(v_).memptr();
    for (std::size_t b = 0; b < m.B; ++b)
      for (std::size_t j = 0; j < (*m.len)[b]; ++j) {
        const T g = de(j, b);
        const T* u = U.colptr(b * m.S + j);
        T* dk = dK.colptr(b * m.S + j);
        T* dx = dqw.colptr(b);
        for (std::size_t i = 0; i < H_; ++i) {
          dv[i] += g * u[i];
          const T dpre = g * v[i] * (T(1) - u[i] * u[i]);
          dk[i] += dpre;
          dx[i] += dpre;
        }
      }
    if (concat_) {
      Mat<T> dW = wq(params_.grad(w_a_));
      dW += dqw * q.t();
      dq += wq(params_.value(w_a_)).t() * dqw;
    } else {
      params_.grad(w_q_) += dqw * q.t();
      dq += params_.value(w_q_).t() * dqw;
    }
  }
  void prepare_backward(const Memory<T>& m, ScoreKeys<T>& keys, Mat<T>& dmemory) const override {
    const Mat<T>& dK = keys.dK;
    if (concat_) {
      Mat<T> dW = wk(params_.grad(w_a_));
      dW += dK * m.values->t();
      dmemory += wk(params_.value(w_a_)).t() * dK;
    } else {
      params_.grad(w_k_) += dK * m.values->t();
      params_.grad(b_) += arma::sum(dK, 1);
      dmemory += params_.value(w_k_).t() * dK;
    }
  }

 private:
  Mat<T> wq(Mat<T>& W) const { return block(W, 0, H_); }
  Mat<T> wk(Mat<T>& W) const { return block(W, H_, H_); }
  const Mat<T> wq(const Mat<T>& W) const { return block(W, 0, H_); }
  const Mat<T> wk(const Mat<T>& W) const { return block(W, H_, H_); }

  ParameterRegistry<T>& params_;
  bool concat_;
  std::size_t H_;
  std::size_t w_a_ = 0, w_q_ = 0, w_k_ = 0, b_ = 0, v_ = 0;
};

// What the location score keeps per step.
template <typename T>
struct LocationStep : AttentionState {
  Mat<T> full;   // W_a q over all --max-src-len positions (max_src_len × B)
  Mat<T> dfull;  // ∂L/∂(W_a q)
};

// e = W_a q, one row of W_a per source position (Luong's location score).
template <typename T>
class LocationScore final : public Score<T> {
 public:
  LocationScore(ParameterRegistry<T>& params, const ModelConfig& config, const std::string& prefix)
      : params_(params), max_len_(config.max_src_len) {
    w_a_ = params.add(prefix + "W_a.weight", config.max_src_len, config.hidden,
                      1.0 / std::sqrt(double(config.hidden)));
  }
  std::unique_ptr<AttentionState> make_step_state() const override {
    return std::make_unique<LocationStep<T>>();
  }
  void prepare(const Memory<T>& m, ScoreKeys<T>&) const override {
    if (m.S > max_len_)
      throw Error("a source of length " + std::to_string(m.S) +
                  " is longer than location attention's --max-src-len " +
                  std::to_string(max_len_) + "; train with a larger --max-src-len");
  }
  void forward(const Mat<T>& q, const Memory<T>& m, const ScoreKeys<T>&, AttentionState& step,
               Mat<T>& e) const override {
    Mat<T>& full = state_as<LocationStep<T>>(step).full;
    full = params_.value(w_a_) * q;  // (max_src_len × B)
    e = full.rows(0, m.S - 1);
  }
  void backward(const Mat<T>& de, const Mat<T>& q, const Memory<T>& m, ScoreKeys<T>&,
                AttentionState& step, Mat<T>& dq, Mat<T>&) const override {
    Mat<T>& dfull = state_as<LocationStep<T>>(step).dfull;
    dfull.zeros(max_len_, m.B);
    dfull.rows(0, m.S - 1) = de;
    params_.grad(w_a_) += dfull * q.t();
    dq += params_.value(w_a_).t() * dfull;
  }

 private:
  ParameterRegistry<T>& params_;
  std::size_t max_len_;
  std::size_t w_a_;
};

// Builds Kind<T>(params, config, prefix, args...).
template <template <typename> class Kind, typename... Args>
ScoreRegistry::Entry score(const std::string& name, const std::string& help, bool local,
                           AttentionTraits global, Args... args) {
  global.help = help;
  return ScoreRegistry::entry(
      name,
      [=](ParameterRegistry<float>& p, const ModelConfig& c, const std::string& prefix) {
        return std::unique_ptr<Score<float>>(new Kind<float>(p, c, prefix, args...));
      },
      [=](ParameterRegistry<double>& p, const ModelConfig& c, const std::string& prefix) {
        return std::unique_ptr<Score<double>>(new Kind<double>(p, c, prefix, args...));
      },
      ScoreTraits{help, local, std::move(global)});
}

// GEMM FLOPs of a score's own products (see GemmCost), per source position (keys projected once
// per batch) and per target step (the query): general projects the keys; additive and concat
// project the keys and the query; location multiplies W_a (max_src_len × H) with the query; dot
// and scaled-dot have no product of their own.
AttentionTraits costing(double keys, double query) {
  AttentionTraits t;
  t.cost = [keys, query](const ModelConfig& c) {
    const double H = double(c.hidden);
    return GemmCost{keys * 3 * 2 * H * H, query * 3 * 2 * H * H};
  };
  return t;
}

// Location attention has one row of W_a per source position: its size comes from the data.
AttentionTraits location_traits() {
  AttentionTraits t;
  t.cost = [](const ModelConfig& c) {
    return GemmCost{0, 3 * 2 * double(c.max_src_len) * double(c.hidden)};
  };
  t.validate = [](const ModelConfig& c) {
    if (c.max_src_len < 1) throw Error("--max-src-len must be at least 1 for location attention");
  };
  t.fit_to_data = [](ModelConfig& c, std::size_t longest_source, bool user_set_sizes) {
    if (!user_set_sizes) {
      c.max_src_len = longest_source;
    } else if (c.max_src_len < longest_source) {
      throw Error("location attention: the data has sources of " + std::to_string(longest_source) +
                  " tokens but --max-src-len is " + std::to_string(c.max_src_len) +
                  "; raise --max-src-len to at least " + std::to_string(longest_source));
    }
  };
  t.source_limit = [](const ModelConfig& c) { return c.max_src_len; };
  return t;
}

}  // namespace

// In registration order: local_score_list() keeps it.
const ScoreRegistry& scores() {
  static const ScoreRegistry r(
      "score", "a score",
      {
          score<DotScore>("dot", "q^T h_j", true, costing(0, 0), false, false),
          score<DotScore>("scaled-dot", "q^T h_j / sqrt(d)", false, costing(0, 0), false, true),
          score<DotScore>("general", "q^T W_a h_j", true, costing(1, 0), true, false),
          score<AdditiveScore>("additive", "v^T tanh(W_q q + W_k h_j + b)", false, costing(1, 1), false),
          score<AdditiveScore>("concat", "v^T tanh(W_a [q; h_j])", true, costing(1, 1), true),
          score<LocationScore>("location", "(W_a q)_j", false, location_traits()),
      });
  return r;
}

std::vector<RegistryItem> local_score_list() {
  std::vector<RegistryItem> out;
  for (const auto& item : scores().list())
    if (scores().traits(item.name).local) out.push_back(item);
  return out;
}

std::string local_score_help() { return join_names(local_score_list()); }

}  // namespace attend
