// The OVF manifest (.mf, in an OVA or beside a loose .ovf): lines "SHA256(name)= hex" (also
// SHA1, SHA512; blanks around the '=' allowed). Each listed member that is used is hashed
// through OpenSSL's EVP and compared; a mismatch is an error.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "formats/ova/tar_index.hpp"
#include "io/byte_view.hpp"

namespace h2k {

struct ManifestEntry {
  std::string algorithm;  // "SHA1" | "SHA256" | "SHA512"
  std::string hex;        // lowercase
};

// member name -> expected digest. Throws E_OVA_BAD_MANIFEST on an unusable line.
std::map<std::string, ManifestEntry> parseManifest(const std::string& text, const std::string& source);

// Lowercase hex digest of [offset, offset+size) of `view`.
std::string digestRange(const ByteView& view, uint64_t offset, uint64_t size, const std::string& algorithm);

// Verifies `member` against the manifest; throws E_OVA_DIGEST_MISMATCH when it differs.
// Returns false when the manifest does not list it.
bool verifyMember(const ByteView& archive, const TarMember& member, const std::map<std::string, ManifestEntry>& mf);

}  // namespace h2k
