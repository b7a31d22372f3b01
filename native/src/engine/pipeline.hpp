// Three-stage, bounded pipeline:   reader thread -> N worker threads -> caller (writer)
// The reader cuts the source into chunks; workers classify each cluster (zero / plain /
// compressed) in any order; the caller takes finished chunks strictly in sequence order.
// At most `maxInflight` chunks are in flight, and their buffers come from a fixed pool that is
// recycled (never freed and re-allocated: zero-filling fresh 4 MiB buffers cost ~10% CPU), which
// bounds memory regardless of image size.
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

  // `consumerHold`: chunks the caller may keep between take() and recycle() (the writer's
  // one, plus any it passes on, e.g. to an observer queue). Chunk buffers come from a pool of
  // maxInflight + consumerHold; the reader waits for a recycled one rather than allocate.
  Pipeline(size_t workers, size_t maxInflight, Produce produce, std::function<Work()> makeWork,
           size_t consumerHold = 1);
  ~Pipeline();  // stops and joins every thread
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Next chunk in guest order; false when all chunks were taken. Rethrows a stage's error.
  // `poll` is called about every 50 ms while waiting (for cancellation).
  bool take(Chunk& out, const std::function<void()>& poll);
  // Returns a taken chunk's buffers for reuse. Every taken chunk must come back here.
  void recycle(Chunk&& c);
  void stop();

 private:
  void readerLoop(Produce produce);
  void workerLoop(Work work);
  void fail(std::exception_ptr e);
  void wakeAll();

  std::mutex m_;
  // One condition per kind of waiter, each woken only when its condition may have changed:
  // on a paravirtualised VM a wake-up costs microseconds, and with one shared condition every
  // event woke every thread (6 context switches per 1 MiB chunk).
  std::condition_variable readerCv_;    // a slot and a buffer may be free
  std::condition_variable workerCv_;    // todo_ grew, or the reader finished
  std::condition_variable consumerCv_;  // the next chunk in sequence is done (or an error)
  std::deque<Chunk> todo_;
  std::map<uint64_t, Chunk> done_;
  std::vector<Chunk> spare_;
  uint64_t produced_ = 0;
  uint64_t taken_ = 0;
  size_t maxInflight_;
  size_t poolCap_;         // chunk buffers that may exist at once
  size_t allocated_ = 0;   // chunk buffers created so far (<= poolCap_)
  bool readerDone_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

}  // namespace h2k
