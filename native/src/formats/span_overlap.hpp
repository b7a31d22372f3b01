// Overlap detection for metadata that lies: the byte ranges an image's tables claim (header,
// tables, data blocks) must not share bytes. Callers collect the ranges once at open; the
// check is a sort and one pass, so it costs O(n log n) at open and nothing on the read path.
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace h2k {

struct Span {
  uint64_t start = 0;
  uint64_t end = 0;  // exclusive; start < end
  uint64_t id = 0;   // the caller's label: a table entry index or one of its metadata tags
};

// Two of `spans` that share a byte (the pair with the lowest start found), or nothing.
// Empty spans are ignored. Reorders `spans`.
inline std::optional<std::pair<Span, Span>> findOverlap(std::vector<Span>& spans) {
  spans.erase(std::remove_if(spans.begin(), spans.end(), [](const Span& s) { return s.end <= s.start; }), spans.end());
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
  size_t widest = 0;  // the span reaching furthest so far: any later start below its end overlaps it
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].start < spans[widest].end) return std::make_pair(spans[widest], spans[i]);
    if (spans[i].end > spans[widest].end) widest = i;
  }
  return std::nullopt;
}

// Sorted, merged ranges for membership tests (qcow2: is this data cluster metadata?).
class SpanSet {
 public:
  explicit SpanSet(std::vector<Span> spans) {
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
    for (const auto& s : spans) {
      if (s.end <= s.start) continue;
      if (!merged_.empty() && s.start < merged_.back().end) merged_.back().end = std::max(merged_.back().end, s.end);
      else merged_.push_back(s);
    }
  }
  // The span sharing a byte with [start, end), if any.
  const Span* find(uint64_t start, uint64_t end) const {
    auto it = std::upper_bound(merged_.begin(), merged_.end(), start, [](uint64_t v, const Span& s) { return v < s.start; });
    if (it != merged_.begin() && std::prev(it)->end > start) return &*std::prev(it);
    if (it != merged_.end() && it->start < end) return &*it;
    return nullptr;
  }

 private:
  std::vector<Span> merged_;
};

}  // namespace h2k
