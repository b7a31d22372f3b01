// An allocator whose value-initialisation is default-initialisation, so that
// std::vector<uint8_t, DefaultInitAllocator<uint8_t>>::resize leaves the new bytes unwritten.
// For buffers that are always filled before they are read: the conversion's chunk buffers,
// whose zero-fill on first use cost about a quarter of a sparse conversion's user time.
#pragma once
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace h2k {

template <typename T>
class DefaultInitAllocator : public std::allocator<T> {
  using Base = std::allocator<T>;

 public:
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using Base::Base;
  DefaultInitAllocator() noexcept = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}

  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible<U>::value) {
    ::new (static_cast<void*>(p)) U;  // default-init: no zero fill for trivial types
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    std::allocator_traits<Base>::construct(static_cast<Base&>(*this), p, std::forward<Args>(args)...);
  }
};

// A byte buffer that resize() does not zero.
template <typename T>
using UninitVector = std::vector<T, DefaultInitAllocator<T>>;

}  // namespace h2k
