// The whole disk as runs of one kind (data / zero / hole), from the reader's own block status,
// adjacent runs of one kind merged, so a 2 TB sparse disk is a few entries, not one per grain.
// `h2k measure` and `convert --dry-run` count the output's size from it.
#pragma once
#include <vector>

#include "formats/image_reader.hpp"

namespace h2k {

std::vector<BlockStatus> allocationRuns(ImageReader& reader);

}  // namespace h2k
