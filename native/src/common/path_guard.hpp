// File names found inside image metadata (VMDK extents, parentFileNameHint, VHD/VHDX parent
// locators, qcow2 backing files) are resolved against the directory of the image that names
// them and opened through io/open_beneath.hpp, the one place that keeps them inside it.
#pragma once
#include <string>

#include "io/file.hpp"

namespace h2k {

// The path a referenced name stands for (baseDir/name, or name when absolute): for messages and
// info(). It checks nothing; openReferencedFile does.
std::string referencedPath(const std::string& baseDir, const std::string& name);

// Opens `name` beneath baseDir (E_PATH_ESCAPE for '..', absolute names, symlinks that leave it,
// non-regular files), or, when the user passed --allow-external-paths, wherever it points.
File openReferencedFile(const std::string& baseDir, const std::string& name, bool allowExternal,
                        const std::string& referencedFrom);

// The lexical check alone (names that are not opened: NOACCESS extents), unless allowExternal.
void checkReferencedName(const std::string& name, bool allowExternal, const std::string& referencedFrom);

std::string dirName(const std::string& path);

}  // namespace h2k
