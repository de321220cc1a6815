#include "attend/experiment/report.hpp"

#include <filesystem>
#include <sstream>

#include "attend/core/atomic_file.hpp"

namespace attend {

std::vector<std::string> write_reports(const CompareSummary& s, const CompareResult& result, const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> paths;
  auto emit = [&](const std::string& name, auto&& writer) {
    const fs::path p = fs::path(dir) / name;
    std::ostringstream out;
    writer(out);
    write_file_atomic(p.string(), out.str());
    paths.push_back(p.string());
  };
  emit("REPORT.md", [&](std::ostream& out) { write_markdown(s, out); });
  emit("results.csv", [&](std::ostream& out) { write_csv(s, out); });
  emit("results.json", [&](std::ostream& out) { write_json(s, out); });
  emit("report.html", [&](std::ostream& out) { write_html(s, result, out); });
  return paths;
}

}  // namespace attend
