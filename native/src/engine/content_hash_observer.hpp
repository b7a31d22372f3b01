// ContentObserver that hashes the guest-visible content (ConvertResult::contentHashes) in
// guest order; holes are hashed as zeros without reading. XXH3 takes block sums from the
// worker threads when the conversion offers them (then only folds them in, on the writer
// thread), else hashes on the reader thread while the bytes are in cache; MD5/SHA-256 (5-10x
// slower) get the observer thread so they overlap with reading.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "engine/content_observer.hpp"
#include "hash/hasher.hpp"

namespace h2k {

class ContentHashObserver : public ContentObserver {
 public:
  explicit ContentHashObserver(const std::vector<std::string>& algorithms) : set_(algorithms) {}
  void onContent(uint64_t offset, const uint8_t* data, size_t len) override {
    onContentPresummed(offset, data, len, nullptr);
  }
  void onContentPresummed(uint64_t offset, const uint8_t* data, size_t len, const uint64_t* xxh3Sums) override {
    if (offset != next_)
      throw Error("E_INTERNAL", "content hash saw guest offset " + std::to_string(offset) + ", expected " +
                                    std::to_string(next_));
    if (!data)
      set_.updateZeros(len);
    else if (xxh3Sums)
      set_.updatePresummed(data, len, xxh3Sums);
    else
      set_.update(data, len);
    next_ += len;
  }
  void onFinish() override { digests_ = set_.digests(); }
  bool onReaderThread() const override { return set_.allFast(); }
  bool acceptsXxh3Sums() const override { return set_.allFast(); }
  const std::map<std::string, std::string>& digests() const { return digests_; }

 private:
  HashSet set_;
  uint64_t next_ = 0;
  std::map<std::string, std::string> digests_;
};

}  // namespace h2k
