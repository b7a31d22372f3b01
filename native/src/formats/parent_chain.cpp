#include "formats/parent_chain.hpp"

#include <climits>
#include <cstdlib>

#include "common/error.hpp"
#include "common/path_guard.hpp"

namespace h2k {

static std::string canonical(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : p;
}

std::unique_ptr<ImageReader> openParentImage(const std::string& childName, const std::string& childDir,
                                             const std::string& parentName, const std::string& parentFormat,
                                             const OpenOptions& childOptions) {
  if (childDir.empty())
    throw Error(codes::kUnsupported, childName + " is a differencing image whose parent '" + parentName +
                    "' cannot be located from inside an archive", childName, -1,
                "extract the chain next to its parent or convert the parent-merged disk");
  std::string path = resolveImagePath(childDir, parentName, childOptions.allowExternalPaths, childName);
  OpenOptions opts = childOptions;
  opts.format = parentFormat;
  opts.sourceFileTaps = nullptr;  // taps see the top-level image's own files only
  if (opts.openChain.size() + 1 >= kMaxChainDepth)
    throw Error(codes::kTooLarge, "parent chain of " + childName + " is deeper than " +
                    std::to_string(kMaxChainDepth) + " images", childName, -1,
                "commit (merge) some snapshots before converting");
  std::string key = canonical(path);
  std::string childKey = canonical(childName);
  if (opts.openChain.empty()) opts.openChain.push_back(childKey);
  for (const auto& seen : opts.openChain)
    if (seen == key)
      throw Error(codes::kCorrupt, "parent chain loops: " + path + " is its own ancestor (from " + childName + ")",
                  childName, -1, "the snapshot chain is corrupt; fix the parent reference");
  opts.openChain.push_back(key);
  return openImage(path, opts);
}

}  // namespace h2k
