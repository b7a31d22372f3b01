// Streaming hashers (update/digest) over well-kept implementations: MD5, SHA-1/256/512 and
// BLAKE2b-512 from OpenSSL's EVP API (Node's own libcrypto inside the addon), XXH3-64/128 from
// libxxhash's code (built per instruction set, hash/xxh3/), XXH32/XXH64 from libxxhash itself.
// Digests are lowercase hex in the canonical byte order md5sum/sha256sum/xxhsum print.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace h2k {

enum class HashAlgorithm { Md5, Xxh3, Xxh128, Sha256, Sha1, Sha512, Xxh32, Xxh64, Blake2b };

// "md5" | "xxh3" | "xxh128" | "sha256" (also "xxh3-64", "xxh3-128", "sha-256"), "sha1" / "sha512"
// (OVF manifests), "xxh32" / "xxh64" (xxhsum -H0 / -H1) and "blake2b" (b2sum: BLAKE2b-512);
// throws E_INVALID_ARGUMENT.
HashAlgorithm parseHashAlgorithm(const std::string& name);
const char* hashAlgorithmName(HashAlgorithm algo);

class Hasher {
 public:
  virtual ~Hasher() = default;
  virtual void update(const uint8_t* data, size_t len) = 0;
  // Appends `len` zero bytes (holes, zero runs); XXH3 skips long runs without hashing them.
  virtual void updateZeros(uint64_t len);
  // Appends `len` bytes whose XXH3 block sums (xxh3BlockSums) were computed ahead, possibly
  // on another thread; XXH3 then only folds them in. Others ignore the sums.
  virtual void updatePresummed(const uint8_t* data, size_t len, const uint64_t* xxh3Sums) { update(data, len); }
  // Finishes the hash and returns its hex digest; the hasher then starts over (reset).
  virtual std::string hexDigest() = 0;
};

std::unique_ptr<Hasher> makeHasher(HashAlgorithm algo);

// Several algorithms fed the same bytes in one pass.
class HashSet {
 public:
  HashSet() = default;
  explicit HashSet(const std::vector<std::string>& algorithmNames);  // duplicates collapse
  bool empty() const noexcept { return hashers_.empty(); }
  void update(const uint8_t* data, size_t len);
  // Feeds `len` zero bytes (holes, zero runs) without allocating: Hasher::updateZeros.
  void updateZeros(uint64_t len);
  void updatePresummed(const uint8_t* data, size_t len, const uint64_t* xxh3Sums);
  uint64_t bytesHashed() const noexcept { return bytes_; }
  // Only XXH3 family algorithms (tens of GB/s, block sums): cheap enough to run inline with reading.
  bool allFast() const noexcept;
  // algo name -> hex digest; finishes every hasher.
  std::map<std::string, std::string> digests();

 private:
  std::vector<std::pair<std::string, std::unique_ptr<Hasher>>> hashers_;
  uint64_t bytes_ = 0;
};

// A read-only block of zeros shared by every hasher (no per-job allocation for holes).
inline constexpr size_t kZeroBlockSize = 1 << 20;
const uint8_t* zeroBlock() noexcept;

// Which XXH3 build hashes here ("avx512" | "avx2" | "sse2") and whether its zero-run fast path
// passed its self-check (the addon's hashImplementation(), tests).
const char* xxh3Isa() noexcept;
bool xxh3ZeroRunFastPath() noexcept;

// XXH3 block sums: the additive part of XXH3 for each whole KiB of a buffer (8 words per KiB),
// computed on any thread, in any order; Hasher::updatePresummed folds them into a stream in
// order. Available once the self-check against plain hashing passed.
inline constexpr size_t kXxh3SumBlockBytes = 1024;
inline constexpr size_t kXxh3SumWords = 8;
bool xxh3BlockSumsAvailable() noexcept;
void xxh3BlockSums(const uint8_t* data, size_t blocks, uint64_t* sums);

}  // namespace h2k
