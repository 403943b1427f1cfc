#include "peergate/validation/decode.h"

#include <algorithm>
#include <iterator>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "decode_encoding.h"
#include "decode_fields.h"
#include "decode_object.h"
#include "decode_sink.h"

namespace peergate::validation {
namespace {

using Json = nlohmann::json;
using detail::DecodeContext;
using detail::ItemPlace;
using detail::LineIndex;

template <typename T>
void appendAll(std::vector<T>& into, std::vector<T>&& from) {
  if (into.empty()) {
    into = std::move(from);
    return;
  }
  into.insert(into.end(), std::make_move_iterator(from.begin()),
              std::make_move_iterator(from.end()));
}

void mergeInputs(Inputs& into, Inputs&& from) {
  appendAll(into.peer_authentications, std::move(from.peer_authentications));
  appendAll(into.namespaces, std::move(from.namespaces));
  appendAll(into.workloads, std::move(from.workloads));
  appendAll(into.services, std::move(from.services));
  appendAll(into.destination_rules, std::move(from.destination_rules));
  if (from.mesh.from_input) into.mesh = std::move(from.mesh);
  for (const auto& [kind, count] : from.skipped_kinds) into.skipped_kinds[kind] += count;
}

std::string stringField(const Json& object, std::string_view key) {
  if (!object.is_object()) return {};
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string{};
}

// Turns documents and List items into model objects. The items of a List are decoded as they
// arrive into a staging area that joins `inputs` once the document is known to be a List (in
// kubectl's output `kind: List` comes after `items`).
class InputsSink final : public detail::DocumentSink {
 public:
  InputsSink(std::string_view file, const DecodeLimits& limits, Inputs& inputs,
             DecodeOutcome& outcome)
      : file_(file), limits_(limits), inputs_(inputs), outcome_(outcome) {}

  bool beginDocument(int index) override {
    document_ = index;
    resetStaging();
    return countUnit(index);
  }

  bool listItem(Json& item, const ItemPlace& place, LineIndex lines) override {
    if (!countUnit(place.index)) return false;
    if (!item.contains("kind") && place.list_kind.empty()) {
      // Which kind it is depends on the List's kind, which is further down in the text.
      pending_.push_back(PendingItem{std::move(item), place.index, place.line,
                                     std::string(place.path), std::move(lines)});
      return true;
    }
    decodeItem(item, place.index, place.line, place.path, lines, place.list_kind,
               place.list_api_version);
    return true;
  }

  void endDocument(Json& root, LineIndex lines, bool items_streamed) override {
    if (items_streamed) {
      const std::string kind = stringField(root, "kind");
      if (root.is_array() || detail::isListKind(kind)) {
        const std::string api_version = stringField(root, "apiVersion");
        for (PendingItem& pending : pending_) {
          decodeItem(pending.item, pending.index, pending.line, pending.path, pending.lines, kind,
                     api_version);
        }
        commitStaging();
        return;
      }
    }
    resetStaging();  // not a List after all: what was decoded from `items` does not count
    if (root.is_null()) return;  // an empty document
    DecodeContext context;
    context.file = file_;
    context.document = document_;
    context.line = lines.unitLine();
    context.lines = &lines;
    context.errors = &outcome_.errors;
    outcome_.objects += detail::decodeObject(root, context, inputs_);
  }

  void abandonDocument() override { resetStaging(); }

  void error(Error error) override {
    error.file = std::string(file_);
    outcome_.errors.push_back(std::move(error));
  }

 private:
  struct PendingItem {
    Json item;
    int index = 0;
    int line = 0;
    std::string path;
    LineIndex lines;
  };

  void decodeItem(const Json& item, int index, int line, std::string_view path,
                  const LineIndex& lines, std::string_view list_kind,
                  std::string_view list_api_version) {
    DecodeContext context;
    context.file = file_;
    context.document = index;
    context.line = line;
    context.path_prefix = std::string(path) + ".";
    context.lines = &lines;
    context.default_kind = detail::itemKindOf(list_kind);
    context.default_api_version = list_api_version;
    context.errors = &staged_errors_;
    staged_objects_ += detail::decodeObject(item, context, staged_);
  }

  // YAML documents and List items both count against limits.max_documents.
  bool countUnit(int index) {
    if (++units_ <= limits_.max_documents) return true;
    Error problem;
    problem.code = "limit.documents";
    problem.file = std::string(file_);
    problem.document = index;
    problem.message = "more than " + std::to_string(limits_.max_documents) +
                      " documents and List items in one input; split it into several files";
    outcome_.errors.push_back(std::move(problem));
    return false;
  }

  void commitStaging() {
    mergeInputs(inputs_, std::move(staged_));
    appendAll(outcome_.errors, std::move(staged_errors_));
    outcome_.objects += staged_objects_;
    resetStaging();
  }

  void resetStaging() {
    staged_ = Inputs{};
    staged_errors_.clear();
    staged_objects_ = 0;
    pending_.clear();
  }

  std::string_view file_;
  const DecodeLimits& limits_;
  Inputs& inputs_;
  DecodeOutcome& outcome_;
  int document_ = 0;
  std::size_t units_ = 0;
  Inputs staged_;
  std::vector<Error> staged_errors_;
  int staged_objects_ = 0;
  std::vector<PendingItem> pending_;
};

// An error about the input as a whole, not one of its documents: document -1, which describe()
// leaves out (the CLI uses the same convention for unreadable files).
Error wholeInputError(std::string_view file, std::string code, std::string message) {
  Error error;
  error.code = std::move(code);
  error.file = std::string(file);
  error.document = -1;
  error.message = std::move(message);
  return error;
}

}  // namespace

DecodeOutcome decodeInto(std::string_view text, std::string_view file, Inputs& inputs,
                         const DecodeLimits& limits) {
  DecodeOutcome outcome;
  try {
    if (text.size() > limits.max_bytes) {
      outcome.errors.push_back(wholeInputError(
          file, "limit.size",
          "the input is " + std::to_string(text.size()) + " bytes, more than the limit of " +
              std::to_string(limits.max_bytes) + " bytes; split it into several files"));
      return outcome;
    }
    if (auto problem = detail::checkTextEncoding(text)) {
      problem->file = std::string(file);
      problem->document = -1;
      outcome.errors.push_back(std::move(*problem));
      return outcome;
    }
    text = detail::withoutByteOrderMark(text);
    InputsSink sink(file, limits, inputs, outcome);
    const detail::ReadOptions options{limits, /*stream_list_items=*/true};
    if (detail::looksLikeJson(text)) {
      detail::readJsonText(text, options, sink);
    } else {
      detail::readYamlText(text, options, sink);
    }
  } catch (const std::bad_alloc&) {
    outcome.errors.push_back(
        wholeInputError(file, "limit.memory", "ran out of memory while decoding this input"));
  } catch (const std::exception& error) {
    outcome.errors.push_back(wholeInputError(
        file, "decode.internal", std::string("internal error while decoding: ") + error.what()));
  } catch (...) {
    outcome.errors.push_back(
        wholeInputError(file, "decode.internal", "internal error while decoding"));
  }
  // Errors in the order of the text, whatever stage found them.
  std::stable_sort(outcome.errors.begin(), outcome.errors.end(),
                   [](const Error& a, const Error& b) { return a.line < b.line; });
  return outcome;
}

DecodeOutcome decodeObjectInto(const nlohmann::json& object, const SourceLocation& where,
                               Inputs& inputs) {
  DecodeOutcome outcome;
  try {
    const LineIndex lines = LineIndex::fixed(where.line);
    DecodeContext context;
    context.file = where.file;
    context.document = where.document;
    context.line = where.line;
    context.lines = &lines;
    context.errors = &outcome.errors;
    outcome.objects = detail::decodeObject(object, context, inputs);
  } catch (const std::bad_alloc&) {
    outcome.errors.push_back(
        wholeInputError(where.file, "limit.memory", "ran out of memory while decoding an object"));
  } catch (const std::exception& error) {
    outcome.errors.push_back(
        wholeInputError(where.file, "decode.internal",
                        std::string("internal error while decoding: ") + error.what()));
  }
  return outcome;
}

}  // namespace peergate::validation
