#include "attend/experiment/train_rule.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <stdexcept>

#include "attend/core/error.hpp"
#include "attend/experiment/grid.hpp"
#include "attend/experiment/grid_axis.hpp"
#include "attend/nn/config.hpp"
#include "attend/train/optimizer.hpp"
#include "attend/train/schedule.hpp"

namespace attend {

namespace {

// Options every variant of a grid shares: they decide how the variants are matched.
const char* const kGridWide[] = {"steps", "epochs", "max-steps", "budget", "time-limit", "patience", "eval-every",
                                 "bleu-every", "batch", "seeds", "seed", "threads", "jobs"};

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string canon(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.12g", x);
  return buf;
}

double number(const std::string& key, const std::string& value) {
  try {
    std::size_t used = 0;
    const double x = std::stod(value, &used);
    if (used != value.size() || !std::isfinite(x)) throw std::invalid_argument(value);
    return x;
  } catch (const std::exception&) {
    throw Error(key + "=" + value + ": '" + value + "' is not a number");
  }
}

std::string whole(const std::string& key, const std::string& value) {
  if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos)
    throw Error(key + "=" + value + ": needs a whole number of steps");
  try {
    return std::to_string(std::stoull(value));
  } catch (const std::out_of_range&) {  // found by fuzz/fuzz_train_rule.cpp
    throw Error(key + "=" + value + ": too large a number of steps");
  }
}

std::string in_range(const std::string& key, const std::string& value, double lo, bool lo_open, double hi,
                     bool hi_open) {
  const double x = number(key, value);
  if ((lo_open ? x <= lo : x < lo) || (hi_open ? x >= hi : x > hi))
    throw Error(key + "=" + value + ": must be in " + (lo_open ? "(" : "[") + canon(lo) + ", " +
                (std::isinf(hi) ? std::string("inf") : canon(hi)) + (hi_open ? ")" : "]"));
  return canon(x);
}

// The setting's value in canonical form (numbers as %.12g, names as their parsers give them).
std::string canonical_value(const std::string& key, const std::string& value) {
  const double inf = INFINITY;
  if (key == "lr") return in_range(key, value, 0, true, inf, true);
  if (key == "lr-grid") {
    std::string out, cur;
    std::set<double> seen;
    std::vector<std::string> parts;
    for (char c : value + ",") {
      if (c != ',') {
        cur += c;
        continue;
      }
      if (cur.empty()) throw Error("lr-grid=" + value + ": an empty rate (check for a stray comma)");
      const double x = number(key, cur);
      if (!(x > 0)) throw Error("lr-grid=" + value + ": every rate must be positive (got " + cur + ")");
      if (!seen.insert(x).second) throw Error("lr-grid=" + value + ": names " + cur + " twice");
      out += (out.empty() ? "" : ",") + canon(x);
      cur.clear();
    }
    return out;
  }
  if (key == "warmup") return whole(key, value);
  if (key == "lr-schedule") return to_string(parse_lr_schedule(value));
  if (key == "label-smoothing") return in_range(key, value, 0, false, 1, true);
  if (key == "dropout") return in_range(key, value, 0, false, 1, true);
  if (key == "clip") return in_range(key, value, 0, false, inf, true);
  if (key == "teacher-forcing") return in_range(key, value, 0, false, 1, false);
  if (key == "lr-decay") return in_range(key, value, 0, true, 1, false);
  if (key == "optimizer") return to_string(parse_optimizer(value));
  if (key == "momentum") return in_range(key, value, 0, false, 1, true);
  throw Error("unknown setting '" + key + "'");
}

const GridAxis* find_axis(const std::string& key) {
  for (const GridAxis& axis : grid_axes()) {
    std::string dashed = axis.field;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    if (key == axis.field || key == axis.option || key == dashed) return &axis;
  }
  return nullptr;
}

std::string axis_names() {
  std::string s;
  for (const GridAxis& axis : grid_axes()) {
    std::string dashed = axis.field;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    s += (s.empty() ? "" : ", ") + dashed;
  }
  return s;
}

std::pair<std::string, std::string> pair_of(const std::string& word, const char* what) {
  const auto eq = word.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == word.size())
    throw Error(std::string("'") + word + "' is not " + what + "=value");
  return {word.substr(0, eq), word.substr(eq + 1)};
}

std::vector<std::pair<std::string, std::string>> parse_selector(const std::vector<std::string>& selector) {
  std::vector<std::pair<std::string, std::string>> match;
  std::set<std::string> axes;
  for (const auto& w : selector) {
    const auto [key, value] = pair_of(w, "axis");
    const GridAxis* axis = find_axis(key);
    if (!axis) throw Error("'" + key + "' is not a grid axis (axes: " + axis_names() + ")");
    if (!axes.insert(axis->field).second) throw Error("the selector names the axis '" + key + "' twice");
    ModelConfig scratch;
    apply_axis(*axis, scratch, value);  // an unknown cell, decoder, ... throws here
    match.push_back({axis->field, value});
  }
  return match;
}

std::string selector_text(const std::vector<std::pair<std::string, std::string>>& match) {
  std::string text;
  for (const auto& [k, v] : match) {
    std::string dashed = k;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    text += (text.empty() ? "" : " ") + dashed + "=" + v;
  }
  return text;
}

}  // namespace

TrainRule parse_variant_selector(const std::string& text) {
  try {
    const auto selector = words(text);
    if (selector.empty()) throw Error("names no axis=value pair");
    TrainRule rule;
    rule.match = parse_selector(selector);
    rule.text = selector_text(rule.match);
    return rule;
  } catch (const Error& e) {
    throw Error("--only '" + text + "': " + e.what());
  }
}

const std::vector<std::string>& train_rule_keys() {
  static const std::vector<std::string> keys = {"lr",   "lr-grid", "warmup",          "lr-schedule", "label-smoothing",
                                                "dropout", "clip", "teacher-forcing", "lr-decay",    "optimizer",
                                                "momentum"};
  return keys;
}

std::string train_rule_help() {
  std::string keys;
  for (const auto& k : train_rule_keys()) keys += (keys.empty() ? "" : ", ") + k;
  return "training settings for the variants a selector matches, e.g. 'decoder=transformer: lr-grid=0.0003,0.001 "
         "warmup=4000 lr-schedule=inverse-sqrt' (repeatable; later rules win). Selector: axis=value pairs, all must "
         "hold (axes: " +
         axis_names() + "). Settings: " + keys +
         " (lr or lr-grid replaces the grid's rate or candidates for those variants)";
}

TrainRule parse_train_rule(const std::string& text) {
  const std::string where = "--for '" + text + "': ";
  try {
    const auto colon = text.find(':');
    if (colon == std::string::npos)
      throw Error("needs 'SELECTOR: SETTINGS', e.g. 'decoder=transformer: warmup=4000'");
    const auto selector = words(text.substr(0, colon));
    const auto settings = words(text.substr(colon + 1));
    if (selector.empty()) throw Error("the selector (before ':') names no axis=value pair");
    if (settings.empty()) throw Error("the rule sets nothing after ':'");
    TrainRule rule;
    rule.match = parse_selector(selector);
    std::set<std::string> keys;
    for (const auto& w : settings) {
      const auto [key, value] = pair_of(w, "setting");
      const auto& known = train_rule_keys();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        for (const char* g : kGridWide)
          if (key == g)
            throw Error("'" + key + "' is the same for every variant of a grid (the budget and batch decide how the "
                        "variants are matched: equal steps, equal time or at convergence); give it as --" + key);
        for (const ModelField& f : model_fields())
          if (*f.option && key == f.option)
            throw Error("'" + key + "' is a model option; a rule sets training settings only (vary the model with "
                        "a grid axis such as --decoder or --encoder, or run a second grid)");
        std::string valid;
        for (const auto& k : known) valid += (valid.empty() ? "" : ", ") + k;
        throw Error("unknown setting '" + key + "' (valid: " + valid + ")");
      }
      if (!keys.insert(key).second) throw Error("sets '" + key + "' twice");
      rule.settings.push_back({key, canonical_value(key, value)});
    }
    if (keys.count("lr") && keys.count("lr-grid"))
      throw Error("give either lr (one rate) or lr-grid (candidates chosen on validation), not both");
    std::string canonical = selector_text(rule.match) + ":";
    for (const auto& [k, v] : rule.settings) canonical += " " + k + "=" + v;
    rule.text = canonical;
    return rule;
  } catch (const Error& e) {
    throw Error(where + e.what());
  }
}

}  // namespace attend
