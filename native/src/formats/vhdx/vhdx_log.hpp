// VHDX log replay into memory. A disk closed uncleanly has a non-null LogGuid: its log (a
// ring of 4 KiB sectors) may hold committed metadata writes not yet applied to the file.
// We find the active sequence (the valid entry with the highest sequence number, back to its
// tail), check every entry's CRC-32C and sequence stamps, and apply its data and zero
// descriptors to an in-memory overlay: the file itself is never written.
#pragma once
#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/byte_view.hpp"

namespace h2k {

namespace vhdx {
inline constexpr const char* kBadLog = "E_VHDX_BAD_LOG";  // log dirty but its active sequence is unusable
}

// The file as it reads after replaying the log.
class ReplayedView : public ByteView {
 public:
  ReplayedView(std::shared_ptr<const ByteView> base, uint64_t size, std::map<uint64_t, std::vector<uint8_t>> sectors)
      : base_(std::move(base)), size_(size), sectors_(std::move(sectors)) {}
  const std::string& name() const override { return base_->name(); }
  uint64_t size() const override { return size_; }
  void readExact(void* buf, size_t len, uint64_t offset) const override;
  std::string baseDir() const override { return base_->baseDir(); }
  size_t replayedSectors() const { return sectors_.size(); }

 private:
  std::shared_ptr<const ByteView> base_;
  uint64_t size_;
  std::map<uint64_t, std::vector<uint8_t>> sectors_;  // 4 KiB-aligned file offset -> contents
};

// Replays the log at [logOffset, logOffset+logLength) whose entries carry `logGuid`.
std::shared_ptr<ReplayedView> replayVhdxLog(std::shared_ptr<const ByteView> file, uint64_t logOffset,
                                            uint64_t logLength, const uint8_t* logGuid);

}  // namespace h2k
