#include "formats/ova/ova_open.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "formats/format_registry.hpp"
#include "formats/ova/gzip_view.hpp"
#include "formats/ova/manifest.hpp"
#include "formats/ova/ovf_guard.hpp"
#include "hash/hasher.hpp"
#include "hash/source_file_hasher.hpp"
#include "io/byte_view.hpp"

namespace h2k {

namespace {

// Adds the archive context (member, digest check) to info() of the disk inside.
// The disk member's .mf digest computed from the conversion's own reads of the member (a tap
// on its view; the rest read behind it) and compared once the conversion has read it all.
class DeferredDigest {
 public:
  DeferredDigest(const File& archive, const TarMember& member, const ManifestEntry& expected)
      : member_(member), expected_(expected), archivePath_(archive.path()),
        hasher_(std::make_shared<SourceFileHasher>(archive, std::vector<std::string>{expected.algorithm}, nullptr,
                                                   member.offset, member.size)) {}
  std::shared_ptr<ReadTap> tap() const { return hasher_; }
  void arm() { hasher_->arm(); }
  // Finishes the digest on the first call (a hasher finishes once); later calls repeat the verdict.
  void check() {
    if (actual_.empty()) actual_ = hasher_->finish().at(hashAlgorithmName(parseHashAlgorithm(expected_.algorithm)));
    const std::string& actual = actual_;
    if (actual != expected_.hex)
      throw Error(ova::kDigestMismatch,
                  expected_.algorithm + " of " + member_.name + " in " + archivePath_ + " is " + actual +
                      " but the manifest says " + expected_.hex,
                  archivePath_, static_cast<int64_t>(member_.offset),
                  "the archive was modified or damaged in transit; re-download or re-export it");
  }

 private:
  TarMember member_;
  ManifestEntry expected_;
  std::string archivePath_;
  std::shared_ptr<SourceFileHasher> hasher_;
  std::string actual_;
};

class OvaDiskReader : public ImageReader {
 public:
  OvaDiskReader(std::unique_ptr<ImageReader> inner, std::map<std::string, std::string> props,
                std::vector<std::string> warnings, uint64_t archiveBytes, std::string archivePath,
                std::unique_ptr<DeferredDigest> deferred)
      : inner_(std::move(inner)), props_(std::move(props)), warnings_(std::move(warnings)),
        archiveBytes_(archiveBytes), archivePath_(std::move(archivePath)), deferred_(std::move(deferred)) {}
  void finalCheck() override {
    inner_->finalCheck();
    if (deferred_) deferred_->check();
  }
  uint64_t virtualSize() const override { return inner_->virtualSize(); }
  BlockStatus blockStatus(uint64_t offset, uint64_t maxLen) override {
    armDeferred();
    return inner_->blockStatus(offset, maxLen);
  }
  void read(uint64_t offset, uint8_t* buf, size_t len) override {
    armDeferred();
    inner_->read(offset, buf, len);
  }
  ImageInfo info() override {
    ImageInfo i = inner_->info();
    i.properties["innerFormat"] = i.format;
    if (!i.subformat.empty()) i.properties["innerSubformat"] = i.subformat;
    i.format = "ova";  // the disk inside: innerFormat[/innerSubformat]
    i.subformat = i.properties["innerFormat"] + (i.properties.count("innerSubformat") ? "/" + i.properties["innerSubformat"] : "");
    i.fileBytes = archiveBytes_;
    i.files = {archivePath_};
    for (auto& kv : props_) i.properties[kv.first] = kv.second;
    i.warnings.insert(i.warnings.end(), warnings_.begin(), warnings_.end());
    return i;
  }

 private:
  std::unique_ptr<ImageReader> inner_;
  std::map<std::string, std::string> props_;
  std::vector<std::string> warnings_;
  uint64_t archiveBytes_;
  std::string archivePath_;
  std::unique_ptr<DeferredDigest> deferred_;
  std::atomic<bool> armed_{false};

  // The first guest access after open starts the digest's pacing (see SourceFileHasher::arm).
  void armDeferred() {
    if (deferred_ && !armed_.exchange(true)) deferred_->arm();
  }
};

bool isGzip(const ByteView& v) {
  if (v.size() < 18) return false;
  uint8_t m[2];
  v.readExact(m, 2, 0);
  return m[0] == 0x1f && m[1] == 0x8b;
}

bool endsWith(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && std::equal(s.end() - n, s.end(), suffix, [](char a, char b) { return std::tolower(a) == b; });
}

// A member taken as a raw disk when its content matches no disk format: one named so (.img/.raw,
// gzipped too). Any other such member is not a disk, whatever size it inflates to — `convert`
// (first disk) and `ovf` (member by name) must agree on that.
bool rawByName(const std::string& name) {
  std::string n = endsWith(name, ".gz") ? name.substr(0, name.size() - 3) : name;
  return endsWith(n, ".img") || endsWith(n, ".raw");
}

std::string contentFormat(const ByteView& v) {
  const Format* f = probeFormat(v);
  return f ? f->name : "raw";
}

struct Archive {
  std::shared_ptr<const ByteView> view;
  std::vector<TarMember> members;
};

Archive openArchive(File file, std::shared_ptr<ReadTap> tap = nullptr) {
  Archive a;
  a.view = std::make_shared<FileView>(std::move(file), std::move(tap));
  a.members = listTarMembers(*a.view);
  return a;
}

// The member view: in place, or inflated on the fly for gzip.
std::shared_ptr<const ByteView> memberView(const Archive& a, const TarMember& m, const std::string& archivePath,
                                           std::shared_ptr<ReadTap> tap = nullptr) {
  std::string name = archivePath + "/" + m.name;
  auto sub = std::make_shared<SubFileView>(a.view, m.offset, m.size, name, std::move(tap));
  if (isGzip(*sub)) return std::make_shared<GzipView>(sub, name);
  return sub;
}

const TarMember& findDisk(const Archive& a, const std::string& archivePath, const std::string& member) {
  if (!member.empty()) {
    for (const auto& m : a.members)
      if (m.name == member) return m;
    throw Error(ova::kNoMember, "no member '" + member + "' in " + archivePath, archivePath, -1,
                "list the archive with `tar tf` and name one of its disks");
  }
  for (const auto& m : a.members) {
    if (endsWith(m.name, ".ovf") || endsWith(m.name, ".mf") || endsWith(m.name, ".cert") || m.size == 0) continue;
    if (contentFormat(*memberView(a, m, archivePath)) != "raw" || rawByName(m.name)) return m;
  }
  throw Error(ova::kNoDisk, archivePath + " holds no disk image", archivePath, -1,
              "the OVA must contain at least one disk (VMDK, VHD, VHDX, VDI, qcow2 or raw)");
}

}  // namespace

bool splitArchivePath(const std::string& path, std::string* archive, std::string* member) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return false;
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    std::string prefix = path.substr(0, pos);
    if (::stat(prefix.c_str(), &st) != 0) return false;
    if (!S_ISREG(st.st_mode)) continue;
    File f = File::open(prefix);
    uint8_t head[512] = {0};
    if (f.readSome(head, sizeof head, 0) < 263 || !probeTar(head, sizeof head)) return false;
    *archive = prefix;
    *member = path.substr(pos + 1);
    return !member->empty();
  }
  return false;
}

std::string detectOvaMemberFormat(const std::string& archivePath, const std::string& member) {
  Archive a = openArchive(File::open(archivePath));
  return contentFormat(*memberView(a, findDisk(a, archivePath, member), archivePath));
}

std::unique_ptr<ImageReader> openOvaDisk(const std::string& archivePath, const std::string& member,
                                         const OpenOptions& options) {
  return openOvaDisk(File::open(archivePath), member, options);
}

std::unique_ptr<ImageReader> openOvaDisk(File archive, const std::string& member, const OpenOptions& options) {
  const std::string archivePath = archive.path();
  auto archiveTap = sourceTapFor(options, archive);
  File digestHandle = archive.reopen();  // a deferred .mf digest reads behind the conversion
  Archive a = openArchive(std::move(archive), std::move(archiveTap));
  // A hostile descriptor fails every command, not only those that parse it (h2k ovf).
  for (const auto& m : a.members)
    if (endsWith(m.name, ".ovf")) checkOvfDescriptor(*a.view, m, archivePath);
  const TarMember& disk = findDisk(a, archivePath, member);
  std::map<std::string, std::string> props{{"member", disk.name}};
  std::vector<std::string> warnings;
  std::unique_ptr<DeferredDigest> deferred;
  // Verify the manifest digests of the descriptor and (unless deferred) of the disk first.
  const TarMember* mfMember = nullptr;
  for (const auto& m : a.members)
    if (endsWith(m.name, ".mf")) mfMember = &m;
  if (mfMember) {
    if (mfMember->size > (1 << 20))
      throw Error(ova::kBadManifest, "manifest " + mfMember->name + " is larger than 1 MiB", archivePath,
                  static_cast<int64_t>(mfMember->offset), "the archive is damaged");
    std::string text(mfMember->size, '\0');
    a.view->readExact(text.data(), text.size(), mfMember->offset);
    auto mf = parseManifest(text, archivePath + "/" + mfMember->name);
    for (const auto& m : a.members)
      if (endsWith(m.name, ".ovf")) verifyMember(*a.view, m, mf);
    if (!mf.count(disk.name))
      throw Error(ova::kBadManifest, "manifest " + mfMember->name + " does not list " + disk.name, archivePath, -1,
                  "the archive's manifest is incomplete; re-export the OVA");
    props["manifest"] = mfMember->name;
    if (options.deferDigestChecks) {
      deferred = std::make_unique<DeferredDigest>(digestHandle, disk, mf.at(disk.name));
      props["digest"] = mf.at(disk.name).algorithm + " checked while reading";
    } else {
      verifyMember(*a.view, disk, mf);
      props["digest"] = mf.at(disk.name).algorithm + " verified";
    }
  } else {
    warnings.push_back("the OVA has no manifest (.mf): the disk's integrity was not verified");
  }
  auto view = memberView(a, disk, archivePath, deferred ? deferred->tap() : nullptr);
  if (dynamic_cast<const GzipView*>(view.get())) props["memberCompression"] = "gzip";
  bool byContent = options.format.empty() || options.format == "ova";
  std::string format = byContent ? contentFormat(*view) : options.format;
  if (byContent && format == "raw" && !rawByName(disk.name))
    throw Error(ova::kNoDisk,
                archivePath + "/" + disk.name + " is not a disk image: its content" +
                    (props.count("memberCompression") ? " (gunzipped, " + std::to_string(view->size()) + " bytes)" : "") +
                    " matches no disk format h2k reads, and only a member named .img or .raw is read as a raw disk",
                archivePath, static_cast<int64_t>(disk.offset),
                "the archive's disk is damaged or is not a disk; re-export the VM (VMDK, VHD, VHDX, VDI, qcow2, or raw "
                "named .img/.raw) — or, if you know the member is a raw disk, `h2k convert <ova>/<member> -f raw`");
  const Format* reader = findFormat(format);
  if (!reader || !reader->openView)
    throw Error(codes::kUnknownFormat, "unsupported disk format '" + format + "' for " + view->name(), archivePath, -1,
                "supported formats inside an OVA: " + formatNames(isMemberReadable));
  std::unique_ptr<ImageReader> inner = reader->openView(view, options);
  return std::make_unique<OvaDiskReader>(std::move(inner), std::move(props), std::move(warnings), a.view->size(),
                                         archivePath, std::move(deferred));
}

}  // namespace h2k
