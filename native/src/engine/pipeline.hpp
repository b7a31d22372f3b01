// Three-stage, bounded pipeline:   reader thread -> N worker threads -> caller (writer)
// The reader cuts the source into chunks; workers classify each cluster (zero / plain /
// compressed) in any order; the caller takes finished chunks strictly in sequence order.
// At most `maxInflight` chunks exist at once, which bounds memory regardless of image size.
// The first exception on any thread stops every stage and is rethrown by take().
#pragma once
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/chunk.hpp"

namespace h2k {

class Pipeline {
 public:
  using Produce = std::function<bool(Chunk&)>;  // fills the next chunk; false at the end
  using Work = std::function<void(Chunk&)>;     // runs on a worker thread

  Pipeline(size_t workers, size_t maxInflight, Produce produce, std::function<Work()> makeWork);
  ~Pipeline();  // stops and joins every thread
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Next chunk in guest order; false when all chunks were taken. Rethrows a stage's error.
  // `poll` is called about every 50 ms while waiting (for cancellation).
  bool take(Chunk& out, const std::function<void()>& poll);
  // Returns a taken chunk's buffers for reuse.
  void recycle(Chunk&& c);
  void stop();

 private:
  void readerLoop(Produce produce);
  void workerLoop(Work work);
  void fail(std::exception_ptr e);

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Chunk> todo_;
  std::map<uint64_t, Chunk> done_;
  std::vector<Chunk> spare_;
  uint64_t produced_ = 0;
  uint64_t taken_ = 0;
  size_t maxInflight_;
  bool readerDone_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

}  // namespace h2k
