// Controlled comparison of model variants: every cell × attention × decoder style × seed trained
// on the same data, batch order and initial values of shared parameters, with only the mechanism
// changed. Runs are resumable (one directory per run under the output directory) and can run in
// parallel threads. The report writers are in report.hpp.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "attend/core/error.hpp"
#include "attend/nn/config.hpp"
#include "attend/nn/seq2seq.hpp"
#include "attend/text/pipeline.hpp"
#include "attend/text/subword.hpp"
#include "attend/text/tasks.hpp"
#include "attend/eval/bleu_stats.hpp"
#include "attend/eval/evaluate.hpp"
#include "attend/train/distributed.hpp"
#include "attend/train/trainer.hpp"
#include "attend/text/vocab.hpp"

namespace attend {

// ---- data sources -------------------------------------------------------------------------------

// The splits and vocabularies one seed's runs share.
struct CompareData {
  std::vector<Example> train, valid, test;
  Vocab src_vocab, tgt_vocab;
  Tokenizer tokenizer = Tokenizer::Char;
  // Corpus data only (empty for a toy task): the SentencePiece models (Tokenizer::Spm), the
  // validation and test lines as read (after --lowercase/--normalize), which the detokenised
  // outputs are scored against with BLEU, and the source lengths in words.
  std::shared_ptr<const SubwordModel> src_subword, tgt_subword;
  std::vector<std::string> valid_ref_text, test_src_text, test_ref_text;
  int train_min_words = 0, train_max_words = 0;
  std::map<std::string, std::string> info;  // recorded in each run's checkpoint (lowercase, …)
};

// Where the data comes from. `load(seed)` is called once per seed (from any thread, never twice
// for the same seed at the same time); `signature` lists everything that determines the data (it
// goes into grid.json, so a different source is detected on resume); `alignment` names the known
// source↔output alignment of the task ("copy", "reverse", "sort", "dates"; "" = none known).
struct DataSource {
  std::string name;
  std::map<std::string, std::string> signature;
  std::string alignment;
  std::function<CompareData(std::uint64_t seed)> load;
  // When set, every seed uses this one data set and `load` is not called (a corpus: the text
  // side is built once for the whole grid).
  std::shared_ptr<const CompareData> shared;
  bool corpus = false;                 // BLEU metrics instead of exact match
  std::string description;             // one line for the reports ("" for a toy task)
  std::vector<std::string> warnings;   // e.g. pairs dropped by --skip-bad-lines
};

// A built-in toy task; the task seed is the run's seed, so each seed has its own data and every
// variant of that seed sees the same data. Vocabularies are built from the training split.
DataSource task_source(const TaskOptions& task);

// Parallel text files through the text pipeline (pipeline.hpp) that `attend train` uses; the
// test pair is required.
// Reads every file, trains the SentencePiece models and builds the vocabularies now, once: the
// returned source shares that data with every run of the grid. Throws Error for bad input. The
// signature records each file's absolute path, size and FNV-1a checksum and every text option,
// so a changed corpus is detected on resume.
DataSource corpus_source(const TextPipelineOptions& options);

// ---- the grid -----------------------------------------------------------------------------------

struct Variant {
  std::string cell, attention, decoder = "auto";
  std::string luong_output = "tanh";  // the luong style's h~ nonlinearity (ModelConfig::luong_output)
  std::string encoder = "rnn";        // the source encoder (ModelConfig::encoder)
  // "gru+bahdanau", with "/luong" appended when the decoder style is given explicitly,
  // "+linear" for the linear luong output and "@transformer" for an encoder other than rnn.
  std::string name() const;
};

struct RunSpec {
  Variant variant;
  std::uint64_t seed = 1;
  double lr = 0;  // the run's learning rate with --lr-grid; 0 = the grid's train.optimizer.lr
  // "gru+bahdanau-s1": the run's directory under the output directory; with a rate of its own
  // "gru+bahdanau-lr0.003-s1".
  std::string name() const;
};

// How long each run trains. Steps: train.steps updates (or train.epochs), as configured, ending
// with the parameters of the best validation (keep_best). Converge: until the validation metric
// has not improved for train.patience validations in a row (one every train.eval_every steps), at
// most train.steps updates; each run is reported at its best validation checkpoint.
enum class Budget { Steps, Converge };

struct CompareOptions {
  std::vector<std::string> cells{"gru"}, attentions{"none", "bahdanau"}, decoders{"auto"};
  // The luong style's output nonlinearity, an axis of the luong-style variants only: variants of
  // another style appear once (they have no h~).
  std::vector<std::string> luong_outputs{"tanh"};
  std::vector<std::string> encoders{"rnn"};  // the source encoders (encoder_help())
  std::size_t seeds = 3;         // seeds first_seed … first_seed + seeds − 1
  std::uint64_t first_seed = 1;
  ModelConfig model;             // cell, attention and decoder are set per variant
  bool max_src_len_given = false;  // location attention: else fitted to the longest source
  TrainOptions train;            // seed is set per run
  std::string out_dir;
  std::size_t jobs = 1;          // trainings at once
  std::size_t threads = 0;       // BLAS threads in total (0 = hardware threads), divided by jobs
  bool force = false;            // run even though out_dir holds a different grid; redo every run
  std::size_t heatmap_sentences = 3;   // test sentences whose attention the report shows
  std::size_t alignment_sentences = 300;  // test sentences used for the alignment statistics
  // Corpus grids only (part of the grid's identity there; a toy grid refuses other values):
  bool bleu_lowercase = false;         // lower-cased BLEU (sacreBLEU -lc)
  std::size_t beam = 1;                // test-set decoding; 1 = greedy
  double length_penalty = 0.0;
  std::size_t bleu_every = 0;          // validate (greedy BLEU, picks the kept parameters) every N steps; 0 = eval_every
  double time_limit = 0;               // seconds per run; 0 = none
  Budget budget = Budget::Steps;
  // Two-stage learning-rate search when not empty: every variant at each rate on first_seed,
  // then the other seeds at the rate whose run had the best validation metric (never the test
  // split): variants × rates + variants × (seeds − 1) runs.
  std::vector<double> lr_grid;
  // Steps between TrainResult::diagnostics points; 0 = one per validation (train.eval_every, or
  // steps / 50 when that is once per epoch).
  std::size_t diagnostics_every = 0;
  // The processes of an mpirun job (distributed.hpp); nullptr = this process alone. Every rank
  // passes the same options and the same out_dir, one directory on a filesystem they all share.
  // Each rank takes the next run no rank has claimed yet (a claim file under out_dir), trains it in
  // this process with `jobs` runs at a time, exactly as a local grid would (train.ranks is not
  // used), and every rank returns the same CompareResult. Rank 0 alone checks and writes
  // grid.json, before any rank starts, and calls the progress callback.
  Communicator* ranks = nullptr;
};

// Thrown by run_compare under mpirun on every rank, before any run starts, when rank 0 refused the
// grid (out_dir holds a different grid, cannot be written, ...): every rank has the same message.
class GridRefused : public Error {
 public:
  using Error::Error;
};

// "steps:1200" or "converge (patience 5, eval every 100, at most 20000 steps)".
std::string budget_text(const CompareOptions& options);

// The variants in order: encoder, cell, attention, decoder, luong output (the last only for the
// luong style).
std::vector<Variant> grid_variants(const CompareOptions& options);
// The runs of the grid in order: encoder, cell, attention, decoder, luong output, seed (seed fastest). With an lr_grid
// these are the first stage (first_seed at every rate, rate fastest); the second stage's runs
// follow from the first stage's results (second_stage_runs).
std::vector<RunSpec> grid_runs(const CompareOptions& options);
// Runs in the whole grid: variants × seeds, or variants × rates + variants × (seeds − 1).
std::size_t planned_runs(const CompareOptions& options);
// Throws Error naming the problem: an empty axis, an unknown cell/attention/decoder style, a
// repeated name, no seeds, an impossible combination.
void validate_grid(const CompareOptions& options);
// Everything that determines the grid's results (written to OUT/grid.json).
std::map<std::string, std::string> grid_signature(const CompareOptions& options,
                                                  const DataSource& source);
// "key: old → new" lines for every difference; empty when equal.
std::vector<std::string> signature_differences(const std::map<std::string, std::string>& stored,
                                               const std::map<std::string, std::string>& current);
// Whether a signature key is one of the grid's axes (cells, attention, decoder styles, luong
// outputs, encoders, seeds). A run's results depend on its own variant, rate and seed and on the
// other settings, never on which other runs share the grid, so an --out directory may be run
// again with axes grown or narrowed: the runs both grids have are reused.
bool is_grid_axis(const std::string& signature_key);
// The axis differences ("grid.seeds: 1 → 3") between options.out_dir/grid.json and this grid;
// empty when there is no grid.json, it cannot be read, another setting differs too (run_compare
// refuses that grid), or options.force is set.
std::vector<std::string> grid_axis_changes(const CompareOptions& options, const DataSource& source);

// ---- results ------------------------------------------------------------------------------------

// One test sentence of a run: tokens, output and attention (rows: output tokens incl. </s>).
struct AttentionSample {
  std::size_t index = 0;  // position in the test split
  std::vector<std::string> src, out, ref;
  std::vector<std::vector<float>> weights;
  bool correct = false;
  std::string src_text, out_text, ref_text;  // corpus: detokenised text ("" for a toy task)
};

struct RunResult {
  RunSpec spec;
  std::string status;        // "ok", "diverged", "failed"
  std::string error;         // for "failed"
  bool resumed = false;      // read from a previous invocation's files
  double exact_match = 0, token_accuracy = 0, perplexity = 0;
  std::size_t parameters = 0, steps = 0, train_tokens = 0;
  double seconds = 0, tokens_per_s = 0;
  // Source lengths: model tokens for a toy task, words (whitespace-separated) for a corpus.
  int train_min_len = 0, train_max_len = 0;  // source lengths of the training split
  std::vector<CurvePoint> train_loss, valid_loss;
  std::vector<int> test_correct;      // per test sentence: greedy output == reference
  std::vector<int> test_src_len;      // per test sentence: source length
  double attention_entropy = -1;      // mean entropy (nats) per output step; −1 = no attention
  double uniform_entropy = -1;        // mean ln(source length) over the same steps, for scale
  double gold_mass = -1;              // mean weight on the gold-aligned position; −1 = unknown
  std::vector<AttentionSample> samples;
  std::string run_dir;
  // Corpus runs only:
  bool corpus = false;
  double bleu = std::numeric_limits<double>::quiet_NaN();  // test corpus BLEU, 0–100
  std::string bleu_line;              // BleuScore::format()
  std::vector<BleuStats> test_bleu;   // per test sentence
  std::vector<CurvePoint> valid_bleu; // greedy validation BLEU during training
  bool time_limit_reached = false;
  // The kept (best validation) checkpoint: its step and the training time until it.
  std::size_t best_step = 0;
  double best_seconds = 0;
  bool stopped_early = false;         // patience ran out before the step budget
  std::vector<DiagnosticsPoint> diagnostics;
};

// What chooses a run's checkpoint and its learning rate: the best validation BLEU for a corpus
// run (higher is better), else the lowest validation loss (returned negated, so higher is
// better); −∞ for a run that did not train successfully or never validated.
double validation_score(const RunResult& run);

// The rate each variant (by Variant::name) trains its other seeds at: the rate of its first-seed
// run with the highest validation_score (the lower rate on a tie); variants without a
// successful first-stage run are absent.
std::map<std::string, double> choose_rates(const std::vector<RunResult>& first_stage);
// The second stage: each variant with a chosen rate, seeds first_seed + 1 … at that rate.
std::vector<RunSpec> second_stage_runs(const CompareOptions& options,
                                       const std::map<std::string, double>& rates);

// An estimate of the grid's time before it starts, from a short measured calibration: per
// variant, `steps` training updates on the first seed's data and one teacher-forced pass over
// the validation split, timed. Estimate = Σ over the runs still to train of (step budget ×
// seconds per step + validations × seconds per validation) ÷ jobs. For a converge budget the
// step budget is the cap, so the estimate is an upper bound; corpus BLEU validations and the
// test decoding are not included.
struct GridEstimate {
  struct PerVariant {
    std::string name;
    double step_seconds = 0, validation_seconds = 0;
  };
  std::vector<PerVariant> variants;
  std::size_t runs = 0, runs_to_train = 0, calibration_steps = 0;
  double calibration_seconds = 0, seconds = 0;
  bool upper_bound = false;
};
GridEstimate estimate_grid(const CompareOptions& options, const DataSource& source,
                           std::size_t calibration_steps = 20);

// A snapshot of the grid for a live display.
struct GridStatus {
  struct Running {
    std::string name;
    TrainProgress progress;
  };
  std::vector<Running> running;
  std::size_t total_runs = 0, finished = 0, skipped = 0, failed = 0;
  double elapsed_s = 0, eta_s = -1;   // −1 = not known yet
  std::string event;                  // a run that just finished or failed, else ""
};
using GridProgressFn = std::function<void(const GridStatus&)>;

struct CompareResult {
  std::vector<RunResult> runs;       // in grid order
  std::string alignment;             // the data source's known alignment
  std::string data_name;
  double seconds = 0;
  bool corpus = false;               // BLEU metrics (a corpus source)
  std::string data_description;
  bool bleu_lowercase = false;
  std::size_t beam = 1;
  std::string budget;                // budget_text of the grid
  bool converge = false;
  std::vector<double> lr_grid;       // empty: one rate for every run
  std::map<std::string, double> chosen_lr;  // variant name -> the rate its seeds trained at
};

// Runs (or resumes) the grid under options.out_dir (spread over options.ranks under mpirun). Per run: OUT/<run>/model.safetensors (attend::save_model),
// OUT/<run>/metrics.json, OUT/<run>/train.log. Finished runs found there are read back instead of
// retrained. Throws Error before training when the grid is invalid or out_dir holds a different
// grid (unless force). A run that throws is recorded as "failed" and the rest continue. `progress`
// is called (serialised) from the worker threads. With a corpus source, each run validates with
// greedy BLEU on the validation lines (which picks the parameters it ends with, as `attend train`
// does) and is scored on the test lines: detokenised corpus BLEU, per-sentence BLEU statistics,
// token accuracy and perplexity of the references.
CompareResult run_compare(const CompareOptions& options, const DataSource& source,
                          const GridProgressFn& progress = {});

// The model of one run, exactly as run_compare builds it: the shared model options with the
// variant's cell, attention and decoder, vocabulary sizes from the data, parameters from the
// seed. Parameters two variants share by name start identical for the same seed.
std::unique_ptr<Seq2Seq<float>> build_model(const CompareOptions& options, const Variant& variant,
                                            std::uint64_t seed, const CompareData& data);

// Alignment helpers (also used by the report): the gold source position of each output position
// for a task with a known alignment, −1 where none is defined. `out` is the reference output.
std::vector<int> gold_alignment(const std::string& alignment, const std::vector<std::string>& src,
                                const std::vector<std::string>& out);

}  // namespace attend
