#include "formats/vmdk/vmdk_role.hpp"

#include <algorithm>

#include "formats/vmdk/descriptor.hpp"
#include "formats/vmdk/sparse_header.hpp"

namespace h2k {

using namespace vmdk;

namespace {

constexpr size_t kProbeBytes = 64 * 1024;

std::vector<uint8_t> readAt(const ByteView& file, uint64_t offset, size_t len) {
  const uint64_t size = file.size();
  std::vector<uint8_t> buf(offset >= size ? 0 : static_cast<size_t>(std::min<uint64_t>(len, size - offset)));
  if (!buf.empty()) file.readExact(buf.data(), buf.size(), offset);
  return buf;
}

const char* text(const std::vector<uint8_t>& b) { return reinterpret_cast<const char*>(b.data()); }

// Monolithic and stream-optimized images embed their descriptor; the extents of a split image
// have none (offset 0, or qemu-img's empty reserved region). A header that makes no sense is a
// damaged image: a job of its own, so it fails into .errors/ with the reader's error.
VmdkRole sparseRole(const ByteView& file, const std::vector<uint8_t>& head) {
  if (head.size() < 512) return {"single", {}};
  const SparseHeader h = decodeSparseHeader(head.data(), file.name(), 0);
  if (h.version < 1 || h.version > 3 || h.descriptorOffset >= (file.size() >> 9)) return {"single", {}};
  if (h.descriptorOffset == 0) return {"extent", {}};
  const std::vector<uint8_t> region = readAt(file, h.descriptorOffset << 9, 1024);
  return {looksLikeDescriptor(text(region), region.size()) ? "single" : "extent", {}};
}

}  // namespace

VmdkRole vmdkRole(const ByteView& file) {
  const std::vector<uint8_t> head = readAt(file, 0, kProbeBytes);
  const uint32_t magic = head.size() >= 4 ? readLe32(head.data()) : 0;
  if (magic == kSparseMagic) return sparseRole(file, head);
  if (magic == kCowdMagic) return {"extent", {}};
  if (!looksLikeDescriptor(text(head), head.size())) return {"headerless", {}};
  // A descriptor the reader refuses (too large, damaged) is a job of its own that fails with the
  // reader's code; its extents are not carried along.
  if (file.size() > kMaxDescriptorBytes) return {"single", {}};
  const std::vector<uint8_t> whole = readAt(file, 0, kMaxDescriptorBytes);
  Descriptor d;
  try {
    d = parseDescriptor(text(whole), whole.size(), file.name());
  } catch (const Error&) {
    return {"single", {}};
  }
  VmdkRole role{"descriptor", {}};
  for (const auto& e : d.extents)
    if (!e.fileName.empty()) role.extents.push_back(e.fileName);
  return role;
}

}  // namespace h2k
