#include "common/path_guard.hpp"

#include "common/error.hpp"
#include "io/open_beneath.hpp"

namespace h2k {

std::string dirName(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string referencedPath(const std::string& baseDir, const std::string& name) {
  return !name.empty() && name[0] == '/' ? name : baseDir + "/" + name;
}

void checkReferencedName(const std::string& name, bool allowExternal, const std::string& referencedFrom) {
  if (!allowExternal) checkContainedName(name, referencedFrom);
}

File openReferencedFile(const std::string& baseDir, const std::string& name, bool allowExternal,
                        const std::string& referencedFrom) {
  if (!allowExternal) return openBeneath(baseDir, name, referencedFrom);
  if (name.empty()) throw Error(codes::kCorrupt, "empty file name referenced from " + referencedFrom, referencedFrom);
  return File::open(referencedPath(baseDir, name));
}

}  // namespace h2k
