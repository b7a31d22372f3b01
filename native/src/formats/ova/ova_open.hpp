// OVA archives read in place. An image path may name a member inside an archive:
// "/data/vm.ova/vm-disk1.vmdk" (the archive is a regular file, so such a path cannot
// exist on disk). The member is opened through a SubFileView at its offset, a gzip member
// through a GzipView; nothing is extracted. The .mf digests of the members used (and of
// the .ovf) are verified before anything is read.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "formats/image_reader.hpp"
#include "formats/ova/tar_index.hpp"

namespace h2k {

// True when `path` does not exist but a prefix of it is a tar archive: fills archive/member.
bool splitArchivePath(const std::string& path, std::string* archive, std::string* member);

// Opens a disk inside an OVA: `member` by name, or the first disk in archive order when
// empty (an OVA lists its disks in OVF References order).
std::unique_ptr<ImageReader> openOvaDisk(const std::string& archivePath, const std::string& member,
                                         const OpenOptions& options);
// The same, from an archive already opened (a source opened beneath its root).
std::unique_ptr<ImageReader> openOvaDisk(File archive, const std::string& member, const OpenOptions& options);

// The content format of a member ("vmdk", "vhd", ...; "raw" when nothing matches). detectFormat
// reports "ova" for member paths (the reader's info() names the inner format).
std::string detectOvaMemberFormat(const std::string& archivePath, const std::string& member);

}  // namespace h2k
