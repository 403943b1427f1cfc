#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/common.h>
#include <nlohmann/json.hpp>

#include "peergate/webhook/admission.h"

namespace peergate::webhook {

// Server logs: one line per event on stderr, as JSON objects (`--log-format json`, the default
// in a cluster) or as `time level message key=value...` text. Structured fields travel beside
// the message, so plain spdlog calls from anywhere in the process still produce valid lines.
enum class LogFormat { Json, Text };

std::optional<LogFormat> parseLogFormat(std::string_view text);

// Replaces spdlog's default logger with a stderr logger in `format` at `level`.
void configureLogging(LogFormat format, spdlog::level::level_enum level = spdlog::level::info);

// Logs `message` with `fields` (a JSON object; its members become top-level keys in JSON lines
// and key=value pairs in text lines) through the default logger.
void logEvent(spdlog::level::level_enum level, std::string_view message,
              const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());

// The decision line: uid, kind, namespace, name, operation, user, verdict (allowed | denied |
// error), findings, exceptions, dry_run, injection, message, latency_ms.
nlohmann::ordered_json decisionFields(const AdmissionOutcome& outcome, double latency_ms);
void logDecision(const AdmissionOutcome& outcome, double latency_ms);

// Renders one line as `configureLogging` would (without the trailing newline); for tests.
std::string formatLogLine(LogFormat format, spdlog::level::level_enum level,
                          std::string_view message, const nlohmann::ordered_json& fields,
                          std::chrono::system_clock::time_point time);

}  // namespace peergate::webhook
