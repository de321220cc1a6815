// A learning rate as run names (RunSpec::name) and checkpoints write it: "0.003".
#pragma once
#include <string>

namespace attend {

std::string rate_name(double lr);

}  // namespace attend
