#include "formats/ova/tar_index.hpp"

#include <cstring>

namespace h2k {

namespace {
constexpr uint64_t kBlock = 512;
constexpr size_t kMaxMembers = 100000;
constexpr uint64_t kMaxMetaRecord = 1 << 20;  // pax header / GNU long name

std::string field(const uint8_t* p, size_t n) {
  size_t len = 0;
  while (len < n && p[len]) ++len;
  return std::string(reinterpret_cast<const char*>(p), len);
}

// Octal with optional spaces/NULs, or GNU base-256 (high bit of the first byte set).
bool parseNumber(const uint8_t* p, size_t n, uint64_t* out) {
  if (p[0] & 0x80) {
    if (p[0] & 0x40) return false;  // negative
    uint64_t v = p[0] & 0x3F;
    for (size_t i = 1; i < n; ++i) {
      if (v >> 55) return false;
      v = v << 8 | p[i];
    }
    *out = v;
    return true;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < n && p[i] == ' ') ++i;
  bool any = false;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 60) return false;
    v = v * 8 + (p[i] - '0');
    any = true;
  }
  for (; i < n; ++i)
    if (p[i] != ' ' && p[i] != 0) return false;
  *out = any ? v : 0;
  return true;
}

bool checksumOk(const uint8_t* h) {
  uint64_t stored;
  if (!parseNumber(h + 148, 8, &stored)) return false;
  uint64_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? ' ' : h[i];
  return sum == stored;
}

// "len key=value\n" records.
void parsePax(const std::string& text, std::string* path, uint64_t* size, bool* haveSize) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t sp = text.find(' ', pos);
    if (sp == std::string::npos) return;
    uint64_t len = std::strtoull(text.c_str() + pos, nullptr, 10);
    if (len == 0 || pos + len > text.size()) return;
    std::string rec = text.substr(sp + 1, pos + len - sp - 2);
    size_t eq = rec.find('=');
    if (eq != std::string::npos) {
      std::string key = rec.substr(0, eq), value = rec.substr(eq + 1);
      if (key == "path") *path = value;
      if (key == "size") {
        *size = std::strtoull(value.c_str(), nullptr, 10);
        *haveSize = true;
      }
    }
    pos += len;
  }
}
}  // namespace

bool probeTar(const uint8_t* head, size_t len) { return len >= 263 && std::memcmp(head + 257, "ustar", 5) == 0; }

std::vector<TarMember> listTarMembers(const ByteView& archive) {
  std::vector<TarMember> members;
  const std::string& name = archive.name();
  uint64_t size = archive.size();
  uint64_t pos = 0;
  std::string nextPath;
  uint64_t nextSize = 0;
  bool haveNextSize = false;
  uint8_t h[kBlock];
  while (pos + kBlock <= size) {
    archive.readExact(h, kBlock, pos);
    static const uint8_t zero[kBlock] = {0};
    if (std::memcmp(h, zero, kBlock) == 0) break;  // end-of-archive marker
    auto bad = [&](const std::string& what) {
      return Error(ova::kBadTar, "tar header at offset " + std::to_string(pos) + " of " + name + ": " + what, name,
                   static_cast<int64_t>(pos), "the archive is damaged or not a tar/OVA file; re-download it");
    };
    if (!checksumOk(h)) throw bad("checksum mismatch");
    uint64_t memberSize;
    if (!parseNumber(h + 124, 12, &memberSize)) throw bad("unreadable size field");
    char type = static_cast<char>(h[156]);
    if (haveNextSize) memberSize = nextSize;
    uint64_t dataAt = pos + kBlock;
    if (!rangeInside(dataAt, memberSize, size)) throw bad("member of " + std::to_string(memberSize) + " bytes runs past the end of the archive");
    if (type == 'x' || type == 'L' || type == 'g') {
      if (memberSize > kMaxMetaRecord) throw bad("extended header larger than 1 MiB");
      std::string text(memberSize, '\0');
      archive.readExact(text.data(), memberSize, dataAt);
      if (type == 'x') parsePax(text, &nextPath, &nextSize, &haveNextSize);
      if (type == 'L') nextPath = field(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    } else {
      if (type == '0' || type == 0 || type == '7') {
        std::string memberName = nextPath;
        if (memberName.empty()) {
          std::string prefix = std::memcmp(h + 257, "ustar", 5) == 0 ? field(h + 345, 155) : "";
          memberName = field(h, 100);
          if (!prefix.empty()) memberName = prefix + "/" + memberName;
        }
        if (members.size() >= kMaxMembers) throw bad("more than 100000 members");
        members.push_back({memberName, dataAt, memberSize});
      }
      nextPath.clear();
      haveNextSize = false;
    }
    uint64_t padded = (memberSize + kBlock - 1) / kBlock * kBlock;
    pos = dataAt + padded;
  }
  return members;
}

}  // namespace h2k
