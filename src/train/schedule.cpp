#include "attend/train/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <istream>
#include <ostream>

#include "attend/core/error.hpp"

namespace attend {

double lr_schedule_factor(const LrScheduleOptions& o, std::size_t step) {
  const double s = static_cast<double>(std::max<std::size_t>(step, 1));
  const double w = static_cast<double>(o.warmup);
  if (o.warmup > 0 && s <= w) return s / w;
  if (o.schedule == LrSchedule::InverseSqrt) return std::sqrt(std::max(w, 1.0) / s);
  return 1.0;
}

std::string to_string(LrSchedule s) { return s == LrSchedule::InverseSqrt ? "inverse-sqrt" : "constant"; }

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "constant") return LrSchedule::Constant;
  if (name == "inverse-sqrt") return LrSchedule::InverseSqrt;
  throw Error("unknown learning-rate schedule '" + name + "' (valid: constant, inverse-sqrt)");
}

std::string lr_schedule_help() { return "constant | inverse-sqrt"; }

std::ostream& operator<<(std::ostream& out, LrSchedule s) { return out << to_string(s); }

std::istream& operator>>(std::istream& in, LrSchedule& s) {
  std::string word;
  if (!(in >> word)) return in;
  if (word == "constant") s = LrSchedule::Constant;
  else if (word == "inverse-sqrt") s = LrSchedule::InverseSqrt;
  else in.setstate(std::ios::failbit);
  return in;
}

}  // namespace attend
