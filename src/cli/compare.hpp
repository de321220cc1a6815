// `attend compare` (src/cli/compare.cpp).
#pragma once
#include <string>
#include <vector>

namespace attend::cli {
int run_compare_command(const std::vector<std::string>& args);
}  // namespace attend::cli
