// Error codes specific to the VMDK driver (shared ones live in common/error.hpp).
#pragma once

namespace h2k::vmdk {
inline constexpr const char* kBadMagic = "E_VMDK_BAD_MAGIC";            // extent is not KDMV
inline constexpr const char* kBadDescriptor = "E_VMDK_BAD_DESCRIPTOR";  // descriptor text unusable
inline constexpr const char* kBadHeader = "E_VMDK_BAD_HEADER";          // version/flags/layout fields
inline constexpr const char* kBadGrainSize = "E_VMDK_BAD_GRAIN_SIZE";   // grain size / GTEs per GT
inline constexpr const char* kBadCapacity = "E_VMDK_BAD_CAPACITY";      // capacity 0, overflowing, too big
inline constexpr const char* kBadGd = "E_VMDK_BAD_GD";                  // grain directory unreadable/out of file
inline constexpr const char* kBadGte = "E_VMDK_BAD_GTE";                // grain table entry points past EOF
inline constexpr const char* kBadFooter = "E_VMDK_BAD_FOOTER";          // GD_AT_END footer/EOS invalid
inline constexpr const char* kBadGrain = "E_VMDK_BAD_GRAIN";            // compressed grain marker invalid
inline constexpr const char* kJournalDirty = "E_VMDK_JOURNAL_DIRTY";    // SESparse journal not replayed
inline constexpr const char* kMissingExtent = "E_VMDK_MISSING_EXTENT";  // extent file absent
inline constexpr const char* kUnknownCreateType = "E_VMDK_UNKNOWN_CREATE_TYPE";  // createType no product writes
}  // namespace h2k::vmdk
