// Running a grid: every run trained (or read back from an earlier invocation) under the output
// directory, in threads and under mpirun across processes.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "attend/core/error.hpp"
#include "attend/experiment/data_source.hpp"
#include "attend/experiment/grid.hpp"
#include "attend/experiment/run_result.hpp"
#include "attend/train/trainer.hpp"

namespace attend {

// Thrown by run_compare under mpirun on every rank, before any run starts, when rank 0 refused the
// grid (out_dir holds a different grid, cannot be written, ...): every rank has the same message.
class GridRefused : public Error {
 public:
  using Error::Error;
};

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
  // variant name -> its training settings (the grid's with the --for rules applied); empty for a
  // result not made by run_compare.
  std::map<std::string, VariantTraining> training;
  double time_limit = 0;             // seconds per run (corpus grids); 0 = none
  // The shared model's hidden width (CompareOptions::model.hidden): d_model of the scaling view's
  // d_k = d_model / heads when hidden is not an axis; 0 = unknown (the view then shows heads).
  std::size_t hidden = 0;
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

}  // namespace attend
