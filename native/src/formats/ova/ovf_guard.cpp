#include "formats/ova/ovf_guard.hpp"

#include <algorithm>
#include <cctype>

#include "common/error.hpp"

namespace h2k {

namespace {

bool startsWithNoCase(const std::string& s, size_t at, const char* prefix) {
  for (size_t i = 0; prefix[i]; i++)
    if (at + i >= s.size() || std::toupper(static_cast<unsigned char>(s[at + i])) != prefix[i]) return false;
  return true;
}

size_t lineAt(const std::string& s, size_t at) { return 1 + std::count(s.begin(), s.begin() + at, '\n'); }

}  // namespace

void checkOvfDescriptor(const ByteView& archive, const TarMember& member, const std::string& archivePath) {
  const std::string where = archivePath + "/" + member.name;
  if (member.size > ovf::kMaxOvfBytes)
    throw Error(ovf::kTooLarge, member.name + " is " + std::to_string(member.size) +
                                    " bytes; an OVF descriptor is a few KiB and h2k reads at most 16 MiB",
                where, -1, "the archive is not an OVA as exporters write it; re-export the VM");
  std::string xml(member.size, '\0');
  archive.readExact(xml.data(), xml.size(), member.offset);
  // Comments, CDATA and processing instructions hold plain text; any other "<!" is a declaration.
  for (size_t i = xml.find('<'); i != std::string::npos; i = xml.find('<', i + 1)) {
    const char* close = startsWithNoCase(xml, i, "<!--") ? "-->" : startsWithNoCase(xml, i, "<![CDATA[") ? "]]>"
                        : startsWithNoCase(xml, i, "<?")   ? "?>"
                                                           : nullptr;
    if (close) {
      size_t end = xml.find(close, i);
      if (end == std::string::npos) return;  // unterminated: the OVF parser reports it; no declaration follows
      i = end;
      continue;
    }
    if (!startsWithNoCase(xml, i, "<!")) continue;
    std::string head = xml.substr(i, 4096);
    std::string upper(head.size(), '\0');
    std::transform(head.begin(), head.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    std::string what = !startsWithNoCase(xml, i, "<!DOCTYPE")              ? "a markup declaration outside any DOCTYPE"
                       : upper.find("<!ENTITY") != std::string::npos       ? "a DOCTYPE with entities"
                       : upper.find(" SYSTEM") != std::string::npos ||
                               upper.find(" PUBLIC") != std::string::npos ? "a DOCTYPE with an external DTD"
                                                                           : "a DOCTYPE";
    throw Error(ovf::kDoctype,
                member.name + ": line " + std::to_string(lineAt(xml, i)) + " declares " + what +
                    "; OVF descriptors never need one",
                where, -1,
                "the descriptor was not written by an OVF exporter (a DOCTYPE can expand entities or fetch files); "
                "nothing was read from it — re-export the VM");
  }
}

}  // namespace h2k
