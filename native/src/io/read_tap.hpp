// Lets a consumer see the bytes a File reads, as they are read. `convert --hash` hashes the
// source file from the conversion's own reads instead of reading the file a second time.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace h2k {

class ReadTap {
 public:
  virtual ~ReadTap() = default;
  // After each successful read of `len` bytes at file `offset`, on the reading thread.
  // Must be thread-safe: several threads may read one file.
  virtual void onRead(uint64_t offset, const uint8_t* data, size_t len) = 0;
};

// Gives the tap for a file about to be opened (nullptr = none).
using FileTapFactory = std::function<std::shared_ptr<ReadTap>(const std::string& path)>;

}  // namespace h2k
