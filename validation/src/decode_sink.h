#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "decode_lines.h"
#include "peergate/validation/decode.h"
#include "peergate/validation/result.h"

namespace peergate::validation::detail {

// Where a List item sits in its document.
struct ItemPlace {
  int index = 0;               // position in `items` (or in a top-level sequence)
  int line = 0;                // line of the item's start
  std::string_view path;       // "items[3]" or "[3]" for a top-level sequence
  std::string_view list_kind;  // the document's `kind` when it came before `items`, else ""
  std::string_view list_api_version;
};

// Receives what a text reader (JSON or YAML) finds, document by document. The reader owns the
// values and drops each List item right after `listItem`, so a `kubectl get -o json` List of
// 100,000 objects never sits in memory as a whole.
class DocumentSink {
 public:
  virtual ~DocumentSink() = default;

  // A document starts (`index` counts the documents of the text). false stops reading.
  virtual bool beginDocument(int index) = 0;
  // An element of the document's top-level `items` sequence (or of a top-level sequence) is
  // complete. false stops reading.
  virtual bool listItem(nlohmann::json& item, const ItemPlace& place, LineIndex lines) = 0;
  // The document is complete; when `items_streamed`, its `items` were handed over one by one and
  // are no longer in `root`.
  virtual void endDocument(nlohmann::json& root, LineIndex lines, bool items_streamed) = 0;
  // The document could not be read to its end; an error follows or was already reported.
  virtual void abandonDocument() = 0;
  // A problem the reader found (syntax, duplicate key, limit). `file` is left to the sink.
  virtual void error(Error error) = 0;
};

struct ReadOptions {
  DecodeLimits limits;
  bool stream_list_items = true;  // false: hand over whole documents (small inputs)
};

// The first significant character is `{` or `[`.
bool looksLikeJson(std::string_view text);

void readJsonText(std::string_view text, const ReadOptions& options, DocumentSink& sink);
void readYamlText(std::string_view text, const ReadOptions& options, DocumentSink& sink);

// Thrown by a reader's event handler to stop reading; caught inside the reader.
struct StopReading {};

}  // namespace peergate::validation::detail
