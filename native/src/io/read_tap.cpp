#include "io/read_tap.hpp"

#include <cstdint>

namespace h2k {
namespace {
thread_local TapDeferral* tCurrent = nullptr;  // innermost live deferral on this thread
}  // namespace

TapDeferral::TapDeferral(const uint8_t* begin, size_t size, std::vector<DeferredTapRead>* out) noexcept
    : begin_(begin), size_(size), out_(out), outer_(tCurrent) {
  tCurrent = this;
}

TapDeferral::~TapDeferral() { tCurrent = outer_; }

bool TapDeferral::capture(const std::shared_ptr<ReadTap>& tap, uint64_t offset, const uint8_t* data, size_t len) {
  TapDeferral* d = tCurrent;
  if (!d) return false;
  // Integer addresses: comparing pointers into different objects is unspecified.
  const auto at = reinterpret_cast<std::uintptr_t>(data);
  const auto begin = reinterpret_cast<std::uintptr_t>(d->begin_);
  if (at < begin || len > d->size_ || at - begin > d->size_ - len) return false;
  d->out_->push_back({tap, offset, static_cast<size_t>(at - begin), len});
  return true;
}

}  // namespace h2k
