// Opening the parent (backing file) of a differencing image: the name found in the child's
// metadata goes through the same path guard as VMDK extents, the chain depth is capped and
// a loop (an image that is its own ancestor) is refused.
#pragma once
#include <memory>
#include <string>

#include "formats/image_reader.hpp"

namespace h2k {

inline constexpr size_t kMaxChainDepth = 16;

// Resolves `parentName` relative to `childDir` (path guard), checks depth and loops, and
// opens it with openImage (format forced when `parentFormat` is not empty).
std::unique_ptr<ImageReader> openParentImage(const std::string& childName, const std::string& childDir,
                                             const std::string& parentName, const std::string& parentFormat,
                                             const OpenOptions& childOptions);

}  // namespace h2k
