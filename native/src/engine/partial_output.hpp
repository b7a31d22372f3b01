// The output file's life cycle: refuse an existing output unless forced, write to
// <output>.partial (created exclusively, a stale one from a crashed run removed first),
// and on commit fsync + rename + fsync the directory. If never committed, the destructor
// removes the partial file, so errors and cancellation leave nothing behind.
#pragma once
#include <string>

#include "io/file.hpp"

namespace h2k {

// Throws E_OUTPUT_EXISTS when `output` exists and `force` is false.
void checkOutputAvailable(const std::string& output, bool force);

class PartialOutput {
 public:
  explicit PartialOutput(const std::string& output);
  ~PartialOutput();
  PartialOutput(const PartialOutput&) = delete;
  PartialOutput& operator=(const PartialOutput&) = delete;

  const File& file() const { return file_; }
  const std::string& partialPath() const { return partial_; }
  // Data must already be fsynced by the writer; this renames and makes the rename durable.
  void commit();

 private:
  std::string output_;
  std::string partial_;
  File file_;
  bool committed_ = false;
};

}  // namespace h2k
