// The time a grid will take, estimated before it starts.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "attend/experiment/data_source.hpp"
#include "attend/experiment/grid.hpp"

namespace attend {

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

}  // namespace attend
