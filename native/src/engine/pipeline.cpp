#include "engine/pipeline.hpp"

#include <chrono>

namespace h2k {

Pipeline::Pipeline(size_t workers, size_t maxInflight, Produce produce, std::function<Work()> makeWork,
                   size_t consumerHold)
    : maxInflight_(maxInflight < 2 ? 2 : maxInflight), poolCap_(maxInflight_ + (consumerHold ? consumerHold : 1)) {
  try {
    threads_.emplace_back([this, produce] { readerLoop(produce); });
    for (size_t i = 0; i < (workers ? workers : 1); ++i) {
      Work w = makeWork();  // per-thread state (e.g. a compressor) is created here
      threads_.emplace_back([this, w] { workerLoop(w); });
    }
  } catch (...) {
    stop();
    throw;
  }
}

Pipeline::~Pipeline() { stop(); }

void Pipeline::stop() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  wakeAll();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void Pipeline::fail(std::exception_ptr e) {
  {
    std::lock_guard<std::mutex> lk(m_);
    if (!error_) error_ = e;
    stop_ = true;
  }
  wakeAll();
}

void Pipeline::wakeAll() {
  readerCv_.notify_all();
  workerCv_.notify_all();
  consumerCv_.notify_all();
}

void Pipeline::readerLoop(Produce produce) {
  try {
    for (;;) {
      Chunk c;
      {
        std::unique_lock<std::mutex> lk(m_);
        readerCv_.wait(lk, [&] {
          return stop_ || (produced_ - taken_ < maxInflight_ && (!spare_.empty() || allocated_ < poolCap_));
        });
        if (stop_) return;
        if (!spare_.empty()) {
          c = std::move(spare_.back());
          spare_.pop_back();
        } else {
          ++allocated_;  // a fresh chunk; its buffer grows on first use and is kept from then on
        }
      }
      if (!produce(c)) break;
      {
        std::lock_guard<std::mutex> lk(m_);
        c.seq = produced_++;
        todo_.push_back(std::move(c));
      }
      workerCv_.notify_one();  // one chunk, one worker
    }
    {
      std::lock_guard<std::mutex> lk(m_);
      readerDone_ = true;
    }
    workerCv_.notify_all();
    consumerCv_.notify_one();  // an empty source has nothing for it to wait for
  } catch (...) {
    fail(std::current_exception());
  }
}

void Pipeline::workerLoop(Work work) {
  try {
    for (;;) {
      Chunk c;
      {
        std::unique_lock<std::mutex> lk(m_);
        workerCv_.wait(lk, [&] { return stop_ || !todo_.empty() || readerDone_; });
        if (stop_) return;
        if (todo_.empty()) return;  // reader finished and nothing is left
        c = std::move(todo_.front());
        todo_.pop_front();
      }
      work(c);
      bool next;
      {
        std::lock_guard<std::mutex> lk(m_);
        uint64_t seq = c.seq;
        next = seq == taken_;  // the consumer waits for nothing else
        done_.emplace(seq, std::move(c));
      }
      if (next) consumerCv_.notify_one();
    }
  } catch (...) {
    fail(std::current_exception());
  }
}

bool Pipeline::take(Chunk& out, const std::function<void()>& poll) {
  std::unique_lock<std::mutex> lk(m_);
  for (;;) {
    if (error_) std::rethrow_exception(error_);
    auto it = done_.find(taken_);
    if (it != done_.end()) {
      out = std::move(it->second);
      done_.erase(it);
      ++taken_;
      lk.unlock();
      readerCv_.notify_one();  // the reader may now start another chunk
      return true;
    }
    if (readerDone_ && taken_ == produced_) return false;
    if (stop_) return false;
    consumerCv_.wait_for(lk, std::chrono::milliseconds(50));
    if (poll) {
      lk.unlock();
      poll();
      lk.lock();
    }
  }
}

void Pipeline::recycle(Chunk&& c) {
  {
    std::lock_guard<std::mutex> lk(m_);
    spare_.push_back(std::move(c));
  }
  readerCv_.notify_one();  // the reader may be waiting for a buffer
}

}  // namespace h2k
