// A unit of work in the conversion pipeline: a cluster-aligned guest range, either all
// zero (no buffer) or read into a buffer that the workers then classify cluster by cluster.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/default_init_allocator.hpp"
#include "io/read_tap.hpp"

namespace h2k {

enum class ClusterFate : uint8_t { Zero, Plain, Compressed };

struct ClusterOut {
  ClusterFate fate = ClusterFate::Zero;
  uint32_t packedOffset = 0;  // Compressed: where its bytes start in Chunk::packed
  uint32_t packedLength = 0;
};

struct Chunk {
  uint64_t seq = 0;
  uint64_t offset = 0;       // guest offset, cluster aligned
  uint64_t guestLength = 0;  // guest bytes covered, clipped to the virtual size
  bool zero = true;          // whole range reads as zero; buf unused
  uint64_t dataBytes = 0;    // bytes read from the source as data
  UninitVector<uint8_t> buf;  // padded to whole clusters (zero-filled tail); never zeroed on growth:
                              // ChunkSource writes every byte up to bufLength
  size_t bufLength = 0;      // valid bytes of buf (buf may be larger: it is recycled)
  std::vector<ClusterOut> clusters;
  UninitVector<uint8_t> packed;  // compressed clusters, back to back
  // XXH3 block sums of the guest bytes, one per KiB (hash/hasher.hpp), when a content hash
  // asked the workers for them; empty otherwise. Recycled with the chunk, like buf.
  UninitVector<uint64_t> xxh3Sums;
  bool hasXxh3Sums = false;
  // Source-file reads into buf whose taps (source hashes) are shown after the workers, with
  // the block sums above (ChunkSource::deferTaps).
  std::vector<DeferredTapRead> tapReads;
};

}  // namespace h2k
