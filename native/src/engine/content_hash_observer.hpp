// ContentObserver that hashes the guest-visible content (ConvertResult::contentHashes), fed
// in guest order by the engine's writer side; holes are hashed as zeros without reading.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/content_observer.hpp"
#include "hash/hasher.hpp"

namespace h2k {

class ContentHashObserver : public ContentObserver {
 public:
  explicit ContentHashObserver(const std::vector<std::string>& algorithms) : set_(algorithms) {}
  void onContent(uint64_t, const uint8_t* data, size_t len) override {
    if (data) set_.update(data, len);
    else set_.updateZeros(len);
  }
  void onFinish() override { digests_ = set_.digests(); }
  const std::map<std::string, std::string>& digests() const { return digests_; }

 private:
  HashSet set_;
  std::map<std::string, std::string> digests_;
};

}  // namespace h2k
