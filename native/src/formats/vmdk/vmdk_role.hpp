// Which part a .vmdk plays, read from it alone (no other file is opened): the watch folder's
// question (src/daemon/image-files.ts) while the extents a descriptor names may still be arriving.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/byte_view.hpp"

namespace h2k {

struct VmdkRole {
  // single: a whole image (monolithic or stream-optimized), or damaged: a job that fails on its own;
  // descriptor: a text descriptor; extent: a sparse (KDMV/COWD) extent without a descriptor;
  // headerless: neither a descriptor nor a sparse magic (flat extent data, or not a VMDK).
  std::string kind;
  // descriptor: the file names of its extents, as written (ZERO extents have none).
  std::vector<std::string> extents;
};

VmdkRole vmdkRole(const ByteView& file);

}  // namespace h2k
