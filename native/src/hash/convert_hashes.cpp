#include "hash/convert_hashes.hpp"

#include <sys/stat.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "common/error.hpp"
#include "engine/content_observer.hpp"
#include "formats/image_reader.hpp"
#include "formats/ova/ova_open.hpp"
#include "hash/hash_job.hpp"
#include "hash/hasher.hpp"

namespace h2k {
namespace {

// How far (in file bytes) the source hasher may run ahead of the conversion's progress.
constexpr uint64_t kPaceWindow = 128ull << 20;

class ContentHashObserver : public ContentObserver {
 public:
  explicit ContentHashObserver(const std::vector<std::string>& algorithms) : hashes_(algorithms) {}

  void onContent(uint64_t offset, const uint8_t* data, size_t len) override {
    if (offset != next_)
      throw Error("E_INTERNAL", "content observer saw guest offset " + std::to_string(offset) + ", expected " +
                                    std::to_string(next_));
    if (data)
      hashes_.update(data, len);
    else
      hashes_.updateZeros(len);
    next_ += len;
  }

  std::map<std::string, std::string> digests() { return hashes_.digests(); }

 private:
  HashSet hashes_;
  uint64_t next_ = 0;
};

// The source file hashed on its own thread; reads wait until the conversion is close.
class SourceHasher {
 public:
  SourceHasher(std::string path, std::vector<std::string> algorithms, const std::atomic<bool>* cancel)
      : path_(std::move(path)), algorithms_(std::move(algorithms)), cancel_(cancel) {
    thread_ = std::thread([this] { run(); });
  }
  ~SourceHasher() {
    stop_.store(true);  // finish() was not reached: the conversion failed, abandon the hash
    release();
    if (thread_.joinable()) thread_.join();
  }
  SourceHasher(const SourceHasher&) = delete;
  SourceHasher& operator=(const SourceHasher&) = delete;

  // The conversion has done this fraction (0..1) of the guest range.
  void advance(double fraction) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fraction_ = fraction;
    }
    cv_.notify_all();
  }
  // Stop pacing (conversion finished or failed).
  void release() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      released_ = true;
    }
    cv_.notify_all();
  }
  // Waits for the hash; rethrows its error.
  std::map<std::string, std::string> finish() {
    release();
    if (thread_.joinable()) thread_.join();
    if (error_) std::rethrow_exception(error_);
    return digests_;
  }

 private:
  void run() {
    try {
      HashJobOptions options;
      options.beforeRead = [this](uint64_t offset, uint64_t len, uint64_t size) { pace(offset + len, size); };
      digests_ = hashFile(path_, algorithms_, options, nullptr, &stop_).digests;
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  // Blocks until reading up to `end` keeps within kPaceWindow of the conversion.
  void pace(uint64_t end, uint64_t size) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] {
      if (cancel_ && cancel_->load(std::memory_order_relaxed)) stop_.store(true);
      if (released_ || stop_.load()) return true;
      return static_cast<double>(end) <= fraction_ * static_cast<double>(size) + static_cast<double>(kPaceWindow);
    });
  }

  std::string path_;
  std::vector<std::string> algorithms_;
  const std::atomic<bool>* cancel_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  double fraction_ = 0;
  bool released_ = false;
  std::map<std::string, std::string> digests_;
  std::exception_ptr error_;
  std::thread thread_;
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
                                     const std::atomic<bool>* cancel) {
  if (request.hashAlgorithms.empty()) return convertImage(request, progress, cancel);
  ContentHashObserver content(request.hashAlgorithms);  // unknown algorithms fail here, before any work
  // The content is hashed by `content` below; the engine must not hash it a second time.
  ConvertRequest plain = request;
  plain.hashAlgorithms.clear();

  // A raw source file *is* the guest content, byte for byte: its file hash is the content
  // hash, so the one content pass yields both.
  std::string format = request.sourceFormat.empty() ? detectFormat(request.source) : request.sourceFormat;
  if (format == "raw" && sourceFilePath(request.source) == request.source) {
    ConvertHooks hooks;
    hooks.observers = {&content};
    ConvertResult result = convertImage(plain, progress, cancel, hooks);
    result.contentHashes = content.digests();
    result.sourceHashes = result.contentHashes;
    return result;
  }

  struct FinishSource : ContentObserver {
    SourceHasher& source;
    std::map<std::string, std::string> digests;
    explicit FinishSource(SourceHasher& s) : source(s) {}
    void onContent(uint64_t, const uint8_t*, size_t) override {}
    void onFinish() override { digests = source.finish(); }  // before the output is committed
  };

  SourceHasher source(sourceFilePath(request.source), request.hashAlgorithms, cancel);
  FinishSource finishSource(source);
  ConvertHooks hooks;
  hooks.observers = {&content, &finishSource};
  ProgressFn paced = [&](const ConvertProgress& p) {
    if (p.bytesTotal > 0) source.advance(static_cast<double>(p.bytesDone) / static_cast<double>(p.bytesTotal));
    if (progress) progress(p);
  };
  ConvertResult result = convertImage(plain, paced, cancel, hooks);
  result.contentHashes = content.digests();
  result.sourceHashes = finishSource.digests;
  return result;
}

}  // namespace h2k
