// The comparisons along the grid's axes other than attention (summary_axes.hpp): each variant
// against its twin with the axis's first value, and the scaling view of the width axes.
#include "summary_axes.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "attend/experiment/grid_axis.hpp"

namespace attend {

namespace {

// How many paired comparisons each test separates, by direction, for the reports' one-sentence
// notes: "better in 1, worse in 0, not separated in 2 by the paired bootstrap (p < 0.05); across
// seeds (t-test, p < 0.05) …".
struct SeparationTally {
  std::size_t pairs = 0, up = 0, down = 0, judged = 0, seeds_up = 0, seeds_down = 0;
  void add(const PairedComparison& t) {
    ++pairs;
    if (t.compared && t.bootstrap.p_value < 0.05) ++(t.bootstrap.delta > 0 ? up : down);
    if (t.seeds.judged()) {
      ++judged;
      if (std::isfinite(t.seeds.t.p) && t.seeds.t.p < 0.05) ++(t.seeds.mean_difference > 0 ? seeds_up : seeds_down);
    }
  }
  std::string text(const std::string& up_word, const std::string& down_word) const {
    std::string t = up_word + " in " + std::to_string(up) + ", " + down_word + " in " + std::to_string(down) +
                    ", not separated in " + std::to_string(pairs - up - down) + " by the paired bootstrap (p < 0.05)";
    if (!judged)
      return t + "; fewer than " + std::to_string(SeedTest::kMinSeeds) + " paired seeds, so no test across seeds";
    return t + "; across seeds (t-test, p < 0.05) " + up_word + " in " + std::to_string(seeds_up) + ", " + down_word +
           " in " + std::to_string(seeds_down) + ", not separated in " +
           std::to_string(judged - seeds_up - seeds_down) +
           (judged < pairs ? " of the " + std::to_string(judged) + " with " + std::to_string(SeedTest::kMinSeeds) +
                                 " or more paired seeds"
                           : "");
  }
};

}  // namespace

// CompareSummary::contrasts and contrast_notes. An axis takes part when the variants hold two or
// more values of it; its reference is the value of the first variant in grid order (the first
// value given on the command line).
void add_axis_contrasts(CompareSummary& s) {
  // Every axis of the grid's table but attention, in nesting order (encoder, cell, decoder, luong
  // output, then any registered), named by its field ("luong output").
  struct Axis {
    std::string name;
    const GridAxis* axis;
  };
  std::vector<Axis> axes;
  for (const GridAxis& a : grid_axes()) {
    if (std::string(a.field) == "attention") continue;
    std::string name = a.field;
    std::replace(name.begin(), name.end(), '_', ' ');
    axes.push_back({name, &a});
  }
  std::stable_sort(axes.begin(), axes.end(), [](const Axis& a, const Axis& b) { return a.axis->nesting < b.axis->nesting; });
  auto value_of = [](const Variant& v, const GridAxis* axis) {
    const std::string* value = axis_value(v, *axis);
    return value ? *value : std::string();
  };
  auto same_except = [&](const Variant& a, const Variant& b, const GridAxis* except) {
    for (const GridAxis& x : grid_axes())
      if (&x != except && value_of(a, &x) != value_of(b, &x)) return false;
    return true;
  };
  for (const Axis& axis : axes) {
    std::vector<std::string> values;
    for (const auto& v : s.variants)
      if (std::find(values.begin(), values.end(), value_of(v.variant, axis.axis)) == values.end())
        values.push_back(value_of(v.variant, axis.axis));
    if (values.size() < 2) continue;
    const std::string& ref = values.front();
    for (std::size_t i = 0; i < s.variants.size(); ++i) {
      const Variant& v = s.variants[i].variant;
      if (value_of(v, axis.axis) == ref) continue;
      for (std::size_t j = 0; j < s.variants.size(); ++j) {
        const Variant& u = s.variants[j].variant;
        if (value_of(u, axis.axis) != ref || !same_except(v, u, axis.axis)) continue;
        CompareSummary::AxisContrast c;
        c.axis = axis.name;
        c.value = value_of(v, axis.axis);
        c.reference_value = ref;
        c.variant = i;
        c.reference = j;
        c.test = compare_paired(s.variants[i], s.variants[j], s.corpus, s.resamples, s.bootstrap_seed);
        s.contrasts.push_back(c);
        break;
      }
    }
    for (std::size_t k = 1; k < values.size(); ++k) {
      SeparationTally tally;
      for (const auto& c : s.contrasts)
        if (c.axis == axis.name && c.value == values[k]) tally.add(c.test);
      if (tally.pairs == 0) continue;
      s.contrast_notes.emplace_back(
          axis.name, "`" + values[k] + "` against `" + ref + "`, " + std::to_string(tally.pairs) +
                         (tally.pairs == 1 ? " pair" : " pairs") + ": " + tally.text("better", "worse") + ".");
    }
  }
}

// CompareSummary::width_series: per width axis the grid varies (hidden, heads), the headline
// metric of each series (the variants equal on every other axis) at each width.
void add_width_series(CompareSummary& s, const CompareResult& result) {
  const GridAxis* hidden_axis = nullptr;
  for (const GridAxis& a : grid_axes())
    if (std::string(a.field) == "hidden") hidden_axis = &a;
  auto number = [](const std::string* text) {
    return text && !text->empty() ? std::strtod(text->c_str(), nullptr) : 0.0;
  };
  for (const GridAxis& axis : grid_axes()) {
    const std::string field = axis.field;
    if (field != "hidden" && field != "heads") continue;
    std::vector<std::string> values;
    for (const auto& v : s.variants) {
      const std::string* x = axis_value(v.variant, axis);
      if (x && !x->empty() && std::find(values.begin(), values.end(), *x) == values.end()) values.push_back(*x);
    }
    if (values.size() < 2) continue;
    CompareSummary::WidthSeries w;
    w.axis = field;
    const bool heads = field == "heads";
    // d_model of each variant: its hidden axis value, else the shared model's width.
    auto d_model = [&](const Variant& v) {
      const double h = hidden_axis ? number(axis_value(v, *hidden_axis)) : 0.0;
      return h > 0 ? h : double(result.hidden);
    };
    bool known = true;
    for (const auto& v : s.variants)
      if (heads && axis_value(v.variant, axis) && !(d_model(v.variant) > 0)) known = false;
    w.x_label = !heads ? "hidden" : known ? "d_k" : "heads";
    auto width_of = [&](const Variant& v) {
      const double x = number(axis_value(v, axis));
      return heads && known && x > 0 ? d_model(v) / x : x;
    };
    // Series in grid order, each with its variants' widths.
    std::vector<std::pair<std::string, std::vector<std::pair<double, std::size_t>>>> lines;
    for (std::size_t i = 0; i < s.variants.size(); ++i) {
      const std::string* x = axis_value(s.variants[i].variant, axis);
      if (!x || x->empty()) continue;
      Variant rest = s.variants[i].variant;
      rest.more_axes.erase(axis.field);  // the width axes are kept in more_axes
      const std::string name = rest.name();
      auto it = std::find_if(lines.begin(), lines.end(), [&](const auto& l) { return l.first == name; });
      if (it == lines.end()) {
        lines.emplace_back(name, std::vector<std::pair<double, std::size_t>>{});
        it = lines.end() - 1;
      }
      const double width = width_of(s.variants[i].variant);
      it->second.push_back({width, i});
      if (std::find(w.xs.begin(), w.xs.end(), width) == w.xs.end()) w.xs.push_back(width);
    }
    std::sort(w.xs.begin(), w.xs.end());
    SeparationTally tally;
    for (const auto& [name, points] : lines) {
      CompareSummary::WidthSeries::Line line;
      line.name = name;
      line.cells.assign(w.xs.size(), MeanStd{});
      line.variants.assign(w.xs.size(), -1);
      for (const auto& [width, i] : points) {
        const std::size_t k = std::find(w.xs.begin(), w.xs.end(), width) - w.xs.begin();
        line.variants[k] = long(i);
        line.cells[k] = s.corpus ? s.variants[i].bleu : s.variants[i].exact_match;
      }
      std::vector<std::size_t> present;
      for (std::size_t k = 0; k < w.xs.size(); ++k)
        if (line.cells[k].n) present.push_back(k);
      if (present.size() >= 2) {
        line.tested = true;
        line.low = present.front();
        line.high = present.back();
        line.test = compare_paired(s.variants[std::size_t(line.variants[line.high])],
                                   s.variants[std::size_t(line.variants[line.low])], s.corpus, s.resamples,
                                   s.bootstrap_seed);
        tally.add(line.test);
      }
      w.series.push_back(line);
    }
    const std::string metric = s.corpus ? "BLEU" : "exact match";
    if (tally.pairs == 0)
      w.note = "No series has successful runs at two or more " + w.x_label + " values, so none is tested.";
    else
      w.note = "Largest against smallest " + w.x_label + " within each series, " + std::to_string(tally.pairs) +
               " series: " + metric + " " + tally.text("higher", "lower") + ".";
    s.width_series.push_back(w);
  }
}

}  // namespace attend
