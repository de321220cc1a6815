// The grid of a controlled comparison: its options, its variants and runs in order, its
// validation, and its signature in OUT/grid.json, whose axes may grow or narrow between runs.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "attend/core/error.hpp"
#include "attend/decode/search.hpp"
#include "attend/experiment/data_source.hpp"
#include "attend/experiment/train_rule.hpp"
#include "attend/nn/config.hpp"
#include "attend/nn/seq2seq.hpp"
#include "attend/train/distributed.hpp"
#include "attend/train/trainer.hpp"

namespace attend {

// One point of the grid: a value of each axis (grid_axis.hpp).
struct Variant {
  std::string cell, attention, decoder = "auto";
  std::string luong_output = "tanh";  // the luong style's h~ nonlinearity (ModelConfig::luong_output)
  std::string encoder = "rnn";        // the source encoder (ModelConfig::encoder)
  // The values of axes without a member above (register_grid_axis), by model field key.
  std::map<std::string, std::string> more_axes;
  // Each axis's value after its prefix, in grid_axes() order, leaving out the unnamed ones:
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
  // The values of axes without a member above (register_grid_axis), by model field key; an axis
  // absent here is not varied: every variant has the shared model's value.
  std::map<std::string, std::vector<std::string>> more_axes;
  std::size_t seeds = 3;         // seeds first_seed … first_seed + seeds − 1
  std::uint64_t first_seed = 1;
  ModelConfig model;             // the fields of the axes are set per variant
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
  // --for: training settings of the variants each rule matches (train_rule.hpp), applied in
  // order over `train` and `lr_grid` (later rules win); every rule must match a variant.
  std::vector<TrainRule> rules;
  // --only: when not empty, the grid keeps the variants of the axes' product that match at least
  // one of these selectors (settings empty), e.g. three RNN models and a Transformer without the
  // rest of their product; every selector must match a variant.
  std::vector<TrainRule> only;
  // The processes of an mpirun job (distributed.hpp); nullptr = this process alone. Every rank
  // passes the same options and the same out_dir, one directory on a filesystem they all share.
  // Each rank takes the next run no rank has claimed yet (a claim file under out_dir), trains it in
  // this process with `jobs` runs at a time, exactly as a local grid would (train.ranks is not
  // used), and every rank returns the same CompareResult. Rank 0 alone checks and writes
  // grid.json, before any rank starts, and calls the progress callback.
  Communicator* ranks = nullptr;

  // The test split's decoding (beam, length penalty), as every run of the grid decodes it.
  SearchOptions test_search() const;
};

// The training settings of one variant: the grid's `train` and `lr_grid` with the rules that match
// it applied in order.
struct VariantTraining {
  TrainOptions train;             // seed and ranks are set per run
  std::vector<double> lr_grid;    // its rate candidates; empty: every seed at train.optimizer.lr
  double dropout = -1;            // a rule's dropout (ModelConfig::dropout); < 0 = the shared model's
  // What the rules changed (setting -> canonical value); empty for a variant no rule matches. A
  // run records it (metrics.json "training") and is retrained when it differs.
  std::map<std::string, std::string> settings;
  std::vector<std::string> rules;  // the canonical texts of the rules that matched, in order
};
VariantTraining variant_training(const CompareOptions& options, const Variant& variant);
// Whether every axis=value pair of the rule holds for the variant (an axis that does not apply
// to the variant, such as luong-output for a bahdanau-style decoder, holds for no value).
bool rule_matches(const CompareOptions& options, const TrainRule& rule, const Variant& variant);
// The variant's model before the data: the shared model with its axis values and a rule's dropout.
ModelConfig variant_config(const CompareOptions& options, const Variant& variant);

// "steps:1200" or "converge (patience 5, eval every 100, at most 20000 steps)".
std::string budget_text(const CompareOptions& options);

// The variants in order: the product of the axes' values, nested as GridAxis::nesting says:
// encoder, cell, attention, decoder, luong output (the last only for the luong style).
std::vector<Variant> grid_variants(const CompareOptions& options);
// The runs of the grid in order: encoder, cell, attention, decoder, luong output, seed (seed fastest). With an lr_grid
// these are the first stage (first_seed at every rate, rate fastest); the second stage's runs
// follow from the first stage's results (second_stage_runs).
std::vector<RunSpec> grid_runs(const CompareOptions& options);
// Runs in the whole grid: per variant seeds, or (with rate candidates, its own or the grid's)
// rates + (seeds − 1).
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
// Whether a signature key is one of the grid's axes (grid_axes(): cells, attention, decoder
// styles, luong outputs, encoders) or the seeds. A run's results depend on its own variant, rate and seed and on the
// other settings, never on which other runs share the grid, so an --out directory may be run
// again with axes grown or narrowed: the runs both grids have are reused.
bool is_grid_axis(const std::string& signature_key);
// The axis differences ("grid.seeds: 1 → 3") between options.out_dir/grid.json and this grid;
// empty when there is no grid.json, it cannot be read, another setting differs too (run_compare
// refuses that grid), or options.force is set.
std::vector<std::string> grid_axis_changes(const CompareOptions& options, const DataSource& source);

// The model of one run, exactly as run_compare builds it: the shared model options with the
// variant's cell, attention and decoder, vocabulary sizes from the data, parameters from the
// seed. Parameters two variants share by name start identical for the same seed.
std::unique_ptr<Seq2Seq<float>> build_model(const CompareOptions& options, const Variant& variant,
                                            std::uint64_t seed, const CompareData& data);

}  // namespace attend
