// A read-ahead thread feeding a consumer through a small ring of large buffers, so reading
// (syscalls, decompression inside a reader) overlaps with hashing; or, unthreaded, the same
// interface over one buffer filled on the consumer's own thread. Memory is bounded by
// bufferCount * bufferSize; runs of zeros travel as a length and are never materialised.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace h2k {

struct ReadChunk {
  const uint8_t* data = nullptr;  // valid until the next ReadAhead::next() call
  size_t length = 0;              // bytes at `data`
  uint64_t zeros = 0;             // or: this many zero bytes that were not read
};

class ReadAhead {
 public:
  // Fills `buf` (capacity `cap`) or describes a zero run in `out`; returns false at the end.
  // Runs on the read-ahead thread; an exception ends the stream and is rethrown by next().
  using Producer = std::function<bool(uint8_t* buf, size_t cap, ReadChunk& out)>;

  // threaded = false: no thread, next() calls the producer itself with one buffer (for data
  // already in memory, where handing buffers between cores costs more than it overlaps).
  ReadAhead(Producer producer, size_t bufferSize, size_t bufferCount, bool threaded = true);
  ~ReadAhead();  // stops and joins the thread
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // Next chunk in order; false at the end. Rethrows the producer's exception.
  bool next(ReadChunk& out);

 private:
  void run();
  Producer producer_;
  std::vector<std::vector<uint8_t>> buffers_;
  std::vector<ReadChunk> chunks_;
  std::deque<size_t> free_;
  std::deque<size_t> full_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
  size_t held_ = SIZE_MAX;  // slot handed to the consumer, returned on the next call
  bool threaded_;
  std::thread thread_;
};

}  // namespace h2k
