// `h2k convert --verify`: the conversion (with any --hash) and then a read-back check. The
// source's content is hashed (XXH3) during the conversion pass; afterwards the finished
// output is opened by h2k's own reader for its format and its content hashed again. A
// mismatch, or a cancel during the check, removes the output: with --verify an output
// exists only when it was checked.
#pragma once
#include <atomic>

#include "engine/convert.hpp"

namespace h2k {

// convertImageWithHashes, then the check when request.verify is set.
ConvertResult convertImageChecked(const ConvertRequest& request, const ProgressFn& progress,
                                  const std::atomic<bool>* cancel);

}  // namespace h2k
