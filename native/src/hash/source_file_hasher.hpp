// Hashes a conversion's source file, in file order, without reading it a second time where
// it can: as a ReadTap on the source file it hashes the conversion's own reads whenever they
// continue the hash; what the conversion reads out of order or never reads (metadata read
// at open, skipped regions, the tail) it reads itself, behind the conversion's latest read so
// those reads hit the page cache. Holes of a sparse file are hashed as zeros, not read.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hash/hasher.hpp"
#include "io/file.hpp"
#include "io/read_tap.hpp"

namespace h2k {

class SourceFileHasher : public ReadTap {
 public:
  // Hashes the whole file, or [base, base+length) of it (a member inside an archive); the
  // tap's offsets are then relative to base.
  // `file` is the handle the conversion reads; the hasher reads through its own reopened handles.
  SourceFileHasher(const File& file, const std::vector<std::string>& algorithms, const std::atomic<bool>* cancel,
                   uint64_t base = 0, uint64_t length = UINT64_MAX);
  ~SourceFileHasher() override;  // abandons an unfinished hash
  SourceFileHasher(const SourceFileHasher&) = delete;
  SourceFileHasher& operator=(const SourceFileHasher&) = delete;

  void onRead(uint64_t offset, const uint8_t* data, size_t len) override;
  // The conversion's reads shown after its workers summed them: XXH3 folds the sums in.
  void onReadPresummed(uint64_t offset, const uint8_t* data, size_t len, const uint64_t* xxh3Sums) override;

  // The conversion's own reading starts now. Reads before (at open: a footer at the end, a
  // table in the middle) are hashed only where they continue the hash; they do not send the
  // hasher ahead of a conversion that has not started.
  void arm();

  // Hashes whatever is left, then returns algo -> hex digest; rethrows a read error.
  std::map<std::string, std::string> finish();

  struct Stats {
    uint64_t fromTap = 0;    // bytes hashed from the conversion's reads
    uint64_t readAgain = 0;  // bytes this hasher read itself
    uint64_t holes = 0;      // bytes of file holes hashed as zeros
  };
  Stats stats() const;

 private:
  void run();
  void hashOwnRange(File& file, std::vector<uint8_t>& buf, uint64_t start, uint64_t end);
  void hashGapThenRead(uint64_t gapStart, uint64_t offset, const uint8_t* data, uint64_t end, const uint64_t* sums);
  bool continueHash(uint64_t offset, const uint8_t* data, uint64_t end, uint64_t* counter,
                    const uint64_t* sums = nullptr);

  const std::string path_;
  const std::atomic<bool>* cancel_;
  File tapFile_;                  // the tap's own reads of short gaps
  std::mutex tapFillMutex_;       // one gap fill at a time; guards tapBuf_
  std::vector<uint8_t> tapBuf_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  HashSet hashes_;           // guarded by mutex_
  uint64_t base_ = 0;        // file offset of byte 0 of what is hashed
  uint64_t size_ = 0;        // bytes hashed: the file's size when the hash started (or the range's)
  uint64_t cursor_ = 0;      // bytes [0, cursor_) are hashed
  uint64_t frontier_ = 0;    // where the conversion's latest read ended (not the maximum: a
                             // footer read at open must not send the hasher to the end)
  bool armed_ = false;       // see arm()
  bool released_ = false;    // the conversion is over: read the rest
  bool stop_ = false;        // abandon
  Stats stats_;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace h2k
