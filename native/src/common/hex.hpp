// Lower-case hex of bytes, as digests and UUIDs are shown.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace h2k {

inline std::string toHex(const uint8_t* bytes, size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(len * 2, '0');
  for (size_t i = 0; i < len; ++i) {
    s[2 * i] = kDigits[bytes[i] >> 4];
    s[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return s;
}

}  // namespace h2k
