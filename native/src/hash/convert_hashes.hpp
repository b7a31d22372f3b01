// `convert --hash`: hashes computed during the conversion pass itself.
//   contentHashes: the guest-visible content, through the engine's ContentObserver seam
//                  (in guest order on the writer side; holes fed from the shared zero block).
//   sourceHashes:  the bytes of the source file, hashed sequentially on a thread of its own
//                  that is paced to stay just ahead of the conversion, so both readers share
//                  the page cache and the file comes off the disk once.
#pragma once
#include <atomic>

#include "engine/convert.hpp"

namespace h2k {

// convertImage, plus request.hashAlgorithms filled into result.sourceHashes/contentHashes.
// Without hash algorithms this is exactly convertImage.
ConvertResult convertImageWithHashes(const ConvertRequest& request, const ProgressFn& progress,
                                     const std::atomic<bool>* cancel);

}  // namespace h2k
