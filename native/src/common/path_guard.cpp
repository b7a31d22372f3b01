#include "common/path_guard.hpp"

#include <climits>
#include <cstdlib>

#include "common/error.hpp"

namespace h2k {

std::string dirName(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

static bool hasDotDot(const std::string& name) {
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0 && end - start == 2) return true;
    start = end + 1;
  }
  return false;
}

static std::string realOrEmpty(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) return {};
  return buf;
}

std::string resolveImagePath(const std::string& baseDir, const std::string& name, bool allowExternal,
                             const std::string& referencedFrom) {
  if (name.empty())
    throw Error(codes::kCorrupt, "empty file name referenced from " + referencedFrom, referencedFrom);
  if (name.find('\0') != std::string::npos)
    throw Error(codes::kCorrupt, "file name with NUL byte referenced from " + referencedFrom, referencedFrom);
  bool absolute = name[0] == '/';
  std::string resolved = absolute ? name : baseDir + "/" + name;
  if (allowExternal) return resolved;
  const std::string hint =
      "the image references a file outside its own directory; if you trust it, pass --allow-external-paths";
  if (absolute || hasDotDot(name))
    throw Error(codes::kPathEscape,
                "refusing path '" + name + "' referenced from " + referencedFrom + ": it leaves the image directory",
                referencedFrom, -1, hint);
  // A symlink inside the directory may still point elsewhere.
  std::string realBase = realOrEmpty(baseDir);
  std::string realTarget = realOrEmpty(resolved);
  if (!realBase.empty() && !realTarget.empty()) {
    std::string prefix = realBase == "/" ? "/" : realBase + "/";
    if (realTarget.compare(0, prefix.size(), prefix) != 0)
      throw Error(codes::kPathEscape,
                  "refusing path '" + name + "' referenced from " + referencedFrom +
                      ": it resolves to " + realTarget + ", outside the image directory",
                  referencedFrom, -1, hint);
  }
  return resolved;
}

}  // namespace h2k
