// Formatting shared by the summary and the report writers (internal).
#pragma once
#include <string>

namespace attend::report {

// printf-style formatting of one number, e.g. fmt("%.2f", x).
std::string fmt(const char* format, double x);

}  // namespace attend::report
