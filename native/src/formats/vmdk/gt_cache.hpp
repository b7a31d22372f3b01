// A bounded LRU of grain tables keyed by GD index: memory stays constant however large
// the disk is (kCapacity tables of at most 512 entries).
#pragma once
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace h2k::vmdk {

class GtCache {
 public:
  static constexpr size_t kCapacity = 256;  // 256 x 2 KiB = 512 KiB per extent at most

  // The cached table for gdIndex, or nullptr.
  const std::vector<uint32_t>* find(uint64_t gdIndex) {
    auto it = index_.find(gdIndex);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &it->second->second;
  }

  const std::vector<uint32_t>* insert(uint64_t gdIndex, std::vector<uint32_t> table) {
    if (lru_.size() >= kCapacity) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
    lru_.emplace_front(gdIndex, std::move(table));
    index_[gdIndex] = lru_.begin();
    return &lru_.front().second;
  }

 private:
  using Entry = std::pair<uint64_t, std::vector<uint32_t>>;
  std::list<Entry> lru_;
  std::unordered_map<uint64_t, std::list<Entry>::iterator> index_;
};

}  // namespace h2k::vmdk
