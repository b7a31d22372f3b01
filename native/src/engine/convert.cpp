// convertImage: validate -> open source -> <output>.partial -> pipeline -> writer.finish
// -> rename. See pipeline.hpp for the threads and formats/qcow2/qcow2_writer.hpp for the
// output layout.
#include "engine/convert.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "codec/cluster_codec.hpp"
#include "common/error.hpp"
#include "engine/chunk_source.hpp"
#include "engine/content_observer.hpp"
#include "engine/observer_thread.hpp"
#include "engine/partial_output.hpp"
#include "engine/pipeline.hpp"
#include "formats/format_registry.hpp"
#include "hash/hasher.hpp"

namespace h2k {
namespace {

using Clock = std::chrono::steady_clock;

// Chunk = unit of reading and of work for one thread. 1 MiB for plain output too: with 4 MiB
// chunks a monolithicSparse -> qcow2 conversion took twice the CPU (0.45 vs 0.22 s for 1 GiB,
// 400 MiB allocated) -- first-touch page faults of the bigger pool and cache misses between
// read, zero scan and write. The chunks in flight stay under ~100 MiB either way.
constexpr uint64_t kPlainChunkBytes = 1ULL << 20;
constexpr uint64_t kCompressedChunkBytes = 1ULL << 20;
constexpr uint64_t kInflightBudget = 48ULL << 20;  // bytes of chunk buffers in flight
constexpr int kMaxThreads = 64;
constexpr auto kProgressInterval = std::chrono::milliseconds(100);
// Start writeback of the output every this many bytes read, so the final fsync has little
// left to do and disk writes overlap the conversion instead of following it.
constexpr uint64_t kWritebackEvery = 64ULL << 20;
// Written chunks that may wait for the observer thread (bounded memory: a few chunks).
constexpr size_t kObserverQueue = 4;

bool allZero(const uint8_t* p, size_t n) {
  // Word-at-a-time scan; n is a multiple of 512 here.
  const uint8_t* end = p + n;
  for (; p + 64 <= end; p += 64) {
    uint64_t w[8];
    std::memcpy(w, p, 64);
    if ((w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) != 0) return false;
  }
  for (; p < end; ++p)
    if (*p) return false;
  return true;
}

// Worker-side classification of every cluster of a chunk.
class ChunkWorker {
 public:
  ChunkWorker(uint32_t clusterSize, Compression compression, bool xxh3Sums)
      : cs_(clusterSize), compressor_(makeCompressor(compression)), xxh3Sums_(xxh3Sums) {}

  void operator()(Chunk& c) {
    c.hasXxh3Sums = false;
    if (c.zero) return;
    if (xxh3Sums_) sumForXxh3(c);
    size_t n = c.bufLength / cs_;
    c.clusters.assign(n, ClusterOut{});
    if (compressor_ && c.packed.size() < c.bufLength) c.packed.resize(c.buf.size());  // once, like buf
    size_t packedPos = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* in = c.buf.data() + i * cs_;
      ClusterOut& out = c.clusters[i];
      if (allZero(in, cs_)) continue;  // stays unallocated: a new image reads zero there
      out.fate = ClusterFate::Plain;
      if (!compressor_) continue;
      // Keep compressed data only if it saves at least a byte (qemu's rule: <= cs - 1).
      size_t len = compressor_->compress(in, cs_, c.packed.data() + packedPos, cs_ - 1);
      if (len == 0) continue;
      out.fate = ClusterFate::Compressed;
      out.packedOffset = static_cast<uint32_t>(packedPos);
      out.packedLength = static_cast<uint32_t>(len);
      packedPos += len;
    }
  }

 private:
  // The additive part of the content's XXH3, here on a worker, so the writer thread only folds
  // it in. KiB-aligned chunks only (every chunk but an odd-sized disk's last); others are hashed
  // the plain way.
  static void sumForXxh3(Chunk& c) {
    if (c.guestLength % kXxh3SumBlockBytes != 0 || c.offset % kXxh3SumBlockBytes != 0) return;
    const size_t blocks = static_cast<size_t>(c.guestLength / kXxh3SumBlockBytes);
    const size_t words = std::max(blocks, c.buf.size() / kXxh3SumBlockBytes) * kXxh3SumWords;
    if (c.xxh3Sums.size() < blocks * kXxh3SumWords) c.xxh3Sums.resize(words);  // once, like buf
    xxh3BlockSums(c.buf.data(), blocks, c.xxh3Sums.data());
    c.hasXxh3Sums = true;
  }

  uint32_t cs_;
  std::shared_ptr<ClusterCompressor> compressor_;
  bool xxh3Sums_;
};

// Shows a source-file read put off by ChunkSource to its tap, with the chunk's block sums for
// those bytes when the read starts on a KiB of the chunk and lies within the summed part.
void showDeferredRead(const Chunk& c, const DeferredTapRead& r) {
  const uint64_t* sums = nullptr;
  if (c.hasXxh3Sums && r.bufferPos % kXxh3SumBlockBytes == 0 && r.bufferPos + r.length <= c.guestLength)
    sums = c.xxh3Sums.data() + r.bufferPos / kXxh3SumBlockBytes * kXxh3SumWords;
  r.tap->onReadPresummed(r.offset, c.buf.data() + r.bufferPos, r.length, sums);
}

struct Totals {
  uint64_t dataBytes = 0;
  uint64_t zeroBytes = 0;
  uint64_t clustersWritten = 0;
  uint64_t clustersCompressed = 0;
};

// Writer side: hands one chunk's clusters to the ImageWriter in guest order, merging runs
// of plain clusters into one write.
void writeChunk(const Chunk& c, ImageWriter& w, uint64_t virtualSize, Totals& t) {
  t.dataBytes += c.dataBytes;
  if (c.zero) {
    t.zeroBytes += c.guestLength;
    return;
  }
  const uint64_t cs = w.clusterSize();
  size_t n = c.clusters.size();
  for (size_t i = 0; i < n;) {
    const ClusterOut& out = c.clusters[i];
    uint64_t guest = c.offset + i * cs;
    if (out.fate == ClusterFate::Zero) {
      t.zeroBytes += std::min<uint64_t>(cs, virtualSize - guest);
      ++i;
    } else if (out.fate == ClusterFate::Compressed) {
      w.writeCompressed(guest, c.packed.data() + out.packedOffset, out.packedLength);
      ++t.clustersWritten;
      ++t.clustersCompressed;
      ++i;
    } else {
      size_t j = i;
      while (j < n && c.clusters[j].fate == ClusterFate::Plain) ++j;
      w.writeData(guest, c.buf.data() + i * cs, (j - i) * cs);
      t.clustersWritten += j - i;
      i = j;
    }
  }
}

void validateRequest(const ConvertRequest& r, Compression comp) {
  if (r.source.empty() || r.output.empty())
    throw Error(codes::kInvalidArgument, "source and output paths are required", {}, -1, "pass both paths");
  const Format* format = findFormat(r.outputFormat);
  if (!format || !format->makeWriter || format->name != r.outputFormat)
    throw Error(codes::kInvalidArgument, "unsupported output format '" + r.outputFormat + "'", r.output, -1,
                "use " + formatNames(isWritable));
  if (!format->compressible && comp != Compression::None)
    throw Error(codes::kInvalidArgument, r.outputFormat + " output cannot be compressed", r.output, -1,
                "use --compression none, or qcow2 output");
  uint32_t cs = r.clusterSize;
  if (r.outputFormat == "qcow2" && (cs < 512 || cs > (2u << 20) || (cs & (cs - 1)) != 0))
    throw Error(codes::kInvalidArgument, "qcow2 cluster size must be a power of two from 512 to 2097152, got " +
                std::to_string(cs), r.output, -1, "use e.g. 65536 (the default)");
  if (r.threads < 0)
    throw Error(codes::kInvalidArgument, "threads must be >= 0", {}, -1, "0 means one per CPU core");
  if (r.cache != "none" && r.cache != "writeback")
    throw Error(codes::kInvalidArgument, "unsupported cache mode '" + r.cache + "'", r.output, -1,
                "use none (O_DIRECT where the file system allows it) or writeback (the page cache)");
}

void refuseSameFile(const std::string& source, const std::string& output) {
  struct stat a, b;
  if (::stat(source.c_str(), &a) == 0 && ::stat(output.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
      a.st_ino == b.st_ino)
    throw Error(codes::kInvalidArgument, "output is the source file: " + output, output, -1,
                "choose a different output path");
}

// A source that fails to parse mid-read may simply have been damaged in transit: when the
// reader deferred an integrity check (an OVA's .mf digest), finishing it names the real cause.
// Call only from a catch block.
[[noreturn]] void rethrowWithIntegrityCause(ImageReader& reader) {
  try {
    throw;
  } catch (const Error& e) {
    const std::string code = e.code();
    if (codes::isAboutTheSource(code)) {
      try {
        reader.finalCheck();
      } catch (const Error& integrity) {
        if (integrity.code() != code) throw integrity;
      } catch (...) {
        // the original error stands
      }
    }
    throw;
  }
}

}  // namespace

ConvertResult convertImage(const ConvertRequest& request, const ProgressFn& progress,
                           const std::atomic<bool>* cancel) {
  return convertImage(request, progress, cancel, ConvertHooks{});
}

ConvertResult convertImage(const ConvertRequest& request, const ProgressFn& progress,
                           const std::atomic<bool>* cancel, const ConvertHooks& callerHooks) {
  const auto started = Clock::now();
  Compression comp = parseCompression(request.compression);
  validateRequest(request, comp);
  // Hashes are the callers' observers (convertImageWithHashes, engine/convert_hashes.hpp): one route.
  if (!request.hashAlgorithms.empty())
    throw Error("E_INTERNAL", "convertImage does not hash; call convertImageWithHashes for request.hashAlgorithms");
  const ConvertHooks& hooks = callerHooks;
  checkOutputAvailable(request.output, request.force);

  OpenOptions opts;
  opts.allowExternalPaths = request.allowExternalPaths;
  opts.format = request.sourceFormat;
  opts.sourceFileTaps = hooks.sourceFileTaps;
  opts.deferDigestChecks = true;  // the whole disk is read below; finalCheck() before commit
  opts.sourceRoot = request.sourceRoot;
  std::string format = detectSourceFormat(request.source, opts);
  std::unique_ptr<ImageReader> reader = openImage(request.source, opts);
  refuseSameFile(request.source, request.output);

  ConvertResult result;
  result.output = request.output;
  result.sourceFormat = format;
  // Raw has no subformat; skip info() there since it walks the whole block status.
  if (format != "raw") result.sourceSubformat = reader->info().subformat;
  result.outputFormat = request.outputFormat;
  result.compression = compressionName(comp);
  result.virtualSize = reader->virtualSize();
  const uint64_t size = result.virtualSize;

  auto cancelled = [&] { return cancel && cancel->load(std::memory_order_relaxed); };
  auto throwIfCancelled = [&] {
    if (cancelled())
      throw Error(codes::kCancelled, "conversion cancelled", request.output, -1, "run it again to restart");
  };
  throwIfCancelled();

  PartialOutput out(request.output);
  std::unique_ptr<ImageWriter> writer =
      findFormat(request.outputFormat)->makeWriter(out.file(), size, {request.clusterSize, comp, request.output, request.cache == "none"});

  int hw = static_cast<int>(std::thread::hardware_concurrency());
  int threads = request.threads > 0 ? request.threads : std::max(1, hw);
  threads = std::min(threads, kMaxThreads);
  // Without compression the workers only look for zero clusters; two are plenty.
  size_t workers = comp == Compression::None ? static_cast<size_t>(std::min(threads, 2)) : static_cast<size_t>(threads);
  const uint32_t cs = writer->clusterSize();
  uint64_t chunkBytes =
      std::max<uint64_t>(comp == Compression::None ? kPlainChunkBytes : kCompressedChunkBytes, cs);
  size_t inflight = std::min<size_t>(workers * 2 + 2, std::max<uint64_t>(4, kInflightBudget / chunkBytes));
  ChunkSource source(*reader, cs, chunkBytes);
  Totals totals;
  ConvertProgress prog;
  prog.bytesTotal = size;
  auto lastProgress = Clock::now();
  uint64_t lastWriteback = 0;
  // Where observers see each chunk (content_observer.hpp): XXH3 content hashes of an
  // uncompressed conversion take block sums from the idle workers and fold them in on this
  // (the writer) thread; other cheap observers run on the reader thread as the chunk is read;
  // the rest on the observer thread after it is written. With compression the workers are the
  // bottleneck and the reader has time to spare, so XXH3 stays on the reader.
  const bool sumsOnWorkers = comp == Compression::None && xxh3BlockSumsAvailable();
  std::vector<ContentObserver*> readerObservers, presummedObservers, writerObservers;
  for (ContentObserver* o : hooks.observers) {
    if (sumsOnWorkers && o->acceptsXxh3Sums())
      presummedObservers.push_back(o);
    else
      (o->onReaderThread() ? readerObservers : writerObservers).push_back(o);
  }
  // Source-file taps (convert --hash) then also see the chunk's reads on this thread, after
  // the workers, and reuse the same block sums wherever file and guest KiB line up (raw-like
  // grains, clusters, blocks): the source file's hash costs a fold instead of a second XXH3.
  const bool deferTaps = !presummedObservers.empty() && static_cast<bool>(hooks.sourceFileTaps);
  source.deferTaps(deferTaps);
  auto readNext = [&](Chunk& c) {
    if (cancelled() || !source.next(c)) return false;
    for (ContentObserver* o : readerObservers)
      o->onContent(c.offset, c.zero ? nullptr : c.buf.data(), static_cast<size_t>(c.guestLength));
    return true;
  };
  for (ContentObserver* o : hooks.observers) o->onStart();
  try {
    {
      Pipeline pipeline(
          workers, inflight, readNext,
          [&]() -> Pipeline::Work {
            auto w = std::make_shared<ChunkWorker>(cs, comp, !presummedObservers.empty());
            return [w](Chunk& c) { (*w)(c); };
          },
          // the writer's chunk, plus those queued for and being seen by the observer thread
          1 + (writerObservers.empty() ? 0 : kObserverQueue + 1));
      // Observers (content hashes) run on their own thread, after the chunk is written; it
      // recycles the buffers. Declared after the pipeline so it stops first.
      std::unique_ptr<ObserverThread> observe;
      if (!writerObservers.empty())
        observe = std::make_unique<ObserverThread>(writerObservers, kObserverQueue,
                                                   [&pipeline](Chunk&& done) { pipeline.recycle(std::move(done)); });
      Chunk c;
      while (pipeline.take(c, throwIfCancelled)) {
        throwIfCancelled();
        writeChunk(c, *writer, size, totals);
        for (ContentObserver* o : presummedObservers)
          o->onContentPresummed(c.offset, c.zero ? nullptr : c.buf.data(), static_cast<size_t>(c.guestLength),
                                c.hasXxh3Sums ? c.xxh3Sums.data() : nullptr);
        for (const DeferredTapRead& r : c.tapReads) showDeferredRead(c, r);
        if (totals.dataBytes - lastWriteback >= kWritebackEvery) {
          // Asynchronous hint only (no wait); errors surface at the final fsync.
          ::sync_file_range(out.file().fd(), 0, 0, SYNC_FILE_RANGE_WRITE);
          lastWriteback = totals.dataBytes;
        }
        prog.bytesDone = c.offset + c.guestLength;
        prog.dataBytes = totals.dataBytes;
        if (observe)
          observe->push(std::move(c), throwIfCancelled);
        else
          pipeline.recycle(std::move(c));
        c = Chunk{};
        if (progress && Clock::now() - lastProgress >= kProgressInterval) {
          progress(prog);
          lastProgress = Clock::now();
        }
      }
      if (observe) observe->drain(throwIfCancelled);
      throwIfCancelled();  // the reader stops early on cancel; never finish a short image
      if (prog.bytesDone != size)
        throw Error(codes::kIo, "conversion ended early at guest offset " + std::to_string(prog.bytesDone),
                    request.source, static_cast<int64_t>(prog.bytesDone), "internal error in the conversion engine");
    }
    result.outputBytes = writer->finish();
    reader->finalCheck();  // e.g. an OVA disk's .mf digest, computed from this pass's reads
  } catch (...) {
    rethrowWithIntegrityCause(*reader);
  }
  for (ContentObserver* o : hooks.observers) o->onFinish();
  out.commit();
  if (progress) progress(prog);

  result.dataBytes = totals.dataBytes;
  result.zeroBytes = totals.zeroBytes;
  result.clustersWritten = totals.clustersWritten;
  result.clustersCompressed = totals.clustersCompressed;
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return result;
}

}  // namespace h2k
