#include "hash/read_ahead.hpp"

namespace h2k {

ReadAhead::ReadAhead(Producer producer, size_t bufferSize, size_t bufferCount, bool threaded)
    : producer_(std::move(producer)),
      buffers_(threaded ? bufferCount : 1),
      chunks_(buffers_.size()),
      threaded_(threaded) {
  for (size_t i = 0; i < buffers_.size(); ++i) {
    buffers_[i].resize(bufferSize);
    free_.push_back(i);
  }
  if (threaded_) thread_ = std::thread([this] { run(); });
}

ReadAhead::~ReadAhead() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReadAhead::run() {
  for (;;) {
    size_t slot;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stop_ || !free_.empty(); });
      if (stop_) return;
      slot = free_.front();
      free_.pop_front();
    }
    ReadChunk chunk;
    bool more = false;
    std::exception_ptr error;
    try {
      more = producer_(buffers_[slot].data(), buffers_[slot].size(), chunk);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (more && !error) {
        chunks_[slot] = chunk;
        full_.push_back(slot);
      } else {
        error_ = error;
        done_ = true;
      }
    }
    cv_.notify_all();
    if (!more || error) return;
  }
}

bool ReadAhead::next(ReadChunk& out) {
  if (!threaded_) {
    if (done_) return false;
    out = ReadChunk{};
    if (producer_(buffers_[0].data(), buffers_[0].size(), out)) return true;
    done_ = true;
    return false;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (held_ != SIZE_MAX) {
    free_.push_back(held_);
    held_ = SIZE_MAX;
    cv_.notify_all();
  }
  cv_.wait(lock, [this] { return !full_.empty() || done_; });
  if (!full_.empty()) {
    held_ = full_.front();
    full_.pop_front();
    out = chunks_[held_];
    return true;
  }
  if (error_) std::rethrow_exception(error_);
  return false;
}

}  // namespace h2k
