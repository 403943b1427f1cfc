#include "../../../webhook/src/review_cache.h"

#include <catch2/catch.hpp>

namespace peergate::webhook {
namespace {

std::shared_ptr<const validation::ClusterState> emptyState() {
  return std::make_shared<const validation::ClusterState>(validation::Inputs{});
}

std::shared_ptr<const validation::Analysis> analysisNoting(const std::string& note) {
  auto analysis = std::make_shared<validation::Analysis>();
  analysis->notes.push_back(note);
  return analysis;
}

TEST_CASE("the review cache answers only for the snapshot its entries were made on",
          "[admission][review_cache]") {
  ReviewCache cache;
  const auto first = emptyState();
  const ReviewCache::Scope foo{"foo", "istio-system"};
  const ReviewCache::Scope bar{"bar", "istio-system"};
  CHECK(cache.find(first, foo) == nullptr);
  cache.put(first, foo, analysisNoting("foo"));
  cache.put(first, bar, analysisNoting("bar"));
  REQUIRE(cache.find(first, foo) != nullptr);
  CHECK(cache.find(first, foo)->notes.front() == "foo");
  CHECK(cache.find(first, bar)->notes.front() == "bar");
  CHECK(cache.find(first, {"foo"}) == nullptr);  // another scope

  const auto second = emptyState();
  CHECK(cache.find(second, foo) == nullptr);
  cache.put(second, bar, analysisNoting("bar, second"));
  CHECK(cache.size() == 1);  // the first snapshot's entries are gone
  CHECK(cache.find(first, bar) == nullptr);
  CHECK(cache.find(second, bar)->notes.front() == "bar, second");
}

TEST_CASE("the review cache forgets a snapshot that was freed and stays bounded",
          "[admission][review_cache]") {
  ReviewCache cache(2);
  auto snapshot = emptyState();
  cache.put(snapshot, {"a"}, analysisNoting("a"));
  snapshot.reset();  // the store moved on; a new state may even reuse the address
  const auto next = emptyState();
  CHECK(cache.find(next, {"a"}) == nullptr);
  cache.put(next, {"a"}, analysisNoting("a"));
  cache.put(next, {"b"}, analysisNoting("b"));
  cache.put(next, {"c"}, analysisNoting("c"));
  CHECK(cache.size() <= 2);
  CHECK(cache.find(next, {"c"})->notes.front() == "c");
}

}  // namespace
}  // namespace peergate::webhook
