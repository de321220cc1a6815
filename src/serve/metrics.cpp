#include "attend/serve/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "attend/core/error.hpp"

namespace attend {

namespace {

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string label_text(const MetricLabels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (!valid_name(labels[i].first)) throw Error("metric label name '" + labels[i].first + "' is not valid");
    out += (i ? "," : "") + labels[i].first + "=\"" + escape_label_value(labels[i].second) + "\"";
  }
  return out + "}";
}

// Prometheus' float text: integers without a fraction, +Inf/-Inf/NaN spelt its way.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// {a="x"} plus le="0.5" -> {a="x",le="0.5"}
std::string with_le(const std::string& labels, const std::string& le) {
  if (labels.empty()) return "{le=\"" + le + "\"}";
  return labels.substr(0, labels.size() - 1) + ",le=\"" + le + "\"}";
}

std::string escape_help(const std::string& help) {
  std::string out;
  for (const char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

Metrics::Family& Metrics::declare(const std::string& name, const std::string& help, Type type) {
  if (!valid_name(name)) throw Error("metric name '" + name + "' is not valid");
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& f : families_)
    if (f.name == name) {
      if (f.type != type) throw Error("metric '" + name + "' is declared twice with different types");
      return f;
    }
  families_.push_back(Family{name, help, type, {}, {}});
  return families_.back();
}

void Metrics::counter(const std::string& name, const std::string& help) { declare(name, help, Type::counter); }
void Metrics::gauge(const std::string& name, const std::string& help) { declare(name, help, Type::gauge); }
void Metrics::histogram(const std::string& name, const std::string& help, std::vector<double> bounds) {
  if (bounds.empty() || !std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end())
    throw Error("histogram '" + name + "' needs increasing bucket bounds");
  Family& f = declare(name, help, Type::histogram);
  std::lock_guard<std::mutex> lock(mutex_);
  if (f.bounds.empty()) f.bounds = std::move(bounds);
}

Metrics::Family& Metrics::family(const std::string& name, Type type) {
  for (auto& f : families_)
    if (f.name == name) {
      if (f.type != type) throw Error("metric '" + name + "' is used as another type than declared");
      return f;
    }
  throw Error("metric '" + name + "' is not declared");
}

const Metrics::Family* Metrics::find(const std::string& name) const {
  for (const auto& f : families_)
    if (f.name == name) return &f;
  return nullptr;
}

void Metrics::add(const std::string& name, const MetricLabels& labels, double value) {
  const std::string key = label_text(labels);
  std::lock_guard<std::mutex> lock(mutex_);
  family(name, Type::counter).series[key].value += value;
}

void Metrics::set(const std::string& name, const MetricLabels& labels, double value) {
  const std::string key = label_text(labels);
  std::lock_guard<std::mutex> lock(mutex_);
  family(name, Type::gauge).series[key].value = value;
}

void Metrics::observe(const std::string& name, const MetricLabels& labels, double value) {
  const std::string key = label_text(labels);
  std::lock_guard<std::mutex> lock(mutex_);
  Family& f = family(name, Type::histogram);
  Series& s = f.series[key];
  if (s.buckets.empty()) s.buckets.assign(f.bounds.size(), 0);
  const auto at = std::lower_bound(f.bounds.begin(), f.bounds.end(), value);  // first bound >= value
  if (at != f.bounds.end()) s.buckets[static_cast<std::size_t>(at - f.bounds.begin())] += 1;
  s.value += value;
  s.count += 1;
}

void Metrics::clear(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  family(name, Type::gauge).series.clear();
}

double Metrics::value(const std::string& name, const MetricLabels& labels) const {
  const std::string key = label_text(labels);
  std::lock_guard<std::mutex> lock(mutex_);
  const Family* f = find(name);
  if (!f) throw Error("metric '" + name + "' is not declared");
  const auto s = f->series.find(key);
  if (s == f->series.end()) return 0;
  return f->type == Type::histogram ? static_cast<double>(s->second.count) : s->second.value;
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + f.name + " " +
           (f.type == Type::counter ? "counter" : f.type == Type::gauge ? "gauge" : "histogram") + "\n";
    for (const auto& [labels, s] : f.series) {
      if (f.type != Type::histogram) {
        out += f.name + labels + " " + number(s.value) + "\n";
        continue;
      }
      std::size_t cumulative = 0;
      for (std::size_t b = 0; b < f.bounds.size(); ++b) {
        cumulative += s.buckets[b];
        out += f.name + "_bucket" + with_le(labels, number(f.bounds[b])) + " " + std::to_string(cumulative) + "\n";
      }
      out += f.name + "_bucket" + with_le(labels, "+Inf") + " " + std::to_string(s.count) + "\n";
      out += f.name + "_sum" + labels + " " + number(s.value) + "\n";
      out += f.name + "_count" + labels + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

}  // namespace attend
