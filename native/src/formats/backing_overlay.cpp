#include "formats/backing_overlay.hpp"

#include <algorithm>
#include <cstring>

#include "common/error.hpp"
#include "common/path_guard.hpp"
#include "formats/parent_chain.hpp"

namespace h2k {

namespace {
constexpr const char* kBadParent = "E_VMDK_BAD_PARENT";  // parent missing, unnamed or with another CID

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
}  // namespace

BackingOverlay::BackingOverlay(std::unique_ptr<ImageReader> child, std::unique_ptr<ImageReader> parent,
                               std::string parentPath)
    : child_(std::move(child)), parent_(std::move(parent)), parentPath_(std::move(parentPath)) {}

BlockStatus BackingOverlay::blockStatus(uint64_t offset, uint64_t maxLen) {
  BlockStatus s = child_->blockStatus(offset, maxLen);
  if (s.kind != BlockKind::Hole) return s;
  if (offset >= parent_->virtualSize()) return s;
  BlockStatus p = parent_->blockStatus(offset, std::min(s.length, parent_->virtualSize() - offset));
  return {offset, p.length, p.kind};
}

void BackingOverlay::read(uint64_t offset, uint8_t* buf, size_t len) {
  while (len > 0) {
    BlockStatus s = child_->blockStatus(offset, len);
    size_t n = static_cast<size_t>(std::min<uint64_t>(s.length, len));
    if (s.kind != BlockKind::Hole) {
      child_->read(offset, buf, n);
    } else {
      uint64_t fromParent = offset < parent_->virtualSize() ? std::min<uint64_t>(n, parent_->virtualSize() - offset) : 0;
      if (fromParent) parent_->read(offset, buf, fromParent);
      std::memset(buf + fromParent, 0, n - fromParent);
    }
    buf += n;
    offset += n;
    len -= n;
  }
}

ImageInfo BackingOverlay::info() {
  ImageInfo i = child_->info();
  ImageInfo p = parent_->info();
  i.files.insert(i.files.end(), p.files.begin(), p.files.end());
  i.fileBytes += p.fileBytes;
  i.properties["parent"] = parentPath_;
  i.allocatedBytes = 0;
  for (uint64_t off = 0; off < virtualSize();) {
    BlockStatus s = blockStatus(off, virtualSize() - off);
    if (s.kind == BlockKind::Data) i.allocatedBytes += s.length;
    off += s.length;
  }
  return i;
}

std::unique_ptr<ImageReader> withVmdkParent(std::unique_ptr<ImageReader> child, bool isDelta,
                                            const std::string& hint, const std::string& parentCid,
                                            const std::string& path, const OpenOptions& options) {
  if (!isDelta) return child;
  if (hint.empty())
    throw Error(kBadParent, path + " is a delta disk (parentCID " + parentCid + ") but names no parentFileNameHint",
                path, -1, "the descriptor is incomplete; open the chain from a descriptor that names its parent");
  std::string parentPath = referencedPath(dirName(path), hint);
  std::unique_ptr<ImageReader> parent;
  try {
    parent = openParentImage(path, dirName(path), hint, "", options);
  } catch (const Error& e) {
    if (e.code() != codes::kNotFound) throw;
    throw Error(kBadParent, "parent '" + hint + "' of delta disk " + path + " not found (" + parentPath + ")", path, -1,
                "copy the whole snapshot chain (base disk and every delta) into one directory");
  }
  auto props = parent->info().properties;
  auto it = props.find("cid");
  if (it != props.end() && lower(it->second) != lower(parentCid))
    throw Error(kBadParent, "stale snapshot chain: " + path + " expects parent CID " + parentCid + " but " + parentPath +
                    " has CID " + it->second, path, -1,
                "the parent was modified after the snapshot was taken; use the matching parent or consolidate in VMware");
  return std::make_unique<BackingOverlay>(std::move(child), std::move(parent), parentPath);
}

}  // namespace h2k
