#include "hash/hash_job.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>

#include "common/error.hpp"
#include "hash/hasher.hpp"
#include "hash/read_ahead.hpp"
#include "io/file.hpp"

namespace h2k {
namespace {

using Clock = std::chrono::steady_clock;

// Zero runs are handed over in pieces so progress and cancellation stay responsive.
constexpr uint64_t kMaxZeroChunk = 64u << 20;

HashJobOptions clamp(const HashJobOptions& o) {
  HashJobOptions c = o;
  c.bufferSize = std::clamp<size_t>(o.bufferSize, 64u << 10, 64u << 20);
  c.bufferCount = std::clamp<size_t>(o.bufferCount, 2, 16);
  return c;
}

HashSet makeHashSet(const std::vector<std::string>& algorithms) {
  if (algorithms.empty())
    throw Error(codes::kInvalidArgument, "no hash algorithm given", {}, -1, "use md5, xxh3, xxh128 or sha256");
  return HashSet(algorithms);
}

// Drains the read-ahead into the hashers; progress at most every 100 ms, plus at the end.
HashJobResult consume(ReadAhead& input, HashSet& hashes, uint64_t total, const HashProgressFn& progress,
                      const std::atomic<bool>* cancel, Clock::time_point started) {
  HashJobResult result;
  Clock::time_point lastReport = started;
  ReadChunk chunk;
  while (input.next(chunk)) {
    if (cancel && cancel->load(std::memory_order_relaxed))
      throw Error(codes::kCancelled, "hashing cancelled");
    if (chunk.length) {
      hashes.update(chunk.data, chunk.length);
      result.bytesRead += chunk.length;
    } else {
      hashes.updateZeros(chunk.zeros);
    }
    if (progress) {
      Clock::time_point now = Clock::now();
      if (now - lastReport >= std::chrono::milliseconds(100)) {
        lastReport = now;
        progress({hashes.bytesHashed(), total});
      }
    }
  }
  result.bytes = hashes.bytesHashed();
  if (progress) progress({result.bytes, total ? total : result.bytes});
  result.digests = hashes.digests();
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return result;
}

// Sequential reads of a seekable file of known size, skipping holes the filesystem reports.
class SparseFileProducer {
 public:
  SparseFileProducer(const File& file, uint64_t size)
      : file_(file), size_(size) {}

  bool operator()(uint8_t* buf, size_t cap, ReadChunk& out) {
    if (offset_ >= size_) return false;
    if (offset_ >= dataEnd_) locateData();
    if (offset_ < dataStart_) {  // a hole up to the next data
      out.zeros = std::min(dataStart_ - offset_, kMaxZeroChunk);
      offset_ += out.zeros;
      return true;
    }
    size_t want = static_cast<size_t>(std::min<uint64_t>(cap, dataEnd_ - offset_));
    size_t got = file_.readSome(buf, want, offset_);
    if (got != want)
      throw Error(codes::kIo, "file shrank while being hashed: " + file_.path(), file_.path(),
                  static_cast<int64_t>(offset_ + got), "hash the file again once nothing writes to it");
    out.data = buf;
    out.length = got;
    offset_ += got;
    return true;
  }

 private:
  // Finds the data run at or after offset_: [dataStart_, dataEnd_). Without SEEK_DATA
  // support the whole rest of the file is one data run.
  void locateData() {
    off_t data = lseek(file_.fd(), static_cast<off_t>(offset_), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) {  // only a hole remains
        dataStart_ = dataEnd_ = size_;
        return;
      }
      dataStart_ = offset_;
      dataEnd_ = size_;
      return;
    }
    off_t hole = lseek(file_.fd(), data, SEEK_HOLE);
    dataStart_ = std::min<uint64_t>(static_cast<uint64_t>(data), size_);
    dataEnd_ = hole < 0 ? size_ : std::min<uint64_t>(static_cast<uint64_t>(hole), size_);
    if (dataEnd_ <= dataStart_) dataEnd_ = std::min<uint64_t>(dataStart_ + 1, size_);
    if (dataStart_ == size_) dataEnd_ = size_;
  }

  const File& file_;
  uint64_t size_;
  uint64_t offset_ = 0;
  uint64_t dataStart_ = 0;
  uint64_t dataEnd_ = 0;
};

// Pipes, FIFOs, sockets, character devices: read() until EOF.
class StreamProducer {
 public:
  StreamProducer(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

  bool operator()(uint8_t* buf, size_t cap, ReadChunk& out) {
    size_t got = 0;
    while (got < cap) {
      ssize_t n = ::read(fd_, buf + got, cap - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {  // a non-blocking stdin: wait for data
          struct pollfd p = {fd_, POLLIN, 0};
          ::poll(&p, 1, 1000);
          continue;
        }
        throwErrno(errno, "read failed on", name_, static_cast<int64_t>(offset_ + got));
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    if (got == 0) return false;
    out.data = buf;
    out.length = got;
    offset_ += got;
    return true;
  }

 private:
  int fd_;
  std::string name_;
  uint64_t offset_ = 0;
};

// Standard input ("-"), duplicated so closing it never closes the process's fd 0. Read
// directly: /dev/stdin cannot be reopened when it is a socket (as Node sets up for children).
class StdinFd {
 public:
  StdinFd() : fd_(::fcntl(0, F_DUPFD_CLOEXEC, 3)) {
    if (fd_ < 0) throwErrno(errno, "cannot read", "standard input");
  }
  ~StdinFd() { ::close(fd_); }
  StdinFd(const StdinFd&) = delete;
  StdinFd& operator=(const StdinFd&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Guest-visible bytes of an image in order. Block status is cached per run so long runs
// are queried once, however small the buffers. Bytes at or past `hashedLength` are not emitted;
// they must read as zeros (a format that rounds the size up), else E_VERIFY_FAILED.
class ContentProducer {
 public:
  ContentProducer(ImageReader& reader, uint64_t hashedLength)
      : reader_(reader), size_(reader.virtualSize()), limit_(std::min(hashedLength, size_)) {}

  bool operator()(uint8_t* buf, size_t cap, ReadChunk& out) {
    while (offset_ < size_) {
      if (runLeft_ == 0) {
        BlockStatus s = reader_.blockStatus(offset_, size_ - offset_);
        if (s.length == 0 || s.length > size_ - offset_)
          throw Error(codes::kCorrupt, "block status returned an invalid run length", {}, static_cast<int64_t>(offset_));
        runLeft_ = s.length;
        runKind_ = s.kind;
      }
      if (offset_ >= limit_) {
        checkZeroTail(buf, cap);
        continue;
      }
      const uint64_t left = std::min(runLeft_, limit_ - offset_);
      if (runKind_ != BlockKind::Data) {
        out.zeros = std::min(left, kMaxZeroChunk);
        advance(out.zeros);
        return true;
      }
      size_t n = static_cast<size_t>(std::min<uint64_t>(cap, left));
      reader_.read(offset_, buf, n);
      out.data = buf;
      out.length = n;
      advance(n);
      return true;
    }
    return false;
  }

 private:
  void advance(uint64_t n) {
    offset_ += n;
    runLeft_ -= n;
  }
  void checkZeroTail(uint8_t* buf, size_t cap) {
    if (runKind_ != BlockKind::Data) {
      advance(runLeft_);
      return;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(cap, runLeft_));
    reader_.read(offset_, buf, n);
    if (std::any_of(buf, buf + n, [](uint8_t b) { return b != 0; }))
      throw Error(codes::kVerifyFailed, "data past byte " + std::to_string(limit_) + ", the end of the content",
                  {}, static_cast<int64_t>(offset_), "this is an h2k bug; please report it");
    advance(n);
  }

  ImageReader& reader_;
  uint64_t size_;
  uint64_t limit_;
  uint64_t offset_ = 0;
  uint64_t runLeft_ = 0;
  BlockKind runKind_ = BlockKind::Data;
};

}  // namespace

HashJobResult hashFile(const std::string& path, const std::vector<std::string>& algorithms,
                       const HashJobOptions& options, const HashProgressFn& progress,
                       const std::atomic<bool>* cancel) {
  Clock::time_point started = Clock::now();
  HashSet hashes = makeHashSet(algorithms);
  HashJobOptions o = clamp(options);
  if (path == "-") {
    StdinFd in;
    StreamProducer producer(in.fd(), "standard input");
    ReadAhead input(std::ref(producer), o.bufferSize, o.bufferCount);
    return consume(input, hashes, 0, progress, cancel, started);
  }
  File file = File::open(path, File::Mode::Read);
  struct stat st;
  if (fstat(file.fd(), &st) != 0) throwErrno(errno, "cannot stat", path);
  bool seekable = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
  if (seekable) {
    uint64_t size = file.size();
    posix_fadvise(file.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
    SparseFileProducer producer(file, size);
    ReadAhead input(std::ref(producer), o.bufferSize, o.bufferCount);
    return consume(input, hashes, size, progress, cancel, started);
  }
  StreamProducer producer(file.fd(), path);
  ReadAhead input(std::ref(producer), o.bufferSize, o.bufferCount);
  return consume(input, hashes, 0, progress, cancel, started);
}

HashJobResult hashFiles(const std::vector<std::string>& paths, const std::vector<std::string>& algorithms,
                        const HashJobOptions& options, const HashProgressFn& progress,
                        const std::atomic<bool>* cancel) {
  if (paths.size() == 1) return hashFile(paths.front(), algorithms, options, progress, cancel);
  if (paths.empty()) throw Error(codes::kInvalidArgument, "no file to hash");
  Clock::time_point started = Clock::now();
  HashSet hashes = makeHashSet(algorithms);
  HashJobOptions o = clamp(options);
  // Every file is opened (and checked to be a regular file) before any is read.
  std::vector<File> files;
  std::vector<uint64_t> sizes;
  uint64_t total = 0;
  for (const std::string& path : paths) {
    File file = File::open(path, File::Mode::Read);
    struct stat st;
    if (fstat(file.fd(), &st) != 0) throwErrno(errno, "cannot stat", path);
    if (!S_ISREG(st.st_mode))
      throw Error(codes::kInvalidArgument, "not a regular file: " + path, path, -1,
                  "several files are hashed as one stream only when they are regular files");
    sizes.push_back(file.size());
    total += sizes.back();
    posix_fadvise(file.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
    files.push_back(std::move(file));
  }
  size_t current = 0;
  std::unique_ptr<SparseFileProducer> part = std::make_unique<SparseFileProducer>(files[0], sizes[0]);
  auto producer = [&](uint8_t* buf, size_t cap, ReadChunk& out) {
    for (;;) {
      if ((*part)(buf, cap, out)) return true;
      if (++current == files.size()) return false;
      part = std::make_unique<SparseFileProducer>(files[current], sizes[current]);
    }
  };
  ReadAhead input(std::ref(producer), o.bufferSize, o.bufferCount);
  return consume(input, hashes, total, progress, cancel, started);
}

namespace {

// Shared by hashContent and hashReaderContent; `started` is when the job began (before the
// image was opened, for hashContent).
HashJobResult hashOpenImage(ImageReader& reader, uint64_t hashedLength, HashSet& hashes, const HashJobOptions& options,
                            const HashProgressFn& progress, const std::atomic<bool>* cancel,
                            Clock::time_point started) {
  HashJobOptions o = clamp(options);
  ContentProducer producer(reader, hashedLength);
  ReadAhead input(std::ref(producer), o.bufferSize, o.bufferCount, o.readAheadThread);
  return consume(input, hashes, std::min(hashedLength, reader.virtualSize()), progress, cancel, started);
}

}  // namespace

HashJobResult hashContent(const std::string& path, const std::vector<std::string>& algorithms,
                          const OpenOptions& openOptions, const HashJobOptions& options,
                          const HashProgressFn& progress, const std::atomic<bool>* cancel) {
  Clock::time_point started = Clock::now();
  HashSet hashes = makeHashSet(algorithms);  // unknown algorithms fail before the image is opened
  std::unique_ptr<ImageReader> reader = openImage(path, openOptions);
  return hashOpenImage(*reader, UINT64_MAX, hashes, options, progress, cancel, started);
}

HashJobResult hashReaderContent(ImageReader& reader, uint64_t hashedLength, const std::vector<std::string>& algorithms,
                                const HashJobOptions& options, const HashProgressFn& progress,
                                const std::atomic<bool>* cancel) {
  Clock::time_point started = Clock::now();
  HashSet hashes = makeHashSet(algorithms);
  return hashOpenImage(reader, hashedLength, hashes, options, progress, cancel, started);
}

}  // namespace h2k
