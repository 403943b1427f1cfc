#include "peergate/webhook/metrics.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <utility>

namespace peergate::webhook {
namespace {

// Buckets for admission latency: the apiserver's timeout is 1-30 s (10 s default); most
// decisions take well under a millisecond, big plans tens of milliseconds.
const std::vector<double> kAdmissionBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};

std::string_view typeName(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Histogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void appendEscaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `{a="x",b="y"` (no closing brace, so a histogram can add `le`), or "" without labels.
void appendLabels(std::string& out, const std::vector<std::string>& names,
                  const LabelValues& values) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += i == 0 ? '{' : ',';
    out += names[i];
    out += "=\"";
    appendEscaped(out, values[i], true);
    out += '"';
  }
}

void appendSample(std::string& out, std::string_view name, const std::vector<std::string>& names,
                  const LabelValues& values, double value) {
  out += name;
  appendLabels(out, names, values);
  if (!names.empty()) out += '}';
  out += ' ';
  out += formatMetricValue(value);
  out += '\n';
}

}  // namespace

std::string formatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  // Shortest round-trip digits, in fixed notation for the usual magnitudes (0.0005 and
  // 1795394003.25, not 5e-04 and 1.79539400325e+09), scientific only beyond them.
  const double magnitude = std::fabs(value);
  const bool fixed = value == 0 || (magnitude >= 1e-6 && magnitude < 1e15);
  const auto result =
      fixed ? std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed)
            : std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

MetricFamily::MetricFamily(std::string name, std::string help, MetricType type,
                           std::vector<std::string> label_names, std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      bounds_(std::move(buckets)) {
  assert(std::is_sorted(bounds_.begin(), bounds_.end()));
}

MetricFamily::Series* MetricFamily::seriesFor(const LabelValues& labels) {
  assert(labels.size() == label_names_.size());
  if (labels.size() != label_names_.size()) return nullptr;
  auto it = series_.find(labels);
  if (it == series_.end()) {
    it = series_.emplace(labels, Series{}).first;
    if (type_ == MetricType::Histogram) it->second.buckets.assign(bounds_.size(), 0);
  }
  return &it->second;
}

const MetricFamily::Series* MetricFamily::findSeries(const LabelValues& labels) const {
  auto it = series_.find(labels);
  return it == series_.end() ? nullptr : &it->second;
}

void MetricFamily::render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  appendEscaped(out, help_, false);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += typeName(type_);
  out += '\n';

  std::lock_guard lock(mutex_);
  // A family without labels always has its one series, so a scrape sees 0 rather than nothing.
  if (series_.empty() && label_names_.empty()) {
    if (type_ != MetricType::Histogram) {
      appendSample(out, name_, {}, {}, 0);
      return;
    }
  }
  for (const auto& [labels, series] : series_) {
    if (type_ != MetricType::Histogram) {
      appendSample(out, name_, label_names_, labels, series.value);
      continue;
    }
    uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += i < bounds_.size() ? series.buckets[i] : 0;
      const uint64_t at_bound = i < bounds_.size() ? cumulative : series.count;
      out += name_;
      out += "_bucket";
      appendLabels(out, label_names_, labels);
      out += label_names_.empty() ? "{le=\"" : ",le=\"";
      out += i < bounds_.size() ? formatMetricValue(bounds_[i]) : "+Inf";
      out += "\"} ";
      out += std::to_string(at_bound);
      out += '\n';
    }
    appendSample(out, name_ + "_sum", label_names_, labels, series.value);
    appendSample(out, name_ + "_count", label_names_, labels, static_cast<double>(series.count));
  }
}

Counter::Counter(std::string name, std::string help, std::vector<std::string> label_names)
    : MetricFamily(std::move(name), std::move(help), MetricType::Counter, std::move(label_names),
                   {}) {}

void Counter::inc(const LabelValues& labels, double amount) {
  assert(amount >= 0);
  std::lock_guard lock(mutex_);
  if (Series* series = seriesFor(labels)) series->value += amount;
}

double Counter::value(const LabelValues& labels) const {
  std::lock_guard lock(mutex_);
  const Series* series = findSeries(labels);
  return series ? series->value : 0;
}

Gauge::Gauge(std::string name, std::string help, std::vector<std::string> label_names)
    : MetricFamily(std::move(name), std::move(help), MetricType::Gauge, std::move(label_names),
                   {}) {}

void Gauge::set(const LabelValues& labels, double value) {
  std::lock_guard lock(mutex_);
  if (Series* series = seriesFor(labels)) series->value = value;
}

void Gauge::add(const LabelValues& labels, double amount) {
  std::lock_guard lock(mutex_);
  if (Series* series = seriesFor(labels)) series->value += amount;
}

double Gauge::value(const LabelValues& labels) const {
  std::lock_guard lock(mutex_);
  const Series* series = findSeries(labels);
  return series ? series->value : 0;
}

Histogram::Histogram(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> buckets)
    : MetricFamily(std::move(name), std::move(help), MetricType::Histogram, std::move(label_names),
                   std::move(buckets)) {}

void Histogram::observe(const LabelValues& labels, double value) {
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  std::lock_guard lock(mutex_);
  Series* series = seriesFor(labels);
  if (series == nullptr) return;
  if (bucket < series->buckets.size()) ++series->buckets[bucket];
  ++series->count;
  series->value += value;
}

uint64_t Histogram::count(const LabelValues& labels) const {
  std::lock_guard lock(mutex_);
  const Series* series = findSeries(labels);
  return series ? series->count : 0;
}

double Histogram::sum(const LabelValues& labels) const {
  std::lock_guard lock(mutex_);
  const Series* series = findSeries(labels);
  return series ? series->value : 0;
}

template <typename Family, typename... Args>
Family& MetricsRegistry::add(Args&&... args) {
  auto family = std::make_unique<Family>(std::forward<Args>(args)...);
  Family& ref = *family;
  std::lock_guard lock(mutex_);
  assert(std::none_of(families_.begin(), families_.end(),
                      [&](const auto& existing) { return existing->name() == ref.name(); }));
  families_.push_back(std::move(family));
  return ref;
}

Counter& MetricsRegistry::counter(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  return add<Counter>(std::move(name), std::move(help), std::move(label_names));
}

Gauge& MetricsRegistry::gauge(std::string name, std::string help,
                              std::vector<std::string> label_names) {
  return add<Gauge>(std::move(name), std::move(help), std::move(label_names));
}

Histogram& MetricsRegistry::histogram(std::string name, std::string help,
                                      std::vector<std::string> label_names,
                                      std::vector<double> buckets) {
  return add<Histogram>(std::move(name), std::move(help), std::move(label_names),
                        std::move(buckets));
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& family : families_) family->render(out);
  return out;
}

// The one list of the webhook's metrics. Names and labels are part of the operations contract
// (dashboards and alerts use them): docs/webhook.md documents each.
ServerMetrics::ServerMetrics(MetricsRegistry& registry)
    : admission_requests(registry.counter(
          "peergate_admission_requests_total",
          "AdmissionReview requests answered, by webhook route, object kind, operation and "
          "verdict.",
          {"webhook", "kind", "operation", "allowed"})),
      admission_duration(registry.histogram(
          "peergate_admission_review_duration_seconds",
          "Time from the request's arrival to its reply being ready, by webhook route.",
          {"webhook"}, kAdmissionBuckets)),
      findings(registry.counter("peergate_findings_total",
                                "Findings that shaped an admission verdict, by finding code and "
                                "the action taken (deny, warn, exception).",
                                {"code", "action"})),
      injections(registry.counter("peergate_injections_total",
                                  "Pod injection decisions, by mode (sidecar, ambient, none) and "
                                  "result (injected, skipped, stale, error).",
                                  {"mode", "result"})),
      admission_errors(registry.counter(
          "peergate_admission_errors_total",
          "Requests that could not be decided, by reason (body_too_large, body_read, "
          "bad_request, state_unavailable, internal, unknown_route).",
          {"reason"})),
      busy_workers(registry.gauge(
          "peergate_https_busy_workers",
          "HTTPS requests being answered now: decided (or waiting for a decision slot) or having "
          "their reply written.")),
      queued_connections(registry.gauge(
          "peergate_https_queued_connections",
          "Open HTTPS connections without a request being answered: in the TLS handshake, "
          "sending a request, or idle in keep-alive. Open connections = this + busy_workers.")),
      serving_cert_expiry(
          registry.gauge("peergate_serving_cert_expiry_timestamp_seconds",
                         "notAfter of the serving certificate in use, in Unix seconds.")),
      serving_cert_reloads(registry.counter(
          "peergate_serving_cert_reloads_total",
          "Serving certificate loads from disk, by result (success, error).", {"result"})),
      cluster_state_syncs(registry.counter(
          "peergate_cluster_state_syncs_total",
          "Complete cluster-state syncs, by result (success, error).", {"result"})),
      cluster_state_objects(registry.gauge("peergate_cluster_state_objects",
                                           "Objects in the current cluster-state snapshot, by "
                                           "kind.",
                                           {"kind"})),
      cluster_state_last_sync(registry.gauge(
          "peergate_cluster_state_last_sync_timestamp_seconds",
          "When the cluster state was last confirmed complete and current, in Unix seconds.")) {}

}  // namespace peergate::webhook
