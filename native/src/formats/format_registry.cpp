// The format table (format_registry.hpp). Probe order matters: the cheap magic checks first,
// the OVA's tar header before VHD (whose footer may sit at the end of any file).
#include "formats/format_registry.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "formats/ova/ova_open.hpp"
#include "formats/ova/tar_index.hpp"
#include "formats/qcow2/qcow2_reader.hpp"
#include "formats/qcow2/qcow2_writer.hpp"
#include "formats/raw/raw_reader.hpp"
#include "formats/raw/raw_writer.hpp"
#include "formats/vdi/vdi_reader.hpp"
#include "formats/vdi/vdi_writer.hpp"
#include "formats/vhd/vhd_reader.hpp"
#include "formats/vhdx/vhdx_reader.hpp"
#include "formats/vmdk/stream_vmdk_writer.hpp"
#include "formats/vmdk/vmdk_open.hpp"

namespace h2k {

namespace {

using ReaderPtr = std::unique_ptr<ImageReader>;
using ViewPtr = std::shared_ptr<const ByteView>;
using WriterPtr = std::unique_ptr<ImageWriter>;

// Adapters from each format's own probe, readers and writer to the table's signatures.
template <bool (*probe)(const uint8_t* head, size_t n)>
bool byHead(const ByteView&, const uint8_t* head, size_t n) { return probe(head, n); }
bool probeVhdx(const uint8_t* head, size_t n) { return n >= 8 && std::memcmp(head, "vhdxfile", 8) == 0; }
// A VHD is recognised by its footer, at the end of the file.
bool vhdProbe(const ByteView& view, const uint8_t*, size_t) { return probeVhd(view); }

template <class Reader>
ReaderPtr viewReader(ViewPtr view, const OpenOptions& options) {
  if constexpr (std::is_constructible_v<Reader, ViewPtr, const OpenOptions&>)
    return std::make_unique<Reader>(std::move(view), options);
  else
    return std::make_unique<Reader>(std::move(view));
}
ReaderPtr ovaReader(File file, const OpenOptions& options) { return openOvaDisk(std::move(file), "", options); }

// A streamOptimized VMDK's descriptor names its extent by the output's file name.
WriterPtr vmdkWriter(const File& f, uint64_t size, const WriterOptions& o) {
  return std::make_unique<StreamVmdkWriter>(f, size, o.finalPath.substr(o.finalPath.find_last_of('/') + 1), o.directIo);
}
WriterPtr qcow2Writer(const File& f, uint64_t size, const WriterOptions& o) {
  return std::make_unique<Qcow2Writer>(f, size, o.clusterSize, o.compression, o.directIo);
}
WriterPtr vdiWriter(const File& f, uint64_t size, const WriterOptions& o) { return std::make_unique<VdiWriter>(f, size, o.directIo); }
WriterPtr rawWriter(const File& f, uint64_t size, const WriterOptions&) { return std::make_unique<RawWriter>(f, size); }

}  // namespace

const std::vector<Format>& formats() {
  static const std::vector<Format> rows = {
      {"vmdk", "VMDK", {".vmdk"}, {}, {}, {"disk"}, "no descriptor or sparse magic", byHead<probeVmdk>, openVmdk,
       openVmdkView, vmdkWriter, false},
      {"qcow2", "qcow2", {".qcow2"}, {}, {}, {"disk"}, "no QFI\\xfb magic", byHead<probeQcow2>, nullptr,
       viewReader<Qcow2Reader>, qcow2Writer, true},
      {"vhdx", "VHDX", {".vhdx"}, {".avhdx"}, {}, {"disk"}, "no 'vhdxfile' identifier", byHead<probeVhdx>, nullptr,
       viewReader<VhdxReader>, nullptr, false},
      {"vdi", "VDI", {".vdi"}, {}, {}, {"disk"}, "no 0xBEDA107F signature", byHead<probeVdi>, nullptr,
       viewReader<VdiReader>, vdiWriter, false},
      {"ova", "OVA", {".ova"}, {}, {}, {"container", "vm"}, "no ustar tar header", byHead<probeTar>, ovaReader, nullptr,
       nullptr, false},
      {"vhd", "VHD", {".vhd"}, {".avhd"}, {"vpc"}, {"disk"}, "no 'conectix' footer", vhdProbe, nullptr,
       viewReader<VhdReader>, nullptr, false},
      {"raw", "raw", {".raw", ".img", ".ami"}, {}, {}, {"disk"}, "", nullptr, nullptr, viewReader<RawReader>, rawWriter,
       false},
      // An OVF descriptor is no disk image: it names a VM's disk files (src/ovf reads it).
      {"ovf", "OVF", {".ovf"}, {}, {}, {"vm"}, "", nullptr, nullptr, nullptr, nullptr, false},
  };
  return rows;
}

const Format* findFormat(const std::string& name) {
  for (const auto& f : formats())
    if (name == f.name || std::find(f.aliases.begin(), f.aliases.end(), name) != f.aliases.end()) return &f;
  return nullptr;
}

const Format* probeFormat(const ByteView& view) {
  uint8_t head[4096] = {0};
  size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof head, view.size()));
  if (n == 0) return nullptr;
  view.readExact(head, n, 0);
  for (const auto& f : formats())
    if (f.probe && f.probe(view, head, n)) return &f;
  return nullptr;
}

const Format* formatNamedBy(const std::string& path) {
  const std::string base = path.substr(path.find_last_of('/') + 1);
  const auto dot = base.find_last_of('.');
  if (dot == std::string::npos || dot == 0) return nullptr;
  std::string ext = base.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& f : formats())
    if (f.probe && (std::count(f.extensions.begin(), f.extensions.end(), ext) ||
                    std::count(f.snapshotExtensions.begin(), f.snapshotExtensions.end(), ext)))
      return &f;
  return nullptr;
}

std::string formatNames(bool (*pick)(const Format&)) {
  std::vector<std::string> names;
  for (const auto& f : formats())
    if (pick(f)) names.push_back(f.name);
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

}  // namespace h2k
