#include "report_text.hpp"

#include <cstdio>

namespace attend::report {

std::string fmt(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

}  // namespace attend::report
