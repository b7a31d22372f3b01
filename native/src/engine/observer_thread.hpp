// Runs the content observers (hashes, fingerprints) on their own thread, off the writer's
// critical path. The writer pushes each chunk after writing it; this thread feeds it to the
// observers in the same (guest) order and then hands the buffers back through `release`, so
// a buffer is reused only when both the writer and the observers are done with it. At most
// `maxQueued` chunks wait here: a slow observer slows the conversion, it never grows memory.
#pragma once
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/chunk.hpp"
#include "engine/content_observer.hpp"

namespace h2k {

class ObserverThread {
 public:
  using Release = std::function<void(Chunk&&)>;

  ObserverThread(std::vector<ContentObserver*> observers, size_t maxQueued, Release release);
  ~ObserverThread();  // abandons queued chunks and joins
  ObserverThread(const ObserverThread&) = delete;
  ObserverThread& operator=(const ObserverThread&) = delete;

  // Queues a chunk (blocking while the queue is full; `poll` runs about every 50 ms while
  // waiting, for cancellation). Rethrows an observer's error.
  void push(Chunk&& c, const std::function<void()>& poll);
  // Waits until every pushed chunk was observed; rethrows an observer's error.
  void drain(const std::function<void()>& poll);

 private:
  void run();
  void waitUntil(std::unique_lock<std::mutex>& lk, const std::function<bool()>& ready,
                 const std::function<void()>& poll);

  std::vector<ContentObserver*> observers_;
  size_t maxQueued_;
  Release release_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Chunk> queue_;
  bool busy_ = false;  // a chunk is being observed outside the lock
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace h2k
