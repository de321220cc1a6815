// Reports of a comparison grid (Markdown, CSV, JSON, one self-contained HTML page), one writer per
// format (src/experiment/report_*.cpp). What they print, the grid's summary: summary.hpp; its
// significance tests: eval/significance.hpp. A single hypothesis's attention exports:
// attention_export.hpp.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "attend/experiment/compare.hpp"
#include "attend/experiment/summary.hpp"
#include "attend/decode/attention_export.hpp"
#include "attend/decode/search.hpp"

namespace attend {

// Writers. Text tables name the metric and the ± convention; the HTML page is self-contained
// (inline CSS, JS and SVG; no network) and explains how to read it.
void write_markdown(const CompareSummary& s, std::ostream& out);
void write_csv(const CompareSummary& s, std::ostream& out);
void write_json(const CompareSummary& s, std::ostream& out);
void write_html(const CompareSummary& s, const CompareResult& result, std::ostream& out);

// Files REPORT.md, results.csv, results.json and report.html under dir; returns their paths.
std::vector<std::string> write_reports(const CompareSummary& s, const CompareResult& result,
                                       const std::string& dir);

}  // namespace attend
