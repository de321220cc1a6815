// What one run of a grid gives: its test figures, curves, diagnostics and attention samples.
#pragma once
#include <array>
#include <cstddef>
#include <iosfwd>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "attend/eval/bleu_stats.hpp"
#include "attend/eval/significance.hpp"
#include "attend/experiment/grid.hpp"
#include "attend/train/trainer.hpp"

namespace attend {


// One test sentence of a run: tokens, output and attention (rows: output tokens incl. </s>).
// How a run ended: trained (ok), trained into a NaN or infinite loss (diverged: reported, excluded
// from the means) or threw (failed: retried by the next invocation).
enum class RunStatus { Ok, Diverged, Failed };
std::string to_string(RunStatus status);               // "ok", "diverged", "failed", as metrics.json has it
RunStatus parse_run_status(const std::string& name);  // throws attend::Error for another name
std::ostream& operator<<(std::ostream& out, RunStatus status);
// A status against its name, as the tests and scripts read it: run.status == "ok".
inline bool operator==(RunStatus status, const char* name) { return to_string(status) == name; }
inline bool operator!=(RunStatus status, const char* name) { return !(status == name); }

struct AttentionSample {
  std::size_t index = 0;  // position in the test split
  std::vector<std::string> src, out, ref;
  std::vector<std::vector<float>> weights;
  bool correct = false;
  std::string src_text, out_text, ref_text;  // corpus: detokenised text ("" for a toy task)
};

struct RunResult {
  RunSpec spec;
  RunStatus status = RunStatus::Ok;
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
  // Sparsity over the same steps (--attention-fn sparsemax / entmax15 give exact zeros): the share
  // of real source positions whose weight is exactly 0, and the mean number that are not (the
  // support); −1 = no attention, or a run recorded before these were measured.
  double attention_zero_share = -1, attention_support = -1;
  std::vector<AttentionSample> samples;
  std::string run_dir;
  // Corpus runs only:
  bool corpus = false;
  double bleu = std::numeric_limits<double>::quiet_NaN();  // test corpus BLEU, 0–100
  std::string bleu_line;              // BleuScore::format()
  std::vector<BleuStats> test_bleu;   // per test sentence
  // Test corpus chrF2 (sacreBLEU's default, case-sensitive also under --lc) and its statistics per test
  // sentence; NaN / empty in runs recorded before chrF was measured.
  double chrf = std::numeric_limits<double>::quiet_NaN();
  std::vector<ChrfStatistics> test_chrf;
  std::vector<CurvePoint> valid_bleu; // greedy validation BLEU during training
  bool time_limit_reached = false;
  // The kept (best validation) checkpoint: its step and the training time until it.
  std::size_t best_step = 0;
  double best_seconds = 0;
  bool stopped_early = false;         // patience ran out before the step budget
  std::vector<DiagnosticsPoint> diagnostics;
  // The settings --for rules gave it (VariantTraining::settings); empty: the grid's own.
  std::map<std::string, std::string> training;
};

}  // namespace attend
