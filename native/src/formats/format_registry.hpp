// The one list of image formats h2k knows: the name users and the addon use, the file names
// that promise it, how its content is recognised, and how it is read and written. Everything
// else (open, detect, the engine's output choice, the extension check, the addon's formats()
// and through it every TypeScript list) asks here. Adding a format: its folder under
// formats/ and one row in format_registry.cpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codec/cluster_codec.hpp"
#include "formats/image_reader.hpp"
#include "formats/image_writer.hpp"
#include "io/byte_view.hpp"
#include "io/file.hpp"

namespace h2k {

struct WriterOptions {
  uint32_t clusterSize = 65536;
  Compression compression = Compression::None;
  std::string finalPath;  // where the output ends up (a VMDK descriptor names its own file)
  bool directIo = true;   // ConvertRequest::cache "none"
};

struct Format {
  const char* name;                     // "vmdk": -f / -O, detectFormat, ImageInfo::format
  const char* label;                    // "VMDK", as users know it
  std::vector<std::string> extensions;  // lower case with the dot: file names that promise the format
  std::vector<std::string> snapshotExtensions;  // the same format, for snapshot files (no watch-folder jobs)
  std::vector<std::string> aliases;     // other names accepted for -f ("vpc")
  std::vector<std::string> roles;       // "disk" (an image of one disk), "container" (holds disk files), "vm" (describes a VM)
  const char* signature;                // what the probe looks for, for E_FORMAT_MISMATCH ("" = no probe)
  // Recognises the format from the first `n` bytes (`head`, up to 4096) or the view; nullptr: never by content.
  bool (*probe)(const ByteView& view, const uint8_t* head, size_t n);
  // Opens a whole file (formats whose image spans files, or an archive); nullptr: through openView.
  std::unique_ptr<ImageReader> (*openFile)(File file, const OpenOptions& options);
  // Opens the image in a view (a loose file or an archive member); nullptr: not readable that way.
  std::unique_ptr<ImageReader> (*openView)(std::shared_ptr<const ByteView> view, const OpenOptions& options);
  // Writes an image; nullptr: not an output format.
  std::unique_ptr<ImageWriter> (*makeWriter)(const File& file, uint64_t virtualSize, const WriterOptions& options);
  bool compressible;  // as output, takes a --compression codec
};

// Every row, in probe order.
const std::vector<Format>& formats();
// The row named (or aliased) `name`; nullptr when none.
const Format* findFormat(const std::string& name);
// The row whose probe matches the view's content; nullptr when none (then it reads as raw).
const Format* probeFormat(const ByteView& view);
// The row a file name promises by its extension (only formats with a probe promise anything).
const Format* formatNamedBy(const std::string& path);
// "vmdk, qcow2, vdi or raw": the names of the rows `pick` keeps, for hints.
std::string formatNames(bool (*pick)(const Format&));
inline bool isWritable(const Format& f) { return f.makeWriter != nullptr; }
inline bool isReadable(const Format& f) { return f.openFile || f.openView; }
inline bool isMemberReadable(const Format& f) { return f.openView != nullptr; }  // inside an archive

}  // namespace h2k
