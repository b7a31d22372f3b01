// h2k-native: the native core without Node, for debugging, fuzz-corpus checks and
// C++-level tests. Not installed for users; `h2k` (TypeScript) is the real CLI.
//   h2k-native info <image>
//   h2k-native map <image>              block status runs: offset length kind
//   h2k-native cat <image> <out.raw>    guest-visible bytes to a raw file
//   h2k-native convert <src> <out> [qcow2|raw] [none|zlib|zstd] [threads] [clusterSize]
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "engine/convert.hpp"
#include "engine/convert_verified.hpp"
#include "formats/image_reader.hpp"
#include "io/file.hpp"

using namespace h2k;

static const char* kindName(BlockKind k) {
  return k == BlockKind::Data ? "data" : k == BlockKind::Zero ? "zero" : "hole";
}

static int cmdInfo(const std::string& path) {
  auto r = openImage(path, {});
  ImageInfo i = r->info();
  std::printf("format: %s\nsubformat: %s\nvirtual_size: %llu\nfile_bytes: %llu\nallocated_bytes: %llu\ncompression: %s\n",
              i.format.c_str(), i.subformat.c_str(), (unsigned long long)i.virtualSize,
              (unsigned long long)i.fileBytes, (unsigned long long)i.allocatedBytes, i.compression.c_str());
  for (auto& e : i.extents)
    std::printf("extent: %s %s %llu %s +%llu\n", e.access.c_str(), e.type.c_str(),
                (unsigned long long)e.sizeBytes, e.file.c_str(), (unsigned long long)e.fileOffset);
  for (auto& kv : i.properties) std::printf("%s: %s\n", kv.first.c_str(), kv.second.c_str());
  for (auto& w : i.warnings) std::printf("warning: %s\n", w.c_str());
  return 0;
}

static int cmdMap(const std::string& path) {
  auto r = openImage(path, {});
  uint64_t size = r->virtualSize();
  for (uint64_t off = 0; off < size;) {
    BlockStatus s = r->blockStatus(off, size - off);
    std::printf("%llu %llu %s\n", (unsigned long long)s.offset, (unsigned long long)s.length, kindName(s.kind));
    off += s.length;
  }
  return 0;
}

static int cmdCat(const std::string& path, const std::string& out) {
  auto r = openImage(path, {});
  File o = File::open(out, File::Mode::CreateTruncate);
  uint64_t size = r->virtualSize();
  std::vector<uint8_t> buf(1 << 20);
  for (uint64_t off = 0; off < size;) {
    BlockStatus s = r->blockStatus(off, std::min<uint64_t>(size - off, buf.size()));
    if (s.kind == BlockKind::Data) {
      r->read(off, buf.data(), s.length);
      o.writeAll(buf.data(), s.length, off);
    }
    off += s.length;
  }
  o.truncate(size);
  return 0;
}

// Trailing flags after the positional arguments (engine tests):
//   --no-force               refuse an existing output (default: overwrite)
//   --cancel-after=BYTES     cancel once progress reports >= BYTES done
//   --hash=ALGO[,ALGO]       hash the guest-visible content in the same pass (md5, xxh128, ...)
static int cmdConvert(int argc, char** argv) {
  ConvertRequest req;
  req.source = argv[2];
  req.output = argv[3];
  req.force = true;
  uint64_t cancelAfter = UINT64_MAX;
  std::vector<std::string> pos;
  for (int i = 4; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--no-force") req.force = false;
    else if (a.rfind("--cache=", 0) == 0) req.cache = a.substr(8);
    else if (a.rfind("--cancel-after=", 0) == 0) cancelAfter = std::stoull(a.substr(15));
    else if (a.rfind("--hash=", 0) == 0) {
      std::string list = a.substr(7);
      for (size_t p = 0; p <= list.size();) {
        size_t q = list.find(',', p);
        if (q == std::string::npos) q = list.size();
        if (q > p) req.hashAlgorithms.push_back(list.substr(p, q - p));
        p = q + 1;
      }
    }
    else pos.push_back(a);
  }
  if (pos.size() > 0) req.outputFormat = pos[0];
  if (pos.size() > 1) req.compression = pos[1];
  if (pos.size() > 2) req.threads = std::stoi(pos[2]);
  if (pos.size() > 3) req.clusterSize = static_cast<uint32_t>(std::stoul(pos[3]));
  std::atomic<bool> cancel{false};
  ProgressFn onProgress = nullptr;
  if (cancelAfter != UINT64_MAX)
    onProgress = [&](const ConvertProgress& p) { if (p.bytesDone >= cancelAfter) cancel.store(true); };
  ConvertResult res = convertImageChecked(req, onProgress, &cancel);
  std::printf("virtual_size: %llu\ndata_bytes: %llu\noutput_bytes: %llu\nseconds: %.3f\n",
              (unsigned long long)res.virtualSize, (unsigned long long)res.dataBytes,
              (unsigned long long)res.outputBytes, res.seconds);
  std::printf("zero_bytes: %llu\nclusters_written: %llu\nclusters_compressed: %llu\nsource_format: %s\nsource_subformat: %s\n",
              (unsigned long long)res.zeroBytes, (unsigned long long)res.clustersWritten,
              (unsigned long long)res.clustersCompressed, res.sourceFormat.c_str(), res.sourceSubformat.c_str());
  for (auto& kv : res.contentHashes) std::printf("content_hash_%s: %s\n", kv.first.c_str(), kv.second.c_str());
  for (auto& kv : res.sourceHashes) std::printf("source_hash_%s: %s\n", kv.first.c_str(), kv.second.c_str());
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: h2k-native info|map <image> | cat <image> <out> | convert <src> <out> [fmt] [comp] [threads] [cluster]\n");
    return 64;
  }
  std::string cmd = argv[1];
  try {
    if (cmd == "info") return cmdInfo(argv[2]);
    if (cmd == "map") return cmdMap(argv[2]);
    if (cmd == "cat" && argc >= 4) return cmdCat(argv[2], argv[3]);
    if (cmd == "convert" && argc >= 4) return cmdConvert(argc, argv);
    std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
    return 64;
  } catch (const Error& e) {
    std::fprintf(stderr, "error %s: %s (file=%s offset=%lld)%s%s\n", e.code().c_str(), e.what(), e.file().c_str(),
                 (long long)e.offset(), e.hint().empty() ? "" : " hint: ", e.hint().c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
