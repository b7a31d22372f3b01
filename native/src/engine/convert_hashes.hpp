// `convert --hash`: hashes computed during the conversion pass itself.
//   contentHashes: the guest-visible content, through the engine's ContentObserver seam
//                  (in guest order on the writer side; holes fed from the shared zero block).
//   sourceFiles:   every file the source is made of (the file named, VMDK extent files; for
//                  an OVA member, the archive), each hashed in file order from the
//                  conversion's own reads of it (read taps, hash/source_file_hasher.hpp); only
//                  what the conversion skips or reads out of order is read again, from the
//                  page cache. sourceHashes is the first file's (the one named).
#pragma once
#include <atomic>
#include <string>
#include <vector>

#include "engine/convert.hpp"

namespace h2k {

// convertImage, plus request.hashAlgorithms filled into result.sourceHashes/contentHashes.
// `extraContentHashes` are computed over the content only (for the caller's own use, e.g.
// verification); result.contentHashes then holds them too. Without any hash algorithm
// this is exactly convertImage.
ConvertResult convertImageWithHashes(const ConvertRequest& request, const ProgressFn& progress,
                                     const std::atomic<bool>* cancel,
                                     const std::vector<std::string>& extraContentHashes = {});

}  // namespace h2k
