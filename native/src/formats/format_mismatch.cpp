#include "formats/format_mismatch.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

#include "common/error.hpp"
#include "formats/ova/byte_view.hpp"
#include "formats/view_formats.hpp"
#include "formats/vmdk/vmdk_open.hpp"
#include "io/file.hpp"

namespace h2k {

namespace {

struct NamedFormat {
  const char* extension;  // lower case, with the dot
  const char* format;     // h2k's format name
  const char* label;      // as users know it
};

// Hyper-V's .avhd/.avhdx snapshot files are VHD/VHDX by content too.
constexpr NamedFormat kNamed[] = {
    {".vmdk", "vmdk", "VMDK"}, {".vhd", "vhd", "VHD"},     {".avhd", "vhd", "VHD"}, {".vhdx", "vhdx", "VHDX"},
    {".avhdx", "vhdx", "VHDX"}, {".vdi", "vdi", "VDI"},     {".qcow2", "qcow2", "qcow2"}, {".ova", "ova", "OVA"},
};

const NamedFormat* namedEntry(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  auto dot = base.find_last_of('.');
  if (dot == std::string::npos || dot == 0) return nullptr;
  std::string ext = base.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& n : kNamed)
    if (ext == n.extension) return &n;
  return nullptr;
}

// What a format's probe looks for, so the message says what was missing.
std::string missingWhat(const std::string& format) {
  if (format == "vmdk") return "no descriptor or sparse magic";
  if (format == "vhd") return "no 'conectix' footer";
  if (format == "vhdx") return "no 'vhdxfile' identifier";
  if (format == "vdi") return "no 0xBEDA107F signature";
  if (format == "qcow2") return "no QFI\\xfb magic";
  return "no ustar tar header";
}

// VMware names the raw or delta extents of a descriptor <stem>-flat.vmdk, <stem>-f001.vmdk,
// <stem>-s001.vmdk, <stem>-delta.vmdk, <stem>-sesparse.vmdk, <stem>-rdm(p).vmdk. Returns the
// descriptor's file name, or "" when the name is not an extent's.
std::string descriptorOfExtent(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  static const std::regex extent(R"(^(.+)-(flat|delta|sesparse|rdm|rdmp|ctk|[fs][0-9]{3})\.vmdk$)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(base, m, extent)) return "";
  return m[1].str() + ".vmdk";
}

}  // namespace

std::string formatNamedBy(const std::string& path) {
  const NamedFormat* n = namedEntry(path);
  return n ? n->format : "";
}

void requireContentMatchesName(const std::string& path, const std::string& content) {
  const NamedFormat* named = namedEntry(path);
  if (!named || content == named->format) return;
  std::string base = path.substr(path.find_last_of('/') + 1);
  std::string what = content == "raw" ? missingWhat(named->format) : "its content is " + content;
  std::string hint = "to read it as " + (content == "raw" ? std::string("raw") : content) + " pass -f " +
                     (content == "raw" ? std::string("raw") : content) + "; otherwise re-copy or re-export the disk";
  if (std::string descriptor = descriptorOfExtent(path); named->format == std::string("vmdk") && !descriptor.empty())
    hint = "this looks like an extent file of a VMDK; open the descriptor " + descriptor +
           " that names this extent (or pass -f raw to read this file alone)";
  throw Error(codes::kFormatMismatch, base + " is not a " + named->label + ": " + what, path, 0, hint);
}

}  // namespace h2k
