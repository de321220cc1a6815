#include "svg_chart.hpp"

#include <algorithm>
#include <sstream>

#include "report_text.hpp"

namespace attend::report {

namespace {

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                          "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};

std::vector<double> nice_ticks(double lo, double hi, int want = 6) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / want, mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= m * mag) { step = m * mag; break; }
  std::vector<double> t;
  for (double x = std::ceil(lo / step) * step; x <= hi + step * 1e-9; x += step) t.push_back(x);
  return t;
}

std::string tick_text(double x) {
  if (std::fabs(x) >= 1000) return fmt("%.0f", x);
  if (std::fabs(x - std::round(x)) < 1e-9) return fmt("%.0f", x);
  return fmt("%g", x);
}

}  // namespace

std::string color_of(std::size_t i) { return kPalette[i % 10]; }

std::string line_chart(const std::string& id, const std::string& title, const std::string& xlab,
                       const std::string& ylab, const std::vector<Series>& series, bool log_y,
                       double ymin_fixed, double ymax_fixed, std::pair<double, double> band,
                       const std::string& band_label, const ChartOptions& options) {
  // The plot area keeps its 408 px; the legend column (R) widens for names longer than its 170 px
  // hold (about 6.5 px a character at 11 px), so no name is cut off at the edge.
  std::size_t longest = 0;
  for (const auto& s : series)
    if (s.in_legend) longest = std::max(longest, s.name.size());
  const double R = std::max(170.0, 48 + 6.5 * static_cast<double>(longest));
  const double W = 470 + R, H = 360, L = 62, Tp = 34, B = 48;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  auto ty = [&](double y) { return log_y ? std::log10(y) : y; };
  auto tx = [&](double x) { return options.log2_x ? std::log2(x) : x; };
  // The error bar of series j's point i (0: none).
  auto error = [&](std::size_t j, std::size_t i) {
    const double e = j < options.errors.size() && i < options.errors[j].size() ? options.errors[j][i] : 0.0;
    return std::isfinite(e) && e > 0 ? e : 0.0;
  };
  for (std::size_t j = 0; j < series.size(); ++j)
    for (std::size_t i = 0; i < series[j].points.size(); ++i) {
      const auto [x, y] = series[j].points[i];
      if (!std::isfinite(y) || (log_y && y <= 0) || (options.log2_x && !(x > 0))) continue;
      x0 = std::min(x0, tx(x)), x1 = std::max(x1, tx(x)), y0 = std::min(y0, ty(y)), y1 = std::max(y1, ty(y));
      const double e = error(j, i);
      if (e > 0) {
        if (!log_y || y - e > 0) y0 = std::min(y0, ty(y - e));
        y1 = std::max(y1, ty(y + e));
      }
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (std::isfinite(band.first)) x0 = std::min(x0, band.first), x1 = std::max(x1, band.second);
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  if (options.log2_x) x0 -= 0.25, x1 += 0.25;  // room for the end points' error bars
  if (std::isfinite(ymin_fixed)) y0 = ty(ymin_fixed);
  if (std::isfinite(ymax_fixed)) y1 = ty(ymax_fixed);
  if (log_y) {
    const double pad = std::max(0.02, 0.04 * (y1 - y0));
    y0 -= pad, y1 += pad;
  }
  if (y1 <= y0) y1 = y0 + 1;
  auto px = [&](double x) { return L + (tx(x) - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return Tp + (1 - (ty(y) - y0) / (y1 - y0)) * (H - Tp - B); };
  std::ostringstream o;
  o << "<svg class=\"chart\" id=\"" << id << "\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H
    << "\" font-family=\"sans-serif\" role=\"img\">";
  o << "<text x=\"" << L << "\" y=\"18\" font-size=\"14\" font-weight=\"bold\">" << esc(title) << "</text>";
  if (std::isfinite(band.first)) {
    const double a = px(band.first - 0.5 < x0 ? x0 : band.first - 0.5), b = px(band.second + 0.5 > x1 ? x1 : band.second + 0.5);
    o << "<rect class=\"band\" x=\"" << a << "\" y=\"" << Tp << "\" width=\"" << b - a << "\" height=\"" << H - Tp - B
      << "\" fill=\"#e8f0e0\"/><text x=\"" << (a + b) / 2 << "\" y=\"" << Tp + 14 << "\" font-size=\"11\" fill=\"#4a6b2a\" text-anchor=\"middle\">"
      << esc(band_label) << "</text>";
  }
  // Axes and grid.
  if (log_y) {
    // Decade ticks with as many intermediate values as keep at least four labels.
    std::vector<double> mults{1, 2, 5};
    if (y1 - y0 < 1.2) mults = {1, 1.5, 2, 3, 4, 5, 7};
    if (y1 - y0 < 0.5) mults = {1, 1.2, 1.4, 1.6, 1.8, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 9};
    for (int e = int(std::floor(y0)); e <= int(std::ceil(y1)); ++e)
      for (double m : mults) {
        const double v = m * std::pow(10.0, e), lv = std::log10(v);
        if (lv < y0 - 1e-9 || lv > y1 + 1e-9) continue;
        const double y = py(v);
        o << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << y << "\" y2=\"" << y << "\" stroke=\"#e3e3e3\"/>"
          << "<text x=\"" << L - 6 << "\" y=\"" << y + 4 << "\" font-size=\"11\" text-anchor=\"end\">" << fmt("%g", v) << "</text>";
      }
  } else {
    for (double v : nice_ticks(y0, y1, 5)) {
      const double y = py(v);
      o << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << y << "\" y2=\"" << y << "\" stroke=\"#e3e3e3\"/>"
        << "<text x=\"" << L - 6 << "\" y=\"" << y + 4 << "\" font-size=\"11\" text-anchor=\"end\">" << tick_text(v) << "</text>";
    }
  }
  for (double v : options.x_ticks.empty() ? nice_ticks(x0, x1, 7) : options.x_ticks) {
    if (options.log2_x && options.x_ticks.empty()) v = std::pow(2.0, v);
    const double x = px(v);
    o << "<line x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << H - B << "\" y2=\"" << H - B + 5 << "\" stroke=\"#333\"/>"
      << "<text x=\"" << x << "\" y=\"" << H - B + 18 << "\" font-size=\"11\" text-anchor=\"middle\">" << tick_text(v) << "</text>";
  }
  o << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << H - B << "\" y2=\"" << H - B << "\" stroke=\"#333\"/>"
    << "<line x1=\"" << L << "\" x2=\"" << L << "\" y1=\"" << Tp << "\" y2=\"" << H - B << "\" stroke=\"#333\"/>";
  o << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 10 << "\" font-size=\"12\" text-anchor=\"middle\">" << esc(xlab) << "</text>";
  o << "<text x=\"14\" y=\"" << (Tp + H - B) / 2 << "\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 "
    << (Tp + H - B) / 2 << ")\">" << esc(ylab) << "</text>";
  // Series.
  for (std::size_t j = 0; j < series.size(); ++j) {
    const Series& s = series[j];
    std::string d;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(y) || (log_y && y <= 0) || (options.log2_x && !(x > 0))) continue;
      d += (d.empty() ? "M" : " L") + fmt("%.1f", px(x)) + "," + fmt("%.1f", py(y));
    }
    o << "<path class=\"series\" data-series=\"" << esc(s.name) << "\" d=\"" << d << "\" fill=\"none\" stroke=\"" << s.color
      << "\" stroke-width=\"" << s.width << "\" stroke-opacity=\"" << s.opacity << "\""
      << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>";
    for (std::size_t i = 0; i < s.points.size(); ++i) {
      const auto [x, y] = s.points[i];
      const double e = error(j, i);
      if (!std::isfinite(y) || e <= 0 || (options.log2_x && !(x > 0))) continue;
      const double bx = px(x), top = py(y + e), bottom = log_y && y - e <= 0 ? py(std::pow(10.0, y0)) : py(y - e);
      o << "<path class=\"error-bar\" data-series=\"" << esc(s.name) << "\" data-x=\"" << tick_text(x)
        << "\" data-low=\"" << fmt("%.6g", y - e) << "\" data-high=\"" << fmt("%.6g", y + e) << "\" d=\"M"
        << fmt("%.1f", bx) << "," << fmt("%.1f", top) << " L" << fmt("%.1f", bx) << "," << fmt("%.1f", bottom) << " M"
        << fmt("%.1f", bx - 4) << "," << fmt("%.1f", top) << " L" << fmt("%.1f", bx + 4) << "," << fmt("%.1f", top) << " M"
        << fmt("%.1f", bx - 4) << "," << fmt("%.1f", bottom) << " L" << fmt("%.1f", bx + 4) << "," << fmt("%.1f", bottom)
        << "\" stroke=\"" << s.color << "\" stroke-width=\"1.2\" fill=\"none\"/>";
    }
    if (s.markers)
      for (const auto& [x, y] : s.points)
        if (std::isfinite(y) && !(options.log2_x && !(x > 0)))
          o << "<circle cx=\"" << px(x) << "\" cy=\"" << py(y) << "\" r=\"3\" fill=\"" << s.color << "\" data-series=\""
            << esc(s.name) << "\" data-x=\"" << tick_text(x) << "\" data-y=\"" << fmt("%.6g", y) << "\"><title>" << esc(s.name)
            << ": " << tick_text(x) << " \u2192 " << fmt("%.3g", y) << "</title></circle>";
  }
  // Legend.
  double ly = Tp + 6;
  for (const auto& s : series) {
    if (!s.in_legend) continue;
    o << "<line x1=\"" << W - R + 12 << "\" x2=\"" << W - R + 36 << "\" y1=\"" << ly << "\" y2=\"" << ly << "\" stroke=\"" << s.color
      << "\" stroke-width=\"3\"" << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/><text x=\"" << W - R + 42 << "\" y=\"" << ly + 4
      << "\" font-size=\"11\">" << esc(s.name) << "</text>";
    ly += 18;
  }
  o << "</svg>";
  return o.str();
}

}  // namespace attend::report
