#pragma once

#include <string>
#include <utility>
#include <variant>

namespace peergate::validation {

// A decode or load failure: what went wrong and where, so a user can fix the input.
struct Error {
  std::string code;     // stable id, e.g. "yaml.syntax", "json.duplicate_key", "limit.depth"
  std::string file;     // "-" for stdin, "" when not from a file
  int document = 0;     // 0-based index of the YAML document / List item in the file
  int line = 0;         // 1-based; 0 when unknown
  std::string path;     // field path, e.g. "items[3].spec.mtls.mode"
  std::string message;  // what is wrong and how to fix it

  // "file:line: document N: path: message" with the unknown parts left out.
  std::string describe() const;
};

// Value or Error. The engine never throws across its API.
template <typename T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<T>(state_); }
  T& value() & { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

}  // namespace peergate::validation
