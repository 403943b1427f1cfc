#include "peergate/webhook/decision_log.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace peergate::webhook {
namespace {

// The structured fields of the event being logged on this thread (set by logEvent around the
// synchronous spdlog call; null for plain spdlog calls).
thread_local const nlohmann::ordered_json* t_fields = nullptr;

std::string utcTimestamp(std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[80];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

std::string_view levelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

bool needsQuotes(std::string_view text) {
  if (text.empty()) return true;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || c == '"' || c == '=' || c == '\\' || byte == 0x7f) return true;
  }
  return false;
}

// key=value text: strings bare when safe, JSON-quoted otherwise; arrays joined with commas.
std::string textValue(const nlohmann::ordered_json& value) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    return needsQuotes(text) ? value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                             : text;
  }
  if (value.is_array()) {
    std::string joined;
    for (const auto& item : value) {
      if (!joined.empty()) joined += ',';
      joined += item.is_string() ? item.get<std::string>() : item.dump();
    }
    return needsQuotes(joined) ? nlohmann::json(joined).dump(
                                     -1, ' ', false, nlohmann::json::error_handler_t::replace)
                               : joined;
  }
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string renderLine(LogFormat format, spdlog::level::level_enum level, std::string_view message,
                       const nlohmann::ordered_json* fields,
                       std::chrono::system_clock::time_point time) {
  if (format == LogFormat::Json) {
    nlohmann::ordered_json line;
    line["time"] = utcTimestamp(time);
    line["level"] = levelName(level);
    line["msg"] = message;
    if (fields != nullptr && fields->is_object()) {
      for (const auto& [key, value] : fields->items()) {
        if (key != "time" && key != "level" && key != "msg") line[key] = value;
      }
    }
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string line = utcTimestamp(time);
  line += ' ';
  std::string_view name = levelName(level);
  line += name;
  line.append(name.size() < 5 ? 5 - name.size() : 0, ' ');
  line += ' ';
  line += message;
  if (fields != nullptr && fields->is_object()) {
    for (const auto& [key, value] : fields->items()) {
      line += ' ';
      line += key;
      line += '=';
      line += textValue(value);
    }
  }
  return line;
}

class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line =
        renderLine(format_, msg.level, std::string_view(msg.payload.data(), msg.payload.size()),
                   t_fields, msg.time);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  LogFormat format_;
};

}  // namespace

std::optional<LogFormat> parseLogFormat(std::string_view text) {
  if (text == "json") return LogFormat::Json;
  if (text == "text") return LogFormat::Text;
  return std::nullopt;
}

void configureLogging(LogFormat format, spdlog::level::level_enum level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("peergate", std::move(sink));
  logger->set_formatter(std::make_unique<LineFormatter>(format));
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

void logEvent(spdlog::level::level_enum level, std::string_view message,
              const nlohmann::ordered_json& fields) {
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (logger == nullptr || !logger->should_log(level)) return;
  const nlohmann::ordered_json* previous = t_fields;
  t_fields = &fields;
  logger->log(level, spdlog::string_view_t(message.data(), message.size()));
  t_fields = previous;
}

nlohmann::ordered_json decisionFields(const AdmissionOutcome& outcome, double latency_ms) {
  nlohmann::ordered_json fields = nlohmann::ordered_json::object();
  fields["webhook"] = outcome.webhook;
  fields["uid"] = outcome.uid;
  fields["kind"] = outcome.kind;
  fields["namespace"] = outcome.namespace_name;
  fields["name"] = outcome.name;
  fields["operation"] = outcome.operation;
  fields["user"] = outcome.user;
  fields["verdict"] = outcome.errored() ? "error" : (outcome.allowed ? "allowed" : "denied");
  fields["findings"] = outcome.findingCodes();
  if (const std::vector<std::string> excepted = outcome.findingCodes("exception");
      !excepted.empty()) {
    fields["exceptions"] = excepted;
  }
  if (outcome.dry_run) fields["dry_run"] = true;
  if (!outcome.injection.empty()) fields["injection"] = outcome.injection;
  if (!outcome.message.empty()) fields["message"] = outcome.message;
  fields["latency_ms"] = std::round(latency_ms * 1000.0) / 1000.0;
  return fields;
}

void logDecision(const AdmissionOutcome& outcome, double latency_ms) {
  // A pod admitted uninjected on stale state needs someone to recreate it: not business as usual.
  const bool notable = outcome.errored() || outcome.injection == "stale";
  logEvent(notable ? spdlog::level::warn : spdlog::level::info, "admission decision",
           decisionFields(outcome, latency_ms));
}

std::string formatLogLine(LogFormat format, spdlog::level::level_enum level,
                          std::string_view message, const nlohmann::ordered_json& fields,
                          std::chrono::system_clock::time_point time) {
  return renderLine(format, level, message, &fields, time);
}

}  // namespace peergate::webhook
