// Resolves a file name found inside image metadata (VMDK extent, parent hint, backing
// file) against the directory of the image that names it, refusing paths that escape it.
#pragma once
#include <string>

namespace h2k {

// Returns the resolved path. Throws E_PATH_ESCAPE when `name` is absolute or contains a
// ".." component (or resolves outside baseDir through a symlink) and allowExternal is false.
std::string resolveImagePath(const std::string& baseDir, const std::string& name, bool allowExternal,
                             const std::string& referencedFrom);

std::string dirName(const std::string& path);

}  // namespace h2k
