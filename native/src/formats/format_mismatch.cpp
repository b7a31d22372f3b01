#include "formats/format_mismatch.hpp"

#include <regex>

#include "common/error.hpp"
#include "formats/format_registry.hpp"

namespace h2k {

namespace {

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

void requireContentMatchesName(const std::string& path, const std::string& content) {
  const Format* named = formatNamedBy(path);
  if (!named || content == named->name) return;
  std::string base = path.substr(path.find_last_of('/') + 1);
  std::string what = content == "raw" ? named->signature : "its content is " + content;
  std::string hint = "to read it as " + (content == "raw" ? std::string("raw") : content) + " pass -f " +
                     (content == "raw" ? std::string("raw") : content) + "; otherwise re-copy or re-export the disk";
  if (std::string descriptor = descriptorOfExtent(path); named->name == std::string("vmdk") && !descriptor.empty())
    hint = "this looks like an extent file of a VMDK; open the descriptor " + descriptor +
           " that names this extent (or pass -f raw to read this file alone)";
  throw Error(codes::kFormatMismatch, base + " is not a " + named->label + ": " + what, path, 0, hint);
}

}  // namespace h2k
