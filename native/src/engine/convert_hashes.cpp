#include "engine/convert_hashes.hpp"

#include <sys/stat.h>

#include <memory>
#include <mutex>
#include <utility>

#include "common/error.hpp"
#include "engine/content_hash_observer.hpp"
#include "formats/image_reader.hpp"
#include "formats/ova/ova_open.hpp"
#include "hash/source_file_hasher.hpp"
#include "hash/hasher.hpp"

namespace h2k {
namespace {

// The digests of the algorithms the caller named (the content may carry extra ones).
std::map<std::string, std::string> onlyRequested(const std::map<std::string, std::string>& all,
                                                 const std::vector<std::string>& names) {
  std::map<std::string, std::string> out;
  for (const std::string& n : names) {
    const char* canonical = hashAlgorithmName(parseHashAlgorithm(n));
    if (auto it = all.find(canonical); it != all.end()) out[canonical] = it->second;
  }
  return out;
}

// One SourceFileHasher per distinct file the source opens, created as the reader opens them.
class SourceFileHashers {
 public:
  SourceFileHashers(std::vector<std::string> algorithms, const std::atomic<bool>* cancel)
      : algorithms_(std::move(algorithms)), cancel_(cancel) {}

  std::shared_ptr<ReadTap> tapFor(const File& file) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string& path = file.path();
    for (auto& [p, hasher] : hashers_)
      if (p == path) return hasher;  // two extents in one file share its hash
    hashers_.emplace_back(path, std::make_shared<SourceFileHasher>(file, algorithms_, cancel_));
    return hashers_.back().second;
  }

  void armAll() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& h : hashers_) h.second->arm();
  }

  std::vector<SourceFileHashes> finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<SourceFileHashes> out;
    for (auto& [path, hasher] : hashers_) out.push_back({path, hasher->finish(), hasher->stats().readAgain});
    return out;
  }

 private:
  std::vector<std::string> algorithms_;
  const std::atomic<bool>* cancel_;
  std::mutex mutex_;
  std::vector<std::pair<std::string, std::shared_ptr<SourceFileHasher>>> hashers_;
};

// "disk.ova/disk1.vmdk" names a member; its source bytes are the archive's.
std::string sourceFilePath(const std::string& source) {
  struct stat st;
  if (::stat(source.c_str(), &st) == 0) return source;
  std::string archive, member;
  if (splitArchivePath(source, &archive, &member)) return archive;
  return source;
}

}  // namespace

ConvertResult convertImageWithHashes(const ConvertRequest& request, const ProgressFn& progress,
                                     const std::atomic<bool>* cancel, const std::vector<std::string>& extraContentHashes) {
  if (request.hashAlgorithms.empty() && extraContentHashes.empty()) return convertImage(request, progress, cancel);
  std::vector<std::string> contentAlgorithms = request.hashAlgorithms;
  contentAlgorithms.insert(contentAlgorithms.end(), extraContentHashes.begin(), extraContentHashes.end());
  ContentHashObserver content(contentAlgorithms);  // unknown algorithms fail here, before any work
  // The content is hashed by `content` below; the engine must not hash it a second time.
  ConvertRequest plain = request;
  plain.hashAlgorithms.clear();

  // A raw source file *is* the guest content, byte for byte: its file hash is the content
  // hash, so the one content pass yields both.
  OpenOptions probe;
  probe.format = request.sourceFormat;
  probe.sourceRoot = request.sourceRoot;
  std::string format = detectSourceFormat(request.source, probe);
  const bool sourceIsContent = format == "raw" && sourceFilePath(request.source) == request.source;
  if (sourceIsContent || request.hashAlgorithms.empty()) {
    ConvertHooks hooks;
    hooks.observers = {&content};
    ConvertResult result = convertImage(plain, progress, cancel, hooks);
    result.contentHashes = content.digests();
    if (!request.hashAlgorithms.empty()) {
      result.sourceHashes = onlyRequested(result.contentHashes, request.hashAlgorithms);
      result.sourceFiles = {{request.source, result.sourceHashes, 0}};
    }
    return result;
  }

  // Every file of the source (the file named; VMDK extent files) is hashed from the
  // conversion's own reads of it (a read tap), and read a second time only where the
  // conversion skips or jumps back.
  SourceFileHashers files(request.hashAlgorithms, cancel);
  struct FinishSources : ContentObserver {
    SourceFileHashers& files;
    std::vector<SourceFileHashes> results;
    explicit FinishSources(SourceFileHashers& f) : files(f) {}
    void onContent(uint64_t, const uint8_t*, size_t) override {}
    void onStart() override { files.armAll(); }
    void onFinish() override { results = files.finish(); }  // before the output is committed
    bool onReaderThread() const override { return true; }   // no per-chunk work
  };
  FinishSources finishSources(files);
  ConvertHooks hooks;
  hooks.observers = {&content, &finishSources};
  hooks.sourceFileTaps = [&files](const File& file) { return files.tapFor(file); };
  ConvertResult result = convertImage(plain, progress, cancel, hooks);
  result.contentHashes = content.digests();
  result.sourceFiles = std::move(finishSources.results);
  if (result.sourceFiles.empty())
    throw Error("E_INTERNAL", "no source file was opened through the hash taps", request.source);
  result.sourceHashes = result.sourceFiles.front().hashes;
  for (const auto& f : result.sourceFiles) result.sourceBytesReread += f.bytesReread;
  return result;
}

}  // namespace h2k
