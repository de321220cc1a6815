// The training loop: batches, optimizer steps, validation, early stopping, resuming.
#pragma once
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "attend/core/error.hpp"
#include "attend/text/batching.hpp"
#include "attend/train/distributed.hpp"
#include "attend/train/optimizer.hpp"
#include "attend/train/schedule.hpp"
#include "attend/nn/seq2seq.hpp"

namespace attend {

// Where a run stands, so that it can be saved in a checkpoint and continued (--resume): the
// step, the position in the current epoch's batch order, the random streams, the learning rate
// the early-stopping record and the optimizer's own variables (Adam's moments and step count).
struct TrainState {
  std::size_t step = 0;          // updates done
  std::size_t epoch = 0;         // epochs started (1-based once training has begun)
  std::size_t next_batch = 0;    // batches of the current epoch already used
  std::string epoch_rng;         // batch-order stream before the current epoch's order was drawn
  std::string sample_rng;        // dropout / scheduled-sampling stream (the shards' streams derive from it)
  double lr = 0;                 // learning rate after any plateau decay, before the schedule's factor
  double best_score = -std::numeric_limits<double>::infinity();  // best validation score so far
  std::size_t best_step = 0, bad_evals = 0;
  OptimizerState<float> optimizer;  // empty in checkpoints written before it was saved
  // Hard attention (--attention-fn hard): the REINFORCE baseline, a moving average of the
  // negative log-likelihood per token, and the batches it has seen (0 = none: the next step runs
  // without a baseline and the first batch's starts it). Stored only once set.
  double reinforce_baseline = 0;
  std::size_t reinforce_updates = 0;
  // The estimator's options of a run with hard attention (stored so that a resumed run can be
  // checked against them; absent for other runs and in older checkpoints).
  std::optional<HardAttentionOptions> hard;

  // As text key/value pairs ("step", "epoch", ..., "optimizer_steps") for the checkpoint's
  // configuration; the optimizer's buffers are tensors of their own (see save_model).
  std::map<std::string, std::string> to_map() const;
  // Throws Error naming the key for a missing or malformed value.
  static TrainState from_map(const std::map<std::string, std::string>& map);
};

// Why a run learns as it does: measured every TrainOptions::diagnostics_every steps on that
// step's training batch, from that step's own forward caches (ForwardStatistics; no extra pass)
// and its gradient before clipping. The report plots these next to the learning curves.
struct DiagnosticsPoint {
  std::size_t step = 0;
  // Unit group ("h~", "decoder gates", "encoder gates", ...) -> share of saturated units:
  // |tanh| > 0.99, or a sigmoid outside [0.01, 0.99].
  std::map<std::string, double> saturation;
  double attention_entropy = -1;  // nats per output step; -1 = no attention
  double uniform_entropy = -1;    // mean ln(source length) over the same steps, for scale
  // Parameter group ("embedding", "encoder", "attention", "decoder", "output") -> L2 norm of
  // its gradient before clipping.
  std::map<std::string, double> grad_norm;
};

struct TrainOptions {
  OptimizerConfig optimizer;
  double clip = 5.0;             // global gradient norm; 0 = off
  std::size_t batch = 64;
  std::size_t steps = 0;         // total updates; 0 = use epochs
  std::size_t epochs = 1;
  double teacher_forcing = 1.0;
  double label_smoothing = 0.0;
  std::uint64_t seed = 1;        // batch order, dropout, scheduled sampling
  std::size_t eval_every = 0;    // steps between validations; 0 = once per epoch
  std::size_t patience = 0;      // stop after this many validations without improvement; 0 = never
  double lr_decay = 1.0;         // multiply the learning rate by this when validation does not improve
  LrScheduleOptions lr_schedule; // warmup and decay by step (schedule.hpp); plateau decay multiplies on top
  bool keep_best = true;         // end with the parameters of the best validation
  std::size_t threads = 1;       // data-parallel shards per batch (use one BLAS thread with > 1)
  double max_seconds = 0;        // stop (after a final validation) once training took this long; 0 = no limit
  std::size_t diagnostics_every = 0;  // steps between DiagnosticsPoints; 0 = none
  // Train with subnormal floats flushed to zero (core/float_mode.hpp); the caller's mode is
  // restored on return. Off keeps IEEE subnormals, as PyTorch does by default.
  bool flush_denormals = true;
  // --attention-fn hard: how the score's gradient is estimated (attention_fn.hpp; the
  // REINFORCE baseline lives in TrainState). Ignored for other normalizers.
  HardAttentionOptions hard;

  // Validation hook: called every eval_every steps (and at the end) with the step and the
  // validation loss; returns a score to maximise (e.g. BLEU) that then decides the best
  // parameters, early stopping and LR decay instead of the negated validation loss.
  std::function<double(std::size_t step, double valid_loss)> validate;
  // Called after every validation with the state and whether it set a new best; the model's
  // parameters are the current ones (e.g. to save the best checkpoint and the latest state).
  std::function<void(const TrainState& state, bool improved)> after_validation;
  // Continue a run: the model already holds the saved parameters; training goes on from
  // resume->step with the saved random streams and learning rate (total steps as configured).
  const TrainState* resume = nullptr;
  // Data-parallel over processes (distributed.hpp); nullptr = this process alone. Every rank
  // passes the same model, data and options; each batch is split over ranks × threads shards
  // (ParallelLoss) and every rank takes the same step. Rank 0 alone calls the progress callback,
  // validates (validate) and saves (after_validation); it broadcasts the validation loss and
  // score, and its clock's time-limit decision, from which every rank takes the same early
  // stopping, learning-rate decay and best-parameter decisions.
  Communicator* ranks = nullptr;
};

// Thrown by train() when a step's loss or gradient norm is NaN or infinite, before that step's
// update: no parameter update, validation or after_validation follows the bad step, so the last
// checkpoint saved by after_validation stays as it was. The message names the step, the batch
// and the problem: "step 137, batch of 64 examples (training examples 1204, 88, …): the loss is
// NaN; …". Example numbers are 0-based positions in train_data.
class TrainingDiverged : public Error {
 public:
  TrainingDiverged(std::size_t step, std::vector<std::size_t> examples, const std::string& problem);
  std::size_t step() const { return step_; }
  const std::vector<std::size_t>& examples() const { return examples_; }

 private:
  std::size_t step_;
  std::vector<std::size_t> examples_;
};

struct TrainProgress {
  std::size_t step = 0, total_steps = 0, epoch = 0;
  double loss = 0;               // mean loss over the steps since the previous report
  double tokens_per_s = 0, elapsed_s = 0, eta_s = 0;
  double lr = 0;                 // the rate of this step: schedule and plateau decay applied
};


struct CurvePoint {
  std::size_t step;
  double value;
};

struct TrainResult {
  std::vector<CurvePoint> train_loss;   // mean training loss between reports
  std::vector<CurvePoint> valid_loss;
  std::size_t steps = 0, tokens = 0;
  double seconds = 0;
  bool stopped_early = false;
  bool time_limit_reached = false;      // stopped by max_seconds
  std::size_t best_step = 0;
  double best_seconds = 0;              // training time until the best validation
  std::vector<CurvePoint> valid_score;  // what `validate` returned, when set
  TrainState state;                     // where the run stood when it ended
  std::vector<DiagnosticsPoint> diagnostics;  // every diagnostics_every steps
};

using ProgressFn = std::function<void(const TrainProgress&)>;

// The options train() accepts: the optimizer's (OptimizerConfig::validate), batch at least 1,
// teacher forcing in [0, 1], label smoothing in [0, 1), lr_decay in (0, 1], the hard-attention
// options (HardAttentionOptions::validate). Throws attend::Error
// naming the option as the command line spells it.
void validate(const TrainOptions& options);

// Throws attend::Error when the options are not valid (validate) and TrainingDiverged (an Error)
// when a loss or gradient norm is not finite.
TrainResult train(Seq2Seq<float>& model, const std::vector<EncodedPair>& train_data,
                  const std::vector<EncodedPair>& valid_data, const TrainOptions& options,
                  const ProgressFn& progress = {});

// Teacher-forced loss over a data set in batches of `batch` (evaluation mode, no decoding).
LossStats teacher_forced_loss(const Seq2Seq<float>& model, const std::vector<EncodedPair>& data,
                              std::size_t batch);

}  // namespace attend
