#include "attend/decode/attention_export.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attend/core/csv.hpp"

namespace attend {

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

namespace {

std::string esc(const std::string& s) { return xml_escape(s); }

using json = nlohmann::json;

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

// A space token (character tokenizer) would be invisible.
std::string token_label(const std::string& t) { return t == " " ? "\u2423" : t; }

// White → dark blue.
std::string heat_color(double w) {
  w = std::clamp(std::isfinite(w) ? w : 0.0, 0.0, 1.0);
  const double a[3] = {247, 251, 255}, b[3] = {8, 48, 107};
  char buf[32];
  std::snprintf(buf, sizeof buf, "rgb(%d,%d,%d)", int(a[0] + (b[0] - a[0]) * w),
                int(a[1] + (b[1] - a[1]) * w), int(a[2] + (b[2] - a[2]) * w));
  return buf;
}

std::string heatmap_svg(const std::vector<std::string>& src, const std::vector<std::string>& out,
                        const std::vector<std::vector<float>>& weights, const std::vector<int>& gold,
                        const std::string& title, bool standalone) {
  const std::size_t S = src.size(), T = weights.size();
  auto label_of = [&](std::size_t i) { return i < out.size() ? token_label(out[i]) : std::string("</s>"); };
  std::size_t maxlab = 1, maxsrc = 1;
  for (std::size_t i = 0; i < T; ++i) maxlab = std::max(maxlab, label_of(i).size());
  for (const auto& t : src) maxlab = std::max(maxlab, token_label(t).size()), maxsrc = std::max(maxsrc, token_label(t).size());
  // Words and subword pieces (corpora) need more room than single characters: wider row labels
  // and slanted column labels. Labels of up to 6 bytes (every toy task) keep the compact layout.
  const bool words = maxlab > 6;
  const bool slant = maxsrc > 2 && words;
  const double cell = std::clamp(360.0 / double(std::max<std::size_t>({S, T, 1})), 9.0, 18.0);
  const double left = 26 + 7.0 * std::min<std::size_t>(maxlab, words ? 14 : 6);
  const double top = (title.empty() ? 0 : 18) + (slant ? 14 + 5.5 * double(std::min<std::size_t>(maxsrc, 14)) : 36);
  const double w = left + cell * S + 10, h = top + cell * T + 10;
  std::ostringstream o;
  o << "<svg class=\"heatmap\" " << (standalone ? "xmlns=\"http://www.w3.org/2000/svg\" " : "")
    << "width=\"" << w << "\" height=\"" << h << "\" viewBox=\"0 0 " << w << " " << h
    << "\" font-family=\"sans-serif\" role=\"img\">";
  if (!title.empty()) o << "<text x=\"" << left << "\" y=\"13\" font-size=\"12\" font-weight=\"bold\">" << esc(title) << "</text>";
  o << "<text x=\"" << left + cell * S / 2 << "\" y=\"" << (slant ? (title.empty() ? 0 : 18) + 10 : top - 24)
    << "\" font-size=\"10\" fill=\"#555\" text-anchor=\"middle\">source \u2192</text>";
  o << "<text x=\"10\" y=\"" << top + cell * T / 2 << "\" font-size=\"10\" fill=\"#555\" text-anchor=\"middle\" transform=\"rotate(-90 10 "
    << top + cell * T / 2 << ")\">output \u2193</text>";
  const double fs = std::min(12.0, cell * 0.8);
  for (std::size_t j = 0; j < S; ++j) {
    const double x = left + cell * (j + 0.5);
    if (slant)
      o << "<text class=\"xlab\" x=\"" << x << "\" y=\"" << top - 4 << "\" font-size=\"" << fs
        << "\" text-anchor=\"start\" transform=\"rotate(-60 " << x << " " << top - 4 << ")\">" << esc(token_label(src[j])) << "</text>";
    else
      o << "<text class=\"xlab\" x=\"" << x << "\" y=\"" << top - 4 << "\" font-size=\"" << fs
        << "\" text-anchor=\"middle\">" << esc(token_label(src[j])) << "</text>";
  }
  for (std::size_t i = 0; i < T; ++i)
    o << "<text class=\"ylab\" x=\"" << left - 4 << "\" y=\"" << top + cell * (i + 0.5) + fs * 0.35 << "\" font-size=\"" << fs
      << "\" text-anchor=\"end\">" << esc(label_of(i)) << "</text>";
  for (std::size_t i = 0; i < T; ++i)
    for (std::size_t j = 0; j < S; ++j) {
      const double a = j < weights[i].size() ? weights[i][j] : 0.0;
      o << "<rect class=\"hm-cell\" x=\"" << left + cell * j << "\" y=\"" << top + cell * i << "\" width=\"" << cell
        << "\" height=\"" << cell << "\" fill=\"" << heat_color(a) << "\"><title>output " << esc(label_of(i))
        << " (" << i << ") \u2190 source " << esc(token_label(src[j])) << " (" << j << "): " << fmt("%.3f", a)
        << "</title></rect>";
    }
  for (std::size_t i = 0; i < T && i < gold.size(); ++i)
    if (gold[i] >= 0 && static_cast<std::size_t>(gold[i]) < S)
      o << "<circle class=\"gold\" cx=\"" << left + cell * (gold[i] + 0.5) << "\" cy=\"" << top + cell * (i + 0.5)
        << "\" r=\"" << cell * 0.18 << "\" fill=\"#f5a623\" stroke=\"#fff\" stroke-width=\"0.5\"/>";
  o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << cell * S << "\" height=\"" << cell * T
    << "\" fill=\"none\" stroke=\"#888\"/></svg>";
  return o.str();
}

}  // namespace

std::string attention_svg(const std::vector<std::string>& src, const std::vector<std::string>& out,
                          const std::vector<std::vector<float>>& weights, const std::string& title,
                          const std::vector<int>& gold) {
  return heatmap_svg(src, out, weights, gold, title, false);
}

void write_attention_svg(const Hypothesis& h, const std::vector<std::string>& src,
                         const std::vector<std::string>& out, std::ostream& stream, const std::string& view) {
  const auto& rows = attention_rows(h, view);
  stream << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         << heatmap_svg(src, out, rows, {}, view == kDefaultAttentionViewName ? "" : view, true) << "\n";
}

void write_attention_json(const Hypothesis& h, const std::vector<std::string>& src,
                          const std::vector<std::string>& out, std::ostream& stream, const std::string& view) {
  const auto& weights = attention_rows(h, view);
  std::vector<std::string> rows;
  for (std::size_t i = 0; i < weights.size(); ++i) rows.push_back(i < out.size() ? out[i] : "</s>");
  json j = {{"source", src}, {"output", rows}, {"weights", weights}, {"view", view},
            {"log_prob", h.log_prob}, {"score", h.score}, {"finished", h.finished}};
  if (!h.views.empty()) {
    j["default_view"] = kDefaultAttentionView;
    json views = json::object();
    for (std::size_t v = 0; v < h.views.size() && v < h.view_names.size(); ++v) views[h.view_names[v]] = h.views[v];
    j["views"] = std::move(views);
    j["view_names"] = h.view_names;  // "views" in layer/head order (JSON objects have none)
  }
  if (!h.encoder_views.empty()) {  // the encoder's self-attention over the source: [query][key]
    json views = json::object();
    for (std::size_t v = 0; v < h.encoder_views.size() && v < h.encoder_view_names.size(); ++v)
      views[h.encoder_view_names[v]] = h.encoder_views[v];
    j["encoder_views"] = std::move(views);
    j["encoder_view_names"] = h.encoder_view_names;
  }
  stream << j.dump() << "\n";
}

void write_attention_csv(const Hypothesis& h, const std::vector<std::string>& src,
                         const std::vector<std::string>& out, std::ostream& stream, const std::string& view) {
  const auto& weights = attention_rows(h, view);
  stream << csv_field("output\\source");
  for (const auto& t : src) stream << "," << csv_field(t);
  stream << "\n";
  for (std::size_t i = 0; i < weights.size(); ++i) {
    stream << csv_field(i < out.size() ? out[i] : "</s>");
    for (std::size_t j = 0; j < src.size(); ++j)
      stream << "," << fmt("%.6g", j < weights[i].size() ? weights[i][j] : 0.0);
    stream << "\n";
  }
}

}  // namespace attend
