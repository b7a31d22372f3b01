#include "formats/ova/manifest.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "common/hex.hpp"

namespace h2k {

std::map<std::string, ManifestEntry> parseManifest(const std::string& text, const std::string& source) {
  std::map<std::string, ManifestEntry> out;
  size_t pos = 0, lineNo = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++lineNo;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    line.erase(0, line.find_first_not_of(" \t"));
    if (line.empty()) continue;
    size_t open = line.find('('), close = line.rfind(')');
    size_t eq = close == std::string::npos ? close : line.find_first_not_of(" \t", close + 1);
    auto bad = [&]() {
      return Error(ova::kBadManifest, "manifest " + source + " line " + std::to_string(lineNo) + " is not 'ALGO(name)= hex'",
                   source, -1, "the manifest is damaged; re-download the OVA");
    };
    if (open == std::string::npos || close == std::string::npos || close < open || eq == std::string::npos ||
        line[eq] != '=')
      throw bad();
    ManifestEntry e;
    // VirtualBox writes "SHA256 (name) = hex" (BSD style), ovftool "SHA256(name)= hex": both are OVF manifests.
    e.algorithm = line.substr(0, open);
    while (!e.algorithm.empty() && (e.algorithm.back() == ' ' || e.algorithm.back() == '\t')) e.algorithm.pop_back();
    std::transform(e.algorithm.begin(), e.algorithm.end(), e.algorithm.begin(), ::toupper);
    std::string name = line.substr(open + 1, close - open - 1);
    e.hex = line.substr(eq + 1);
    e.hex.erase(0, e.hex.find_first_not_of(" \t"));
    std::transform(e.hex.begin(), e.hex.end(), e.hex.begin(), ::tolower);
    if (e.algorithm != "SHA1" && e.algorithm != "SHA256" && e.algorithm != "SHA512")
      throw Error(ova::kBadManifest, "manifest " + source + " uses unsupported digest " + e.algorithm, source, -1,
                  "only SHA1, SHA256 and SHA512 manifests exist in OVF");
    if (e.hex.empty() || e.hex.find_first_not_of("0123456789abcdef") != std::string::npos) throw bad();
    out[name] = e;
  }
  return out;
}

std::string digestRange(const ByteView& view, uint64_t offset, uint64_t size, const std::string& algorithm) {
  const EVP_MD* md = algorithm == "SHA1" ? EVP_sha1() : algorithm == "SHA256" ? EVP_sha256() : EVP_sha512();
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) throw Error("E_INTERNAL", "EVP_DigestInit_ex failed");
  std::vector<uint8_t> buf(1 << 20);
  for (uint64_t done = 0; done < size;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
    view.readExact(buf.data(), n, offset + done);
    if (EVP_DigestUpdate(ctx.get(), buf.data(), n) != 1) throw Error("E_INTERNAL", "EVP_DigestUpdate failed");
    done += n;
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out, &len) != 1) throw Error("E_INTERNAL", "EVP_DigestFinal_ex failed");
  return toHex(out, len);
}

bool verifyMember(const ByteView& archive, const TarMember& member, const std::map<std::string, ManifestEntry>& mf) {
  auto it = mf.find(member.name);
  if (it == mf.end()) return false;
  std::string actual = digestRange(archive, member.offset, member.size, it->second.algorithm);
  if (actual != it->second.hex)
    throw Error(ova::kDigestMismatch,
                it->second.algorithm + " of " + member.name + " in " + archive.name() + " is " + actual +
                    " but the manifest says " + it->second.hex,
                archive.name(), static_cast<int64_t>(member.offset),
                "the archive was modified or damaged in transit; re-download or re-export it");
  return true;
}

}  // namespace h2k
