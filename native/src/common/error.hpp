// Error type shared by every native module: a stable code users and scripts can match,
// the file and byte offset it concerns, and a hint saying what to do about it.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace h2k {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message, std::string file = {}, int64_t offset = -1,
        std::string hint = {})
      : std::runtime_error(message),
        code_(std::move(code)),
        file_(std::move(file)),
        offset_(offset),
        hint_(std::move(hint)) {}

  const std::string& code() const noexcept { return code_; }
  const std::string& file() const noexcept { return file_; }
  int64_t offset() const noexcept { return offset_; }  // -1 when no offset applies
  const std::string& hint() const noexcept { return hint_; }

 private:
  std::string code_;
  std::string file_;
  int64_t offset_;
  std::string hint_;
};

// Error codes used across modules. Formats may add their own E_<FORMAT>_... codes.
namespace codes {
inline constexpr const char* kIo = "E_IO";                      // read/write/open failure (transient)
inline constexpr const char* kNotFound = "E_NOT_FOUND";         // a file does not exist
inline constexpr const char* kPermission = "E_PERMISSION";      // EACCES / EPERM
inline constexpr const char* kNoSpace = "E_NO_SPACE";           // ENOSPC / EDQUOT
inline constexpr const char* kTruncated = "E_TRUNCATED";        // metadata or data past EOF
inline constexpr const char* kUnknownFormat = "E_UNKNOWN_FORMAT";
inline constexpr const char* kFormatMismatch = "E_FORMAT_MISMATCH";  // file name and content disagree
inline constexpr const char* kCorrupt = "E_CORRUPT";            // generic structural corruption
inline constexpr const char* kUnsupported = "E_UNSUPPORTED";    // valid but not supported yet
inline constexpr const char* kPathEscape = "E_PATH_ESCAPE";     // extent/parent path leaves the image dir
inline constexpr const char* kTooLarge = "E_TOO_LARGE";         // a size beyond sane limits
inline constexpr const char* kOutputExists = "E_OUTPUT_EXISTS";
inline constexpr const char* kCancelled = "E_CANCELLED";
inline constexpr const char* kInvalidArgument = "E_INVALID_ARGUMENT";
inline constexpr const char* kDecompress = "E_DECOMPRESS";      // a compressed grain/cluster does not decode
inline constexpr const char* kVerifyFailed = "E_VERIFY_FAILED";  // the output does not read back as the source
inline constexpr const char* kUnsafeDrop = "E_UNSAFE_DROP";      // plain-files-only mode: a link, hard link or special file

// Failures that say nothing about the source's bytes (the caller, the output side, a cancel):
// a conversion failing with one of these is not a reason to check the source's digest. The
// addon exports this list, so the TypeScript side (ovf/import-ovf.ts) uses the same one.
inline constexpr const char* kNotAboutTheSource[] = {kCancelled, kNoSpace, kPermission, kOutputExists, kInvalidArgument};
inline bool isAboutTheSource(const std::string& code) {
  for (const char* c : kNotAboutTheSource)
    if (code == c) return false;
  return true;
}
}  // namespace codes

}  // namespace h2k
