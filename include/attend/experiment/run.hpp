// One training run on parallel text files, as `attend train --train-src ...` does it: the text
// pipeline (pipeline.hpp), validation by greedy BLEU every bleu_every steps, the best checkpoint
// by BLEU and the latest state beside it (.last, for resume), an optional time limit, and the
// test set decoded at the end.
#pragma once
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "attend/decode/search.hpp"
#include "attend/eval/bleu.hpp"
#include "attend/eval/evaluate.hpp"
#include "attend/io/checkpoint.hpp"
#include "attend/nn/config.hpp"
#include "attend/text/pipeline.hpp"
#include "attend/text/tasks.hpp"
#include "attend/train/trainer.hpp"

namespace attend {

// ---- metrics files ------------------------------------------------------------------------------

// Every ModelConfig field (to_map; numbers as numbers) and the decoder style `auto` resolved to.
nlohmann::json config_json(const ModelConfig& config);
// [[step, value], ...]; a value that is not finite is null.
nlohmann::json curve_json(const std::vector<CurvePoint>& curve);
// The task and training options of a run, `threads` as the user gave it.
nlohmann::json train_options_json(const TaskOptions& task, const TrainOptions& train, std::size_t threads);

// ---- threads ------------------------------------------------------------------------------------

// --threads N: training runs each batch as N data-parallel shards with one BLAS thread each, so
// both cores work on everything and no BLAS worker spins between small products
// (docs/performance.md); decoding and evaluation outside the training loop use N BLAS threads.
// 0 = one per core.
std::size_t training_shards(std::size_t threads);
// The training loop's BLAS threads: one per shard while it lives, `threads` again afterwards.
class TrainingThreads {
 public:
  explicit TrainingThreads(std::size_t threads);
  ~TrainingThreads();
  TrainingThreads(const TrainingThreads&) = delete;
  TrainingThreads& operator=(const TrainingThreads&) = delete;

 private:
  std::size_t threads_;
};

// ---- one run on files ---------------------------------------------------------------------------

struct FileRunOptions {
  TextPipelineOptions text;
  TrainOptions train;              // threads: shards (training_shards); max_seconds: time limit
  std::size_t threads = 0;         // as given by the user (0 = one per core), see TrainingThreads
  std::size_t bleu_every = 0;      // steps between BLEU validations; 0 = train.eval_every
  SearchOptions test_search;       // decoding of the test set at the end (beam, length penalty)
  std::string model_path = "attend-model.safetensors";  // the best checkpoint; model_path + ".last" the latest
  std::string resume;              // continue the run saved in this checkpoint ("" = a new run)
  // Checkpoint averaging (docs/training.md): keep the parameters of the last N validations and of
  // the N best by validation BLEU (in memory; a resumed run counts from the resumption) and write
  // each set's average at the end to model_path + ".avg-last" / ".avg-best" (0 = off).
  std::size_t average_last = 0, average_best = 0;
};

// One average written at the end of a run (FileRunOptions::average_last / average_best).
struct AveragedCheckpoint {
  std::string kind;                 // "last" or "best"
  std::string path;                 // where it was saved
  std::vector<std::size_t> steps;   // the validations averaged, in step order
  double valid_bleu = 0;            // greedy BLEU on the validation set, as during training
};

// What the caller sees during the run (each may be empty).
struct FileRunHooks {
  WarningFn warn;  // pairs dropped by --skip-bad-lines
  // Before training: the data, the model (bundle.model) and the training options in effect.
  std::function<void(const PreparedCorpus&, const ModelBundle&, const TrainOptions&)> ready;
  ProgressFn progress;
  // After each validation: step, validation loss, greedy BLEU, whether it saved a new best.
  std::function<void(std::size_t step, double valid_loss, double bleu, bool saved)> validated;
};

struct FileRunResult {
  ModelBundle bundle;              // the best parameters, saved at options.model_path
  PreparedCorpus data;
  std::size_t train_pairs = 0, valid_pairs = 0, test_pairs = 0;
  std::optional<TrainState> resumed_from;
  TrainResult train;
  std::vector<CurvePoint> valid_bleu;
  EvalResult valid;                // teacher-forced, of the kept parameters
  std::optional<double> best_valid_bleu;
  // The test set when given:
  std::vector<std::string> test_hypotheses;
  BleuScore test_bleu;
  double test_perplexity = 0;
  std::vector<AveragedCheckpoint> averages;  // average_last, then average_best, when asked for
};

// Reads and prepares the files, builds the model from `config` (or continues options.resume),
// trains, evaluates and saves. Throws Error for invalid options (before reading anything) and
// for bad input, naming file and line. Under mpirun
// (options.train.ranks) the ranks other than 0 return after training: no evaluation, test
// decoding or saving (result.train only).
FileRunResult train_on_files(const FileRunOptions& options, ModelConfig config, bool max_src_len_given,
                             const FileRunHooks& hooks = {});
// The metrics file of a run on files (attend train --metrics-json).
nlohmann::json file_run_json(const FileRunOptions& options, const TaskOptions& task,
                             const FileRunResult& result);

}  // namespace attend
