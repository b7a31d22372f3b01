#include "hash/source_file_hasher.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/error.hpp"
#include "io/file.hpp"

namespace h2k {
namespace {

constexpr uint64_t kChunk = 4ull << 20;      // the hasher thread's reads, and the buffer they use
constexpr uint64_t kGapWindow = 16ull << 20;  // the thread reads once the conversion is this far past the cursor
constexpr uint64_t kTapGap = 8ull << 20;      // smaller forward jumps are closed by the tap itself (metadata areas)

// True when [start, end) of the file is one hole (reads as zeros without being stored).
bool isHole(const File& file, uint64_t start, uint64_t end) {
  off_t data = ::lseek(file.fd(), static_cast<off_t>(start), SEEK_DATA);
  if (data < 0) return errno == ENXIO;
  return static_cast<uint64_t>(data) >= end;
}

}  // namespace

SourceFileHasher::SourceFileHasher(const File& file, const std::vector<std::string>& algorithms,
                                   const std::atomic<bool>* cancel, uint64_t base, uint64_t length)
    : path_(file.path()), cancel_(cancel), hashes_(algorithms), base_(base) {
  tapFile_ = file.reopen();  // fails early, on the caller's thread, when unreadable
  const uint64_t fileSize = tapFile_.size();
  if (base > fileSize) throw Error(codes::kTruncated, "hash range starts past the end of " + path_, path_, static_cast<int64_t>(base));
  size_ = std::min(length, fileSize - base);
  thread_ = std::thread([this] { run(); });
}

SourceFileHasher::~SourceFileHasher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SourceFileHasher::onRead(uint64_t offset, const uint8_t* data, size_t len) {
  onReadPresummed(offset, data, len, nullptr);
}

void SourceFileHasher::onReadPresummed(uint64_t offset, const uint8_t* data, size_t len, const uint64_t* sums) {
  const uint64_t end = std::min<uint64_t>(offset + len, size_);
  bool closeGap = false;
  uint64_t gapStart = 0;
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (armed_) frontier_ = end;
    if (!continueHash(offset, data, end, &stats_.fromTap, sums) && armed_ && cursor_ < offset && offset < end &&
        offset - cursor_ <= kTapGap) {
      closeGap = true;
      gapStart = cursor_;
    }
    wake = frontier_ >= cursor_ + kGapWindow;
  }
  if (closeGap) hashGapThenRead(gapStart, offset, data, end, sums);
  if (wake) cv_.notify_one();
}

// A short forward jump by the conversion (metadata in between, a skipped grain): read the
// gap here, from the page cache, so the hash keeps up with the conversion's reads.
void SourceFileHasher::hashGapThenRead(uint64_t gapStart, uint64_t offset, const uint8_t* data, uint64_t end,
                                       const uint64_t* sums) {
  std::lock_guard<std::mutex> fillLock(tapFillMutex_);
  const size_t gap = static_cast<size_t>(offset - gapStart);
  const bool hole = isHole(tapFile_, base_ + gapStart, base_ + offset);
  if (!hole) {
    if (tapBuf_.size() < gap) tapBuf_.resize(gap);  // gaps are mostly small: no 8 MiB zero-fill up front
    tapFile_.readExact(tapBuf_.data(), gap, base_ + gapStart);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (cursor_ == gapStart) {
    if (hole) {
      hashes_.updateZeros(gap);
      stats_.holes += gap;
    } else {
      hashes_.update(tapBuf_.data(), gap);
      stats_.readAgain += gap;
    }
    cursor_ = offset;
  }
  continueHash(offset, data, end, &stats_.fromTap, sums);
}

// Under mutex_: hashes the part of [offset, end) (bytes at `data`, XXH3 block sums `sums` per
// KiB from data, or null) that continues the hash.
bool SourceFileHasher::continueHash(uint64_t offset, const uint8_t* data, uint64_t end, uint64_t* counter,
                                    const uint64_t* sums) {
  if (offset > cursor_ || cursor_ >= end) return false;
  const uint64_t skip = cursor_ - offset;
  const uint8_t* from = data + skip;
  const size_t len = static_cast<size_t>(end - cursor_);
  if (sums && skip % kXxh3SumBlockBytes == 0)
    hashes_.updatePresummed(from, len, sums + skip / kXxh3SumBlockBytes * kXxh3SumWords);
  else
    hashes_.update(from, len);
  *counter += end - cursor_;
  cursor_ = end;
  return true;
}

void SourceFileHasher::arm() {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = true;
}

std::map<std::string, std::string> SourceFileHasher::finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (error_) std::rethrow_exception(error_);
  std::lock_guard<std::mutex> lock(mutex_);
  if (cursor_ != size_)
    throw Error("E_INTERNAL", "source hash stopped at byte " + std::to_string(cursor_) + " of " + std::to_string(size_),
                path_);
  return hashes_.digests();
}

SourceFileHasher::Stats SourceFileHasher::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void SourceFileHasher::run() {
  try {
    File file = tapFile_.reopen();
    posix_fadvise(file.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
    std::vector<uint8_t> buf;
    for (;;) {
      uint64_t start, end;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] {
          if (cancel_ && cancel_->load(std::memory_order_relaxed)) stop_ = true;
          return stop_ || released_ || cursor_ >= size_ || frontier_ >= cursor_ + kGapWindow;
        });
        if (stop_ || cursor_ >= size_) return;
        start = cursor_;
        // Behind the conversion only (page cache), unless it is over.
        end = std::min(start + kChunk, released_ ? size_ : frontier_);
      }
      if (buf.empty()) buf.resize(kChunk);
      hashOwnRange(file, buf, start, end);
    }
  } catch (...) {
    error_ = std::current_exception();
  }
}

// Reads [start, end) (holes become zeros) and hashes the part the tap has not meanwhile.
void SourceFileHasher::hashOwnRange(File& file, std::vector<uint8_t>& buf, uint64_t start, uint64_t end) {
  off_t data = ::lseek(file.fd(), static_cast<off_t>(base_ + start), SEEK_DATA);
  uint64_t holeEnd = start;
  if (data < 0 && errno == ENXIO)
    holeEnd = end;  // a hole up to the end of the file
  else if (data > static_cast<off_t>(base_ + start))
    holeEnd = std::min<uint64_t>(static_cast<uint64_t>(data) - base_, end);
  if (holeEnd > start) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cursor_ == start) {
      hashes_.updateZeros(holeEnd - start);
      stats_.holes += holeEnd - start;
      cursor_ = holeEnd;
    }
    return;
  }
  const size_t len = static_cast<size_t>(end - start);
  file.readExact(buf.data(), len, base_ + start);
  std::lock_guard<std::mutex> lock(mutex_);
  continueHash(start, buf.data(), end, &stats_.readAgain);
}

}  // namespace h2k
