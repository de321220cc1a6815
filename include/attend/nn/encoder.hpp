// The encoder interface, its registry, and the recurrent encoder with its layers. Sequences are
// column blocks: a (· × S·B) matrix whose block t (columns t·B … t·B+B−1) holds time step t of
// every example.
#pragma once
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "attend/nn/attention.hpp"
#include "attend/nn/cell.hpp"
#include "attend/nn/config.hpp"
#include "attend/nn/transformer.hpp"

namespace attend {

using Lengths = std::vector<arma::uword>;

// One direction of one layer: weight_ih (G·H × I), weight_hh (G·H × H), bias_ih, bias_hh.
template <typename T>
class RecurrentLayer {
 public:
  RecurrentLayer(ParameterRegistry<T>& params, const Cell<T>& cell, const std::string& prefix,
                 const std::string& suffix, std::size_t input, std::size_t hidden);

  std::size_t input_size() const { return input_; }
  std::size_t hidden_size() const { return hidden_; }
  std::size_t gate_rows() const { return cell_.gates() * hidden_; }
  const Cell<T>& cell() const { return cell_; }
  std::size_t w_ih() const { return w_ih_; }
  std::size_t b_ih() const { return b_ih_; }

  // XW = W_ih X + b_ih for every column at once: (G·H × N).
  void project_inputs(const Mat<T>& X, Mat<T>& XW) const;
  // dW_ih += dXW Xᵀ, db_ih += Σ dXW, and dX += W_ihᵀ dXW when dX is given.
  void project_inputs_backward(const Mat<T>& X, const Mat<T>& dXW, Mat<T>* dX) const;

  // One step: hw = W_hh h_prev + b_hh, then the cell. hw is caller-owned scratch.
  void step(const Mat<T>& xw, const Mat<T>& h_prev, const Mat<T>& c_prev, Mat<T>& h, Mat<T>& c,
            Mat<T>& cache, Mat<T>& hw) const;
  // Cell backward of one step; writes dxw, dhw and dh_prev (with W_hhᵀ dhw included), dc_prev.
  void step_backward(const Mat<T>& dh, const Mat<T>& dc, const Mat<T>& h_prev,
                     const Mat<T>& c_prev, const Mat<T>& h, const Mat<T>& c, const Mat<T>& cache,
                     Mat<T>& dxw, Mat<T>& dhw, Mat<T>& dh_prev, Mat<T>& dc_prev) const;
  // dW_hh += dHW H_prevᵀ, db_hh += Σ dHW over all steps at once.
  void recurrent_weights_backward(const Mat<T>& H_prev, const Mat<T>& dHW) const;

 private:
  ParameterRegistry<T>& params_;
  const Cell<T>& cell_;
  std::size_t input_, hidden_;
  std::size_t w_ih_, w_hh_, b_ih_, b_hh_;
};

// Activations of one direction of one layer over a sequence, in processing order: state slot 0
// is the initial state, slot k+1 the state after the k-th processed step.
template <typename T>
struct SequenceCache {
  Mat<T> xw;      // G·H × S·B
  Mat<T> hs, cs;  // H × (S+1)·B
  Mat<T> cell;    // cache_rows × S·B
  Mat<T> hw;      // G·H × B scratch
  Mat<T> dxw, dhw;                        // G·H × S·B
  Mat<T> dh, dc, dh_prev, dc_prev, keep;  // H × B scratch
};

// Runs a layer over a whole sequence (masked: a step past an example's length carries the state
// through unchanged). `reverse` processes t = S−1 … 0.
template <typename T>
void run_sequence(const RecurrentLayer<T>& layer, const Mat<T>& X, const Lengths& len,
                  std::size_t S, bool reverse, SequenceCache<T>& sc);
// dOut: gradient on each processed step's output, in processing order (H × S·B). dh_last/dc_last:
// gradient on the final state (may be empty). Accumulates weight gradients, writes dXW into sc.dxw
// and leaves the gradient on the initial state in sc.dh / sc.dc.
template <typename T>
void run_sequence_backward(const RecurrentLayer<T>& layer, const Lengths& len, std::size_t S,
                           bool reverse, const Mat<T>& dOut, const Mat<T>* dh_last,
                           const Mat<T>* dc_last, SequenceCache<T>& sc);

// Inverted dropout: mask entries are 0 or 1/(1−p).
template <typename T>
void dropout_mask(Mat<T>& mask, std::size_t rows, std::size_t cols, double p, std::mt19937_64& rng);

// What an encoder leaves for the bridge and the decoder, and its activations for backward.
template <typename T>
struct EncoderCache {
  // The memory the decoder attends to: H × S·B, time-major.
  const Mat<T>& top() const { return self_out.empty() ? out.back() : self_out.back(); }

  Mat<T> emb;                             // E × S·B (after dropout)
  Mat<T> emb_mask;                        // dropout mask on emb
  std::vector<Mat<T>> out;                // per layer: H × S·B, time order
  std::vector<Mat<T>> out_mask;           // per layer < L−1: dropout mask on its output
  std::vector<Mat<T>> in;                 // per layer: the layer's input after dropout
  std::vector<SequenceCache<T>> seq;      // per layer × direction
  // The decoder's initial states before the bridge, one per decoder layer: H × B (final_c
  // only for cells with memory).
  std::vector<Mat<T>> final_h, final_c;
  // Self-attention layers leave padded positions out of their products (what the memory holds
  // there is then no layer's output, and is read only as masked keys). Set before forward.
  bool skip_padding = true;
  std::vector<Mat<T>> self_out;                 // per self-attention layer: H × S·B
  std::vector<TransformerLayerCache<T>> self;   // per self-attention layer
  Mat<T> d_out, d_in, d_proc, d_self;           // scratch for backward
  std::size_t S = 0, B = 0;
  Lengths len;
};

// A source encoder: token ids in, memory (cache.top()) and initial decoder states
// (cache.final_h/final_c, config.layers of them) out.
template <typename T>
class Encoder {
 public:
  virtual ~Encoder() = default;
  // src: S × B token ids. rng == nullptr: no dropout.
  virtual void forward(const arma::umat& src, const Lengths& len, EncoderCache<T>& cache,
                       std::mt19937_64* rng) const = 0;
  // d_top: gradient on the memory (H × S·B, may be empty); d_final_h/c: per decoder layer
  // (entries may be empty). Adds to the registry's gradients.
  virtual void backward(const arma::umat& src, const Mat<T>& d_top,
                        const std::vector<Mat<T>>& d_final_h, const std::vector<Mat<T>>& d_final_c,
                        EncoderCache<T>& cache) const = 0;
  // Called once the registry is allocated: parameters whose start is not uniform noise.
  virtual void initialize() const {}
  // Example b's self-attention weights of the last forward, per layer and head (TransformerStack);
  // empty for an encoder without self-attention.
  virtual std::vector<AttentionView<T>> attention_views(const EncoderCache<T>& cache, std::size_t b) const {
    (void)cache;
    (void)b;
    return {};
  }
};

// Builds an encoder over `params` (the cell is the model's recurrent cell).
template <typename T>
using EncoderFactory =
    std::function<std::unique_ptr<Encoder<T>>(ParameterRegistry<T>&, const ModelConfig&, const Cell<T>&)>;

struct EncoderTraits {
  std::string help;                                // one line for --help
  std::function<void(const ModelConfig&)> validate;  // throws attend::Error; may be empty
  bool has_direction = true;                       // --bidirectional means something to it
};

// Registry by name. Built-in encoders: rnn, transformer, rnn+self.
template <typename T>
std::unique_ptr<Encoder<T>> make_encoder(ParameterRegistry<T>& params, const ModelConfig& config,
                                         const Cell<T>& cell);
std::vector<RegistryItem> encoder_list();
std::string encoder_help();  // "rnn | transformer | rnn+self"
bool encoder_known(const std::string& name);
// Throws attend::Error naming the valid encoders when unknown.
EncoderTraits encoder_traits(const std::string& name);
// Throws attend::Error when the name is taken.
void register_encoder(const std::string& name, EncoderFactory<float> f32, EncoderFactory<double> f64,
                      EncoderTraits traits);
// "relu | gelu": the feed-forward activations of self-attention layers.
std::string self_activation_help();

// embedding → L recurrent layers (DESIGN §4).
template <typename T>
class RecurrentEncoder : public Encoder<T> {
 public:
  RecurrentEncoder(ParameterRegistry<T>& params, const ModelConfig& config, const Cell<T>& cell);
  void forward(const arma::umat& src, const Lengths& len, EncoderCache<T>& cache,
               std::mt19937_64* rng) const override;
  void backward(const arma::umat& src, const Mat<T>& d_top, const std::vector<Mat<T>>& d_final_h,
                const std::vector<Mat<T>>& d_final_c, EncoderCache<T>& cache) const override;
  std::size_t layers() const { return layers_.size() / directions_; }

 private:
  ParameterRegistry<T>& params_;
  ModelConfig config_;
  std::size_t directions_;
  std::size_t embedding_;
  std::vector<RecurrentLayer<T>> layers_;  // layer l, direction d at l·directions + d
};

}  // namespace attend
