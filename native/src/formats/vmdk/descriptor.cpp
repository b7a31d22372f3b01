#include "formats/vmdk/descriptor.hpp"

#include <cctype>
#include <cstring>

#include "common/error.hpp"
#include "formats/vmdk/vmdk_codes.hpp"

namespace h2k::vmdk {

namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && isSpace(s[b])) ++b;
  while (e > b && isSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Splits the text into lines (LF or CRLF), stopping at the first NUL.
std::vector<std::pair<size_t, std::string>> splitLines(const char* text, size_t len) {
  const void* nul = std::memchr(text, '\0', len);
  if (nul) len = static_cast<size_t>(static_cast<const char*>(nul) - text);
  std::vector<std::pair<size_t, std::string>> lines;
  size_t start = 0;
  while (start < len) {
    const void* nl = std::memchr(text + start, '\n', len - start);
    size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - text) : len;
    lines.emplace_back(start, std::string(text + start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string unquote(const std::string& v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
  return v;
}

bool parseDecimal(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// Next whitespace-separated token, or a "quoted string" (quotes removed) when it starts with '"'.
bool nextToken(const std::string& line, size_t* pos, std::string* tok, bool* quoted) {
  size_t p = *pos;
  while (p < line.size() && isSpace(line[p])) ++p;
  if (p >= line.size()) return false;
  *quoted = line[p] == '"';
  if (*quoted) {
    size_t close = line.find('"', p + 1);
    if (close == std::string::npos) return false;
    *tok = line.substr(p + 1, close - p - 1);
    *pos = close + 1;
    return true;
  }
  size_t e = p;
  while (e < line.size() && !isSpace(line[e])) ++e;
  *tok = line.substr(p, e - p);
  *pos = e;
  return true;
}

bool isAccess(const std::string& t) { return t == "RW" || t == "RDONLY" || t == "NOACCESS"; }

// Every createType VMware, qemu, VirtualBox and OVFTool write (VMware's Virtual Disk Format
// 5.0 list plus the ESXi delta types). Extents are read by their own lines; the type only
// has to be one that exists, so a typo or a forged value is not silently taken for one.
constexpr const char* kCreateTypes[] = {
    "monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat", "streamOptimized",
    "vmfs", "vmfsSparse", "vmfsThin", "vmfsPreallocated", "vmfsEagerZeroedThick", "seSparse",
    "vmfsRaw", "vmfsRDM", "vmfsRawDeviceMap", "vmfsRDMP", "vmfsPassthroughRawDeviceMap",
    "fullDevice", "partitionedDevice", "custom"};

bool sameIgnoringCase(const std::string& a, const char* b) {
  size_t n = std::strlen(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool knownCreateType(const std::string& t) {
  for (const char* k : kCreateTypes)
    if (sameIgnoringCase(t, k)) return true;
  return false;
}

std::string knownCreateTypeList() {
  std::string s;
  for (const char* k : kCreateTypes) s += (s.empty() ? "" : ", ") + std::string(k);
  return s;
}

}  // namespace

uint64_t Descriptor::totalSectors() const {
  uint64_t total = 0;
  for (const auto& e : extents) total += e.sectors;  // overflow excluded by the parser
  return total;
}

bool Descriptor::isDelta() const {
  if (!parentFileNameHint.empty()) return true;
  if (parentCid.empty()) return false;
  std::string p;
  for (char c : parentCid) p += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return p != "ffffffff";
}

bool looksLikeDescriptor(const char* text, size_t len) {
  for (const auto& [off, raw] : splitLines(text, len)) {
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, 7, "version") != 0) return false;
    size_t p = 7;
    while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
    if (p >= line.size() || line[p] != '=') return false;
    std::string v = unquote(trim(line.substr(p + 1)));
    return v == "1" || v == "2" || v == "3";
  }
  return false;
}

Descriptor parseDescriptor(const char* text, size_t len, const std::string& source, uint64_t baseOffset) {
  auto bad = [&](const std::string& what, size_t lineNo, size_t off) {
    return Error(kBadDescriptor, "invalid VMDK descriptor in " + source + " (line " + std::to_string(lineNo) + "): " + what,
                 source, static_cast<int64_t>(baseOffset + off),
                 "the descriptor text is damaged or was edited by hand; compare it with the VMDK descriptor format");
  };
  if (len > kMaxDescriptorBytes)
    throw Error(kBadDescriptor, "VMDK descriptor in " + source + " is larger than 1 MiB", source,
                static_cast<int64_t>(baseOffset), "this is not a VMDK descriptor, or it is damaged");
  Descriptor d;
  bool sawVersion = false;
  uint64_t total = 0;
  size_t lineNo = 0;
  for (const auto& [off, raw] : splitLines(text, len)) {
    ++lineNo;
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    size_t pos = 0;
    std::string first;
    bool quoted = false;
    nextToken(line, &pos, &first, &quoted);
    // An extent line is an access keyword followed by a sector count (a file name may hold '=').
    size_t afterAccess = pos;
    std::string countTok;
    bool countQuoted = false;
    bool isExtent = !quoted && isAccess(first) && nextToken(line, &afterAccess, &countTok, &countQuoted) &&
                    !countQuoted && countTok.find('=') == std::string::npos && countTok[0] != '=';
    if (isExtent) {
      ExtentLine e;
      e.lineNumber = lineNo;
      e.access = first;
      std::string tok;
      if (!nextToken(line, &pos, &tok, &quoted) || quoted || !parseDecimal(tok, &e.sectors))
        throw bad("extent size is not a decimal sector count", lineNo, off);
      if (e.sectors == 0) throw bad("extent of zero sectors", lineNo, off);
      if (e.sectors > (UINT64_MAX >> 9) - total) throw bad("extent sizes overflow", lineNo, off);
      total += e.sectors;
      if (!nextToken(line, &pos, &e.type, &quoted) || quoted) throw bad("extent line without a type", lineNo, off);
      if (e.type != "ZERO") {
        if (!nextToken(line, &pos, &e.fileName, &quoted) || e.fileName.empty())
          throw bad("extent line without a file name", lineNo, off);
        std::string offTok;
        if (nextToken(line, &pos, &offTok, &quoted)) {
          if (quoted || !parseDecimal(offTok, &e.offsetSectors) || e.offsetSectors > (UINT64_MAX >> 9))
            throw bad("extent offset is not a decimal sector number", lineNo, off);
        }
      }
      if (d.extents.size() >= kMaxExtents)
        throw bad("more than " + std::to_string(kMaxExtents) + " extents", lineNo, off);
      d.extents.push_back(std::move(e));
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) {
      d.warnings.push_back("descriptor line " + std::to_string(lineNo) + " ignored: " + line.substr(0, 80));
      continue;
    }
    std::string key = trim(line.substr(0, eq));
    std::string value = unquote(trim(line.substr(eq + 1)));
    if (key == "version") {
      if (value != "1" && value != "2" && value != "3") throw bad("unsupported version '" + value + "'", lineNo, off);
      d.version = value[0] - '0';
      sawVersion = true;
    } else if (key == "encoding") {
      d.encoding = value;
    } else if (key == "CID") {
      d.cid = value;
    } else if (key == "parentCID") {
      d.parentCid = value;
    } else if (key == "createType") {
      if (!knownCreateType(value))
        throw Error(kUnknownCreateType, "VMDK descriptor in " + source + " (line " + std::to_string(lineNo) +
                        ") has unknown createType '" + value.substr(0, 64) + "'", source,
                    static_cast<int64_t>(baseOffset + off),
                    "h2k knows " + knownCreateTypeList() + "; fix the descriptor's createType or re-export the disk");
      d.createType = value;
    } else if (key == "parentFileNameHint") {
      d.parentFileNameHint = value;
    } else if (key.compare(0, 4, "ddb.") == 0) {
      d.ddb[key] = value;
    } else {
      d.other[key] = value;
    }
  }
  if (!sawVersion) throw bad("no version= line", 0, 0);
  if (d.createType.empty()) throw bad("no createType", 0, 0);
  if (d.extents.empty()) throw bad("no extent lines", 0, 0);
  return d;
}

}  // namespace h2k::vmdk
