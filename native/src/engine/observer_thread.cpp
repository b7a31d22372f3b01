#include "engine/observer_thread.hpp"

#include <chrono>

namespace h2k {

ObserverThread::ObserverThread(std::vector<ContentObserver*> observers, size_t maxQueued, Release release)
    : observers_(std::move(observers)), maxQueued_(maxQueued ? maxQueued : 1), release_(std::move(release)) {
  thread_ = std::thread([this] { run(); });
}

ObserverThread::~ObserverThread() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ObserverThread::run() {
  for (;;) {
    Chunk c;
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (stop_ || error_) return;
      c = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    std::exception_ptr err;
    try {
      for (ContentObserver* o : observers_)
        o->onContent(c.offset, c.zero ? nullptr : c.buf.data(), static_cast<size_t>(c.guestLength));
      release_(std::move(c));
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lk(m_);
      busy_ = false;
      if (err && !error_) error_ = err;
    }
    cv_.notify_all();
    if (err) return;
  }
}

void ObserverThread::waitUntil(std::unique_lock<std::mutex>& lk, const std::function<bool()>& ready,
                               const std::function<void()>& poll) {
  for (;;) {
    if (error_) std::rethrow_exception(error_);
    if (ready()) return;
    cv_.wait_for(lk, std::chrono::milliseconds(50));
    if (poll) {
      lk.unlock();
      poll();
      lk.lock();
    }
  }
}

void ObserverThread::push(Chunk&& c, const std::function<void()>& poll) {
  {
    std::unique_lock<std::mutex> lk(m_);
    waitUntil(lk, [&] { return queue_.size() < maxQueued_; }, poll);
    queue_.push_back(std::move(c));
  }
  cv_.notify_all();
}

void ObserverThread::drain(const std::function<void()>& poll) {
  std::unique_lock<std::mutex> lk(m_);
  waitUntil(lk, [&] { return queue_.empty() && !busy_; }, poll);
}

}  // namespace h2k
