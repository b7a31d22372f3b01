// Helpers shared by the table-driven readers (qcow2, VHD, VHDX, VDI): they classify and read one
// table entry at a time and merge adjacent pieces of the same kind into one run, and unallocated
// pieces of a differencing image take their status and bytes from the parent.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "formats/image_reader.hpp"
#include "io/byte_view.hpp"

namespace h2k {

// Status of an unallocated piece of a differencing image: the parent's (clipped to the parent's
// size), or a hole past the parent's end or when there is no parent.
inline BlockStatus inheritedStatus(ImageReader* parent, uint64_t pos, uint64_t len) {
  if (parent != nullptr && pos < parent->virtualSize())
    return parent->blockStatus(pos, std::min(len, parent->virtualSize() - pos));
  return {pos, len, BlockKind::Hole};
}

// Bytes of an unallocated piece of a differencing image: the parent's, zeros past its end or
// when there is no parent.
inline void readInherited(ImageReader* parent, uint64_t offset, uint8_t* buf, uint64_t len) {
  uint64_t fromParent = 0;
  if (parent != nullptr && offset < parent->virtualSize()) {
    fromParent = std::min(len, parent->virtualSize() - offset);
    parent->read(offset, buf, fromParent);
  }
  std::memset(buf + fromParent, 0, len - fromParent);
}

// One piece of a status walk: its length and kind, or `inherited` (unallocated in a
// differencing image: the parent's status stands for it).
struct StatusPiece {
  uint64_t length;
  BlockKind kind;
  bool inherited = false;
};

// The run of one kind from `offset` (before `end`): `piece(pos)` classifies one table entry's
// piece at a time (length > 0), merged while the kind stays the same.
template <class Piece>
BlockStatus statusRun(uint64_t offset, uint64_t end, ImageReader* parent, Piece&& piece) {
  BlockStatus run{offset, 0, BlockKind::Data};
  for (uint64_t pos = offset; pos < end;) {
    StatusPiece p = piece(pos);
    if (p.inherited) {
      const BlockStatus s = inheritedStatus(parent, pos, p.length);
      p = {s.length, s.kind};
    }
    if (run.length == 0) run.kind = p.kind;
    else if (p.kind != run.kind) break;
    run.length += p.length;
    pos += p.length;
  }
  return run;
}

// Reads [offset, offset + len) piece by piece: `piece(offset, buf, len)` fills at most len bytes
// (up to the end of its table entry) and returns how many, more than 0.
template <class Piece>
void readPieces(uint64_t offset, uint8_t* buf, size_t len, Piece&& piece) {
  while (len > 0) {
    const uint64_t n = piece(offset, buf, static_cast<uint64_t>(len));
    buf += n;
    offset += n;
    len -= n;
  }
}

// What info() reports first for an image that is one file (compression: none unless it says).
inline ImageInfo singleFileInfo(const char* format, std::string subformat, uint64_t virtualSize, const ByteView& view) {
  ImageInfo info;
  info.format = format;
  info.subformat = std::move(subformat);
  info.virtualSize = virtualSize;
  info.fileBytes = view.size();
  info.compression = "none";
  info.files.push_back(view.name());
  return info;
}

}  // namespace h2k
