#include "hash/hasher.hpp"

#include <openssl/evp.h>
#include <xxhash.h>

#include <algorithm>
#include <array>

#include "common/error.hpp"
#include "common/hex.hpp"
#include "hash/xxh3/xxh3_kernel.hpp"

namespace h2k {
namespace {

const std::array<uint8_t, kZeroBlockSize> kZeros{};  // read-only, zero-initialised

struct EvpCtxDeleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

// MD5 / SHA-* / BLAKE2b-512 through EVP; `md` comes from EVP_md5() etc. (static, never freed).
class EvpHasher : public Hasher {
 public:
  explicit EvpHasher(const EVP_MD* md) : md_(md), ctx_(EVP_MD_CTX_new()) {
    if (!ctx_) throw Error(codes::kIo, "out of memory creating a digest context");
    init();
  }
  void update(const uint8_t* data, size_t len) override {
    if (len && EVP_DigestUpdate(ctx_.get(), data, len) != 1)
      throw Error("E_INTERNAL", "EVP_DigestUpdate failed");
  }
  std::string hexDigest() override {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), out, &n) != 1) throw Error("E_INTERNAL", "EVP_DigestFinal_ex failed");
    init();
    return toHex(out, n);
  }

 private:
  void init() {
    if (EVP_DigestInit_ex(ctx_.get(), md_, nullptr) != 1)
      throw Error(codes::kUnsupported, "this OpenSSL cannot compute the requested digest", {}, -1,
                  "MD5 may be disabled in FIPS mode; use xxh3 or sha256");
  }
  const EVP_MD* md_;
  std::unique_ptr<EVP_MD_CTX, EvpCtxDeleter> ctx_;
};

// XXH3 through the fastest build of libxxhash's code this CPU runs (hash/xxh3/).
class Xxh3Hasher : public Hasher {
 public:
  explicit Xxh3Hasher(bool wide)
      : wide_(wide), kernel_(bestXxh3Kernel()), state_(kernel_.createState(), kernel_.freeState) {
    if (!state_) throw Error(codes::kIo, "out of memory creating an XXH3 state");
    kernel_.reset(state_.get(), wide_);
  }
  void update(const uint8_t* data, size_t len) override { kernel_.update(state_.get(), wide_, data, len); }
  void updateZeros(uint64_t len) override { kernel_.updateZeros(state_.get(), wide_, len); }
  void updatePresummed(const uint8_t* data, size_t len, const uint64_t* xxh3Sums) override {
    kernel_.updatePresummed(state_.get(), wide_, data, len, xxh3Sums);
  }
  std::string hexDigest() override {
    uint8_t out[16];
    size_t n = kernel_.digest(state_.get(), wide_, out);
    kernel_.reset(state_.get(), wide_);
    return toHex(out, n);
  }

 private:
  bool wide_;
  const Xxh3Kernel& kernel_;
  std::unique_ptr<void, void (*)(void*)> state_;
};

// XXH32 / XXH64 through libxxhash's streaming API with seed 0, as xxhsum -H0 / -H1 compute them.
struct Xxh32Api {
  using State = XXH32_state_t;
  static State* create() { return XXH32_createState(); }
  static void destroy(State* s) { XXH32_freeState(s); }
  static bool reset(State* s) { return XXH32_reset(s, 0) == XXH_OK; }
  static bool update(State* s, const void* p, size_t n) { return XXH32_update(s, p, n) == XXH_OK; }
  static std::string hex(const State* s) {
    XXH32_canonical_t c;
    XXH32_canonicalFromHash(&c, XXH32_digest(s));
    return toHex(c.digest, sizeof c.digest);
  }
};

struct Xxh64Api {
  using State = XXH64_state_t;
  static State* create() { return XXH64_createState(); }
  static void destroy(State* s) { XXH64_freeState(s); }
  static bool reset(State* s) { return XXH64_reset(s, 0) == XXH_OK; }
  static bool update(State* s, const void* p, size_t n) { return XXH64_update(s, p, n) == XXH_OK; }
  static std::string hex(const State* s) {
    XXH64_canonical_t c;
    XXH64_canonicalFromHash(&c, XXH64_digest(s));
    return toHex(c.digest, sizeof c.digest);
  }
};

template <typename Api>
class XxhClassicHasher : public Hasher {
 public:
  XxhClassicHasher() : state_(Api::create()) {
    if (!state_) throw Error(codes::kIo, "out of memory creating an xxHash state");
    reset();
  }
  void update(const uint8_t* data, size_t len) override {
    if (len && !Api::update(state_.get(), data, len)) throw Error("E_INTERNAL", "xxHash update failed");
  }
  std::string hexDigest() override {
    std::string hex = Api::hex(state_.get());
    reset();
    return hex;
  }

 private:
  struct Deleter {
    void operator()(typename Api::State* s) const noexcept { Api::destroy(s); }
  };
  void reset() {
    if (!Api::reset(state_.get())) throw Error("E_INTERNAL", "xxHash reset failed");
  }
  std::unique_ptr<typename Api::State, Deleter> state_;
};

}  // namespace

const uint8_t* zeroBlock() noexcept { return kZeros.data(); }

void Hasher::updateZeros(uint64_t len) {
  while (len > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(len, kZeroBlockSize));
    update(kZeros.data(), n);
    len -= n;
  }
}

const char* xxh3Isa() noexcept { return bestXxh3Kernel().isa; }
bool xxh3ZeroRunFastPath() noexcept { return bestXxh3Kernel().zeroRunFastPath(); }
bool xxh3BlockSumsAvailable() noexcept { return bestXxh3Kernel().blockSumsVerified(); }
void xxh3BlockSums(const uint8_t* data, size_t blocks, uint64_t* sums) { bestXxh3Kernel().blockSums(data, blocks, sums); }

HashAlgorithm parseHashAlgorithm(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (n == "md5") return HashAlgorithm::Md5;
  if (n == "xxh3" || n == "xxh3-64" || n == "xxh3_64") return HashAlgorithm::Xxh3;
  if (n == "xxh128" || n == "xxh3-128" || n == "xxh3_128") return HashAlgorithm::Xxh128;
  if (n == "sha256" || n == "sha-256") return HashAlgorithm::Sha256;
  if (n == "sha1" || n == "sha-1") return HashAlgorithm::Sha1;
  if (n == "sha512" || n == "sha-512") return HashAlgorithm::Sha512;
  if (n == "xxh32") return HashAlgorithm::Xxh32;
  if (n == "xxh64") return HashAlgorithm::Xxh64;
  if (n == "blake2b" || n == "blake2b-512" || n == "blake2b512" || n == "b2") return HashAlgorithm::Blake2b;
  throw Error(codes::kInvalidArgument, "unknown hash algorithm '" + name + "'", {}, -1,
              "use md5, sha1, sha256, sha512, blake2b, xxh3, xxh128, xxh64 or xxh32");
}

const char* hashAlgorithmName(HashAlgorithm algo) {
  switch (algo) {
    case HashAlgorithm::Md5: return "md5";
    case HashAlgorithm::Xxh3: return "xxh3";
    case HashAlgorithm::Xxh128: return "xxh128";
    case HashAlgorithm::Sha256: return "sha256";
    case HashAlgorithm::Sha1: return "sha1";
    case HashAlgorithm::Sha512: return "sha512";
    case HashAlgorithm::Xxh32: return "xxh32";
    case HashAlgorithm::Xxh64: return "xxh64";
    case HashAlgorithm::Blake2b: return "blake2b";
  }
  return "?";
}

std::unique_ptr<Hasher> makeHasher(HashAlgorithm algo) {
  switch (algo) {
    case HashAlgorithm::Md5: return std::make_unique<EvpHasher>(EVP_md5());
    case HashAlgorithm::Sha256: return std::make_unique<EvpHasher>(EVP_sha256());
    case HashAlgorithm::Sha1: return std::make_unique<EvpHasher>(EVP_sha1());
    case HashAlgorithm::Sha512: return std::make_unique<EvpHasher>(EVP_sha512());
    case HashAlgorithm::Xxh3: return std::make_unique<Xxh3Hasher>(false);
    case HashAlgorithm::Xxh128: return std::make_unique<Xxh3Hasher>(true);
    case HashAlgorithm::Xxh32: return std::make_unique<XxhClassicHasher<Xxh32Api>>();
    case HashAlgorithm::Xxh64: return std::make_unique<XxhClassicHasher<Xxh64Api>>();
    case HashAlgorithm::Blake2b: return std::make_unique<EvpHasher>(EVP_blake2b512());
  }
  throw Error(codes::kInvalidArgument, "unknown hash algorithm");
}

HashSet::HashSet(const std::vector<std::string>& algorithmNames) {
  for (const std::string& name : algorithmNames) {
    HashAlgorithm algo = parseHashAlgorithm(name);
    const char* canonical = hashAlgorithmName(algo);
    bool seen = std::any_of(hashers_.begin(), hashers_.end(), [&](const auto& h) { return h.first == canonical; });
    if (!seen) hashers_.emplace_back(canonical, makeHasher(algo));
  }
}

bool HashSet::allFast() const noexcept {
  // XXH32/XXH64 are "xxh" too but have no block sums and run at a fraction of XXH3's speed.
  return std::all_of(hashers_.begin(), hashers_.end(), [](const auto& h) { return h.first == "xxh3" || h.first == "xxh128"; });
}

void HashSet::update(const uint8_t* data, size_t len) {
  for (auto& h : hashers_) h.second->update(data, len);
  bytes_ += len;
}

void HashSet::updatePresummed(const uint8_t* data, size_t len, const uint64_t* xxh3Sums) {
  for (auto& h : hashers_) h.second->updatePresummed(data, len, xxh3Sums);
  bytes_ += len;
}

void HashSet::updateZeros(uint64_t len) {
  for (auto& h : hashers_) h.second->updateZeros(len);
  bytes_ += len;
}

std::map<std::string, std::string> HashSet::digests() {
  std::map<std::string, std::string> out;
  for (auto& h : hashers_) out[h.first] = h.second->hexDigest();
  bytes_ = 0;
  return out;
}

}  // namespace h2k
