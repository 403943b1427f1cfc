#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace peergate::webhook {

// A small Prometheus registry: counter, gauge and histogram families with labels, rendered in
// the text exposition format 0.0.4 (HELP and TYPE lines, families in registration order, series
// in label order). Every method is thread-safe; a family is created once and lives as long as
// its registry, so references to it can be kept.

using LabelValues = std::vector<std::string>;

enum class MetricType { Counter, Gauge, Histogram };

class MetricFamily {
 public:
  MetricFamily(std::string name, std::string help, MetricType type,
               std::vector<std::string> label_names, std::vector<double> buckets);
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& labelNames() const { return label_names_; }

  // Appends the HELP, TYPE and sample lines.
  void render(std::string& out) const;

 protected:
  struct Series {
    double value = 0;               // counter and gauge value; histogram sum
    std::vector<uint64_t> buckets;  // histogram: cumulative counts per upper bound
    uint64_t count = 0;             // histogram observations
  };
  // The series for `labels`, created on first use. Caller holds mutex_. Nullptr when the
  // number of values does not match the label names (a programming error; asserted).
  Series* seriesFor(const LabelValues& labels);
  const Series* findSeries(const LabelValues& labels) const;

  mutable std::mutex mutex_;
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histogram upper bounds, ascending, without +Inf
  std::map<LabelValues, Series> series_;
};

class Counter : public MetricFamily {
 public:
  Counter(std::string name, std::string help, std::vector<std::string> label_names);
  void inc(const LabelValues& labels = {}, double amount = 1.0);
  double value(const LabelValues& labels = {}) const;
};

class Gauge : public MetricFamily {
 public:
  Gauge(std::string name, std::string help, std::vector<std::string> label_names);
  void set(const LabelValues& labels, double value);
  void set(double value) { set({}, value); }
  void add(const LabelValues& labels, double amount);
  double value(const LabelValues& labels = {}) const;
};

class Histogram : public MetricFamily {
 public:
  Histogram(std::string name, std::string help, std::vector<std::string> label_names,
            std::vector<double> buckets);
  void observe(const LabelValues& labels, double value);
  uint64_t count(const LabelValues& labels = {}) const;
  double sum(const LabelValues& labels = {}) const;
};

class MetricsRegistry {
 public:
  Counter& counter(std::string name, std::string help, std::vector<std::string> label_names = {});
  Gauge& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  Histogram& histogram(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> buckets);

  // The whole registry in the text exposition format.
  std::string render() const;

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  template <typename Family, typename... Args>
  Family& add(Args&&... args);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<MetricFamily>> families_;
};

// Every metric the webhook process exports, declared once (metrics.cc holds the names, help
// texts and labels; docs/webhook.md lists them). Components receive this and bump what they own.
struct ServerMetrics {
  explicit ServerMetrics(MetricsRegistry& registry);

  // Admission (https_server.cc)
  Counter& admission_requests;    // {webhook, kind, operation, allowed}
  Histogram& admission_duration;  // {webhook}
  Counter& findings;              // {code, action}
  Counter& injections;            // {mode, result}
  Counter& admission_errors;      // {reason}
  Gauge& busy_workers;            // requests being answered (decision or reply write)
  Gauge& queued_connections;      // open connections without a request being answered
  // Serving certificate (cert_reloader.cc)
  Gauge& serving_cert_expiry;     // Unix seconds of notAfter
  Counter& serving_cert_reloads;  // {result}
  // Cluster state (static_state.cc, the kube client)
  Counter& cluster_state_syncs;    // {result}
  Gauge& cluster_state_objects;    // {kind}
  Gauge& cluster_state_last_sync;  // Unix seconds of the last confirmed sync
};

// Formats a sample value as Prometheus expects: integers without exponent, +Inf, -Inf, NaN.
std::string formatMetricValue(double value);

}  // namespace peergate::webhook
