// Learning-rate schedules: a factor of the step that multiplies the configured rate, composed
// the way fairseq's inverse_sqrt scheduler and Marian's --lr-warmup / --lr-decay-inv-sqrt do it.
//   warmup W:      factor = step / W for step ≤ W (lr/W at step 1, the full rate at step W)
//   inverse-sqrt:  factor = sqrt(max(W, 1) / step) after the warmup (1 at step W, 1/2 at 4W)
// Plateau decay (TrainOptions::lr_decay on a validation without improvement) multiplies on top:
// the rate at a step is lr · decay^(validations without improvement so far) · factor(step).
#pragma once
#include <cstddef>
#include <iosfwd>
#include <string>

namespace attend {

enum class LrSchedule { Constant, InverseSqrt };

struct LrScheduleOptions {
  std::size_t warmup = 0;  // steps of linear warmup; 0 = none
  LrSchedule schedule = LrSchedule::Constant;
};

// The factor for update `step` (1-based: the first update is step 1). Step 0 reads as step 1.
double lr_schedule_factor(const LrScheduleOptions& options, std::size_t step);

// "constant", "inverse-sqrt"; parse throws attend::Error naming the valid names.
std::string to_string(LrSchedule s);
LrSchedule parse_lr_schedule(const std::string& name);
std::string lr_schedule_help();  // "constant | inverse-sqrt"
// For Boost.Program_options: operator>> sets failbit on an unknown name.
std::ostream& operator<<(std::ostream& out, LrSchedule s);
std::istream& operator>>(std::istream& in, LrSchedule& s);

}  // namespace attend
