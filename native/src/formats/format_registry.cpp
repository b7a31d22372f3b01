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

template <class Reader>
ReaderPtr viewReader(ViewPtr view, const OpenOptions& options) {
  if constexpr (std::is_constructible_v<Reader, ViewPtr, const OpenOptions&>)
    return std::make_unique<Reader>(std::move(view), options);
  else
    return std::make_unique<Reader>(std::move(view));
}

bool vhdxProbe(const ByteView&, const uint8_t* head, size_t n) { return n >= 8 && std::memcmp(head, "vhdxfile", 8) == 0; }

const std::vector<Format>& table() {
  static const std::vector<Format> rows = {
      {"vmdk", "VMDK", {".vmdk"}, {}, {}, {"disk"}, "no descriptor or sparse magic",
       [](const ByteView&, const uint8_t* h, size_t n) { return probeVmdk(h, n); }, openVmdk, openVmdkView,
       [](const File& f, uint64_t size, const WriterOptions& o) -> std::unique_ptr<ImageWriter> {
         auto slash = o.finalPath.find_last_of('/');
         return std::make_unique<StreamVmdkWriter>(f, size, slash == std::string::npos ? o.finalPath : o.finalPath.substr(slash + 1),
                                                   o.directIo);
       },
       false},
      {"qcow2", "qcow2", {".qcow2"}, {}, {}, {"disk"}, "no QFI\\xfb magic",
       [](const ByteView&, const uint8_t* h, size_t n) { return probeQcow2(h, n); }, nullptr, viewReader<Qcow2Reader>,
       [](const File& f, uint64_t size, const WriterOptions& o) -> std::unique_ptr<ImageWriter> {
         return std::make_unique<Qcow2Writer>(f, size, o.clusterSize, o.compression, o.directIo);
       },
       true},
      {"vhdx", "VHDX", {".vhdx"}, {".avhdx"}, {}, {"disk"}, "no 'vhdxfile' identifier", vhdxProbe, nullptr,
       viewReader<VhdxReader>, nullptr, false},
      {"vdi", "VDI", {".vdi"}, {}, {}, {"disk"}, "no 0xBEDA107F signature",
       [](const ByteView&, const uint8_t* h, size_t n) { return probeVdi(h, n); }, nullptr, viewReader<VdiReader>,
       [](const File& f, uint64_t size, const WriterOptions& o) -> std::unique_ptr<ImageWriter> {
         return std::make_unique<VdiWriter>(f, size, o.directIo);
       },
       false},
      {"ova", "OVA", {".ova"}, {}, {}, {"container", "vm"}, "no ustar tar header",
       [](const ByteView&, const uint8_t* h, size_t n) { return probeTar(h, n); },
       [](File f, const OpenOptions& o) { return openOvaDisk(std::move(f), "", o); }, nullptr, nullptr, false},
      {"vhd", "VHD", {".vhd"}, {".avhd"}, {"vpc"}, {"disk"}, "no 'conectix' footer",
       [](const ByteView& v, const uint8_t*, size_t) { return probeVhd(v); }, nullptr, viewReader<VhdReader>, nullptr,
       false},
      {"raw", "raw", {".raw", ".img", ".ami"}, {}, {}, {"disk"}, "", nullptr, nullptr, viewReader<RawReader>,
       [](const File& f, uint64_t size, const WriterOptions&) -> std::unique_ptr<ImageWriter> {
         return std::make_unique<RawWriter>(f, size);
       },
       false},
      // An OVF descriptor is no disk image: it names a VM's disk files (src/ovf reads it).
      {"ovf", "OVF", {".ovf"}, {}, {}, {"vm"}, "", nullptr, nullptr, nullptr, nullptr, false},
  };
  return rows;
}

std::string lowerExtension(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  auto dot = base.find_last_of('.');
  if (dot == std::string::npos || dot == 0) return "";
  std::string ext = base.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

}  // namespace

const std::vector<Format>& formats() { return table(); }

const Format* findFormat(const std::string& name) {
  for (const auto& f : table())
    if (name == f.name || std::find(f.aliases.begin(), f.aliases.end(), name) != f.aliases.end()) return &f;
  return nullptr;
}

const Format* probeFormat(const ByteView& view) {
  uint8_t head[4096] = {0};
  size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof head, view.size()));
  if (n == 0) return nullptr;
  view.readExact(head, n, 0);
  for (const auto& f : table())
    if (f.probe && f.probe(view, head, n)) return &f;
  return nullptr;
}

const Format* formatNamedBy(const std::string& path) {
  std::string ext = lowerExtension(path);
  if (ext.empty()) return nullptr;
  for (const auto& f : table())
    if (f.probe && (std::count(f.extensions.begin(), f.extensions.end(), ext) ||
                    std::count(f.snapshotExtensions.begin(), f.snapshotExtensions.end(), ext)))
      return &f;
  return nullptr;
}

std::string formatNames(bool (*pick)(const Format&)) {
  std::vector<std::string> names;
  for (const auto& f : table())
    if (pick(f)) names.push_back(f.name);
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

}  // namespace h2k
