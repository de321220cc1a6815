// Counters, gauges and histograms that `attend serve` exposes at GET /metrics in the Prometheus
// text exposition format (version 0.0.4; docs/serve.md, "Metrics"). A small registry: families
// are declared once with their help text, series are created on first use by their labels.
// Thread-safe; every update takes one mutex, which is cheap next to a request.
#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace attend {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  // Declares a family (again: no effect). Names are [a-zA-Z_:][a-zA-Z0-9_:]*; a histogram's
  // upper bounds are increasing (+Inf is added).
  void counter(const std::string& name, const std::string& help);
  void gauge(const std::string& name, const std::string& help);
  void histogram(const std::string& name, const std::string& help, std::vector<double> bounds);

  // Throw attend::Error for an undeclared family or one of another type.
  void add(const std::string& name, const MetricLabels& labels = {}, double value = 1);  // counter
  void set(const std::string& name, const MetricLabels& labels, double value);            // gauge
  void set(const std::string& name, double value) { set(name, {}, value); }
  void observe(const std::string& name, const MetricLabels& labels, double value);        // histogram
  void observe(const std::string& name, double value) { observe(name, {}, value); }
  // Removes every series of a gauge family (a model reloaded under another file: its old info).
  void clear(const std::string& name);

  // The value of one counter or gauge series (0 when it has none yet); a histogram's count.
  double value(const std::string& name, const MetricLabels& labels = {}) const;

  // Every family in declaration order: # HELP, # TYPE, then its series sorted by labels
  // (histograms: _bucket{le=...} cumulative, _sum, _count). A family without series has only
  // its HELP and TYPE lines.
  std::string render() const;

 private:
  enum class Type { counter, gauge, histogram };
  struct Series {
    double value = 0;                   // counter, gauge; a histogram's sum
    std::vector<std::size_t> buckets;   // histogram: observations <= each bound (not cumulative)
    std::size_t count = 0;              // histogram: observations
  };
  struct Family {
    std::string name, help;
    Type type = Type::counter;
    std::vector<double> bounds;
    std::map<std::string, Series> series;  // by the rendered label set, e.g. {a="x",b="y"}
  };
  Family& declare(const std::string& name, const std::string& help, Type type);
  Family& family(const std::string& name, Type type);
  const Family* find(const std::string& name) const;

  mutable std::mutex mutex_;
  std::vector<Family> families_;
};

// A label value escaped for the text format: \ as \\, " as \", a line break as \n.
std::string escape_label_value(const std::string& value);

}  // namespace attend
