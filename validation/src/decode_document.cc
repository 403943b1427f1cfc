#include "decode_document.h"

#include <utility>

#include "decode_encoding.h"
#include "decode_sink.h"

namespace peergate::validation::detail {
namespace {

class FirstDocumentSink final : public DocumentSink {
 public:
  FirstDocumentSink(SingleDocument& out, std::size_t max_documents)
      : out_(out), max_documents_(max_documents) {}

  bool beginDocument(int index) override {
    return !found_ && static_cast<std::size_t>(index) < max_documents_;
  }
  bool listItem(nlohmann::json& /*item*/, const ItemPlace& /*place*/,
                LineIndex /*lines*/) override {
    return true;  // not reached: items are not streamed
  }
  void endDocument(nlohmann::json& root, LineIndex lines, bool /*items_streamed*/) override {
    if (root.is_null()) return;
    out_.root = std::move(root);
    out_.lines = std::move(lines);
    found_ = true;
  }
  void abandonDocument() override {}
  void error(Error error) override { out_.errors.push_back(std::move(error)); }

 private:
  SingleDocument& out_;
  std::size_t max_documents_;
  bool found_ = false;
};

}  // namespace

SingleDocument readSingleDocument(std::string_view text, const DecodeLimits& limits) {
  SingleDocument document;
  if (text.size() > limits.max_bytes) {
    Error error;
    error.code = "limit.size";
    error.message = "the text is " + std::to_string(text.size()) +
                    " bytes, more than the limit of " + std::to_string(limits.max_bytes);
    document.errors.push_back(std::move(error));
    return document;
  }
  if (auto problem = checkTextEncoding(text)) {
    document.errors.push_back(std::move(*problem));
    return document;
  }
  text = withoutByteOrderMark(text);
  FirstDocumentSink sink(document, limits.max_documents);
  const ReadOptions options{limits, /*stream_list_items=*/false};
  if (looksLikeJson(text)) {
    readJsonText(text, options, sink);
  } else {
    readYamlText(text, options, sink);
  }
  if (!document.errors.empty()) document.root = nullptr;
  return document;
}

}  // namespace peergate::validation::detail
