// A bounded LRU of grain tables keyed by GD index: memory stays constant however large
// the disk is (at most `capacity` tables). Entry is u32 for KDMV/COWD, u64 for SESparse.
#pragma once
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace h2k::vmdk {

template <typename Entry>
class TableCache {
 public:
  static constexpr size_t kDefaultCapacity = 256;  // 256 x 2 KiB = 512 KiB
  static constexpr size_t kImageBudget = 256;      // tables shared out among an image's extents
  static constexpr size_t kMinCapacity = 4;

  void setCapacity(size_t capacity) {
    capacity_ = capacity < 1 ? 1 : capacity;
    while (lru_.size() > capacity_) evict();
  }

  // The cached table for gdIndex, or nullptr.
  const std::vector<Entry>* find(uint64_t gdIndex) {
    auto it = index_.find(gdIndex);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &it->second->second;
  }

  const std::vector<Entry>* insert(uint64_t gdIndex, std::vector<Entry> table) {
    while (lru_.size() >= capacity_) evict();
    lru_.emplace_front(gdIndex, std::move(table));
    index_[gdIndex] = lru_.begin();
    return &lru_.front().second;
  }

 private:
  void evict() {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }

  size_t capacity_ = kDefaultCapacity;
  using Slot = std::pair<uint64_t, std::vector<Entry>>;
  std::list<Slot> lru_;
  std::unordered_map<uint64_t, typename std::list<Slot>::iterator> index_;
};

using GtCache = TableCache<uint32_t>;

}  // namespace h2k::vmdk
