// Opens, for reading, a file that something h2k does not trust named: a descriptor's extent, a
// parent or backing file, an OVF href, a source dropped in a watch folder. Every such name goes
// through here, so this is the one place to audit. The kernel resolves the name beneath `dir`
// (openat2 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): "..", absolute names, symlinks that leave
// `dir` (and absolute symlinks) and /proc magic links fail, with no window between a check and
// the open. The target must be a regular file, and that is known before it is opened for reading:
// a FIFO, device or socket is never opened for reading. Kernels without openat2 (< 5.6) or
// sandboxes that hide it fall back to a component walk that refuses every symlink.
#pragma once
#include <string>

#include "io/file.hpp"

namespace h2k {

// Throws E_PATH_ESCAPE (names `name` and `referencedFrom`, with a hint) when the name leaves
// `dir` or is not a regular file, E_NOT_FOUND when it does not exist. The File's path() is
// dir + "/" + name, for messages.
File openBeneath(const std::string& dir, const std::string& name, const std::string& referencedFrom);

// The lexical half of the rule, for names that are looked up rather than opened (an OVA member,
// a href before it is joined to an archive name): empty, NUL, absolute, or a ".." component.
void checkContainedName(const std::string& name, const std::string& referencedFrom);

}  // namespace h2k
