// Line charts as inline SVG for the HTML report (internal).
#pragma once
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace attend::report {

// The i-th colour of a ten-colour palette (repeats after ten).
std::string color_of(std::size_t i);

// One line of a chart: points (x, y) in data units and how it is drawn.
struct Series {
  std::string name, color;
  std::vector<std::pair<double, double>> points;
  double width = 2, opacity = 1;
  bool dashed = false, markers = false, in_legend = true;
};

// What a chart may add to the default: a log2 x axis, ticks at given x values (e.g. the widths
// 16, 64, 256 of a scaling chart) and error bars. The default draws as before these existed.
struct ChartOptions {
  bool log2_x = false;  // x > 0 only (other points are left out); not with a band
  std::vector<double> x_ticks;  // empty: round ticks
  // Per series, per point: the half-length of a vertical bar y ± e (e.g. the seeds' standard
  // deviation); a missing, non-finite or zero e draws none.
  std::vector<std::vector<double>> errors;
};

// A line chart with labelled axes and a legend; log_y plots log10(y) with decade ticks, options.log2_x
// plots log2(x).
// The band (x range) is shaded and labelled, e.g. the lengths seen in training.
std::string line_chart(const std::string& id, const std::string& title, const std::string& xlab,
                       const std::string& ylab, const std::vector<Series>& series, bool log_y,
                       double ymin_fixed = NAN, double ymax_fixed = NAN,
                       std::pair<double, double> band = {NAN, NAN}, const std::string& band_label = "",
                       const ChartOptions& options = ChartOptions{});

}  // namespace attend::report
