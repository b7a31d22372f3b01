#include "formats/parent_chain.hpp"

#include <sys/stat.h>

#include "common/error.hpp"
#include "common/path_guard.hpp"

namespace h2k {

// Which file an image is, whatever name reached it: loops are found by device and inode.
static std::string fileKey(const File& f) {
  struct stat st;
  if (::fstat(f.fd(), &st) != 0) return f.path();
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

static std::string fileKey(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return path;  // an archive member ("x.ova/disk.vhd"): no file of its own
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

std::unique_ptr<ImageReader> openParentImage(const std::string& childName, const std::string& childDir,
                                             const std::string& parentName, const std::string& parentFormat,
                                             const OpenOptions& childOptions) {
  if (childDir.empty())
    throw Error(codes::kUnsupported, childName + " is a differencing image whose parent '" + parentName +
                    "' cannot be located from inside an archive", childName, -1,
                "extract the chain next to its parent or convert the parent-merged disk");
  File parent = openReferencedFile(childDir, parentName, childOptions.allowExternalPaths, childName);
  OpenOptions opts = childOptions;
  opts.format = parentFormat;
  opts.sourceRoot.clear();
  opts.sourceFileTaps = nullptr;  // taps see the top-level image's own files only
  if (opts.openChain.size() + 1 >= kMaxChainDepth)
    throw Error(codes::kTooLarge, "parent chain of " + childName + " is deeper than " +
                    std::to_string(kMaxChainDepth) + " images", childName, -1,
                "commit (merge) some snapshots before converting");
  std::string key = fileKey(parent);
  if (opts.openChain.empty()) opts.openChain.push_back(fileKey(childName));
  for (const auto& seen : opts.openChain)
    if (seen == key)
      throw Error(codes::kCorrupt, "parent chain loops: " + parent.path() + " is its own ancestor (from " + childName + ")",
                  childName, -1, "the snapshot chain is corrupt; fix the parent reference");
  opts.openChain.push_back(key);
  return openImage(std::move(parent), opts);
}

}  // namespace h2k
