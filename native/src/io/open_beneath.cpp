#include "io/open_beneath.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/error.hpp"

namespace h2k {
namespace {

const char* const kEscapeHint =
    "the image names a file outside its own directory (or one that is not a regular file); if you trust it, "
    "pass --allow-external-paths";

// Closes a descriptor on every path out of a scope.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

[[noreturn]] void refuse(const std::string& name, const std::string& from, const std::string& why) {
  throw Error(codes::kPathEscape, "refusing '" + name + "' referenced from " + from + ": " + why, from, -1, kEscapeHint);
}

const char* kindOf(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file";
}

int sysOpenat2(int dirfd, const char* path, int flags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long r;
  do {
    r = ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  } while (r < 0 && errno == EINTR);
  return static_cast<int>(r);
}

std::vector<std::string> components(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(start, end - start);
    if (!part.empty() && part != ".") parts.push_back(part);
    start = end + 1;
  }
  return parts;
}

// Without openat2: walk the components with O_NOFOLLOW, so any symlink on the way fails (ELOOP
// for the last one opened O_PATH|O_NOFOLLOW shows as S_ISLNK; directories fail with ENOTDIR).
int walkNoSymlinks(int dirfd, const std::string& name, int flags) {
  std::vector<std::string> parts = components(name);
  if (parts.empty()) {
    errno = EISDIR;
    return -1;
  }
  Fd cur(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  if (cur.fd < 0) return -1;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = ::openat(cur.fd, parts[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      if (errno == ENOTDIR) {  // a symlink (or a file) where a directory should be
        struct stat st;
        if (::fstatat(cur.fd, parts[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) errno = ELOOP;
      }
      return -1;
    }
    Fd n(next);
    std::swap(cur.fd, n.fd);
  }
  int fd;
  do {
    fd = ::openat(cur.fd, parts.back().c_str(), flags | O_NOFOLLOW);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// H2K_DISABLE_OPENAT2=1 takes the fallback path on a kernel that has openat2 (tests prove it).
bool openat2Disabled() {
  static const bool disabled = [] {
    const char* v = std::getenv("H2K_DISABLE_OPENAT2");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return disabled;
}

int openUnder(int dirfd, const std::string& name, int flags, bool* haveOpenat2) {
  if (*haveOpenat2) {
    int fd = sysOpenat2(dirfd, name.c_str(), flags);
    if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;
    *haveOpenat2 = false;  // not in this kernel, or hidden by a seccomp filter
  }
  return walkNoSymlinks(dirfd, name, flags);
}

[[noreturn]] void throwOpenFailure(int err, const std::string& dir, const std::string& name, const std::string& from) {
  switch (err) {
    case EXDEV:
      refuse(name, from, "it resolves outside " + dir + " (through '..', an absolute path or a symbolic link)");
    case ELOOP:
      refuse(name, from, "it goes through a symbolic link that h2k does not follow here (a link out of " + dir +
                             ", a /proc link, or a loop)");
    default:
      throwErrno(err, "cannot open", dir + "/" + name);
  }
}

}  // namespace

void checkContainedName(const std::string& name, const std::string& from) {
  if (name.empty()) throw Error(codes::kCorrupt, "empty file name referenced from " + from, from);
  if (name.find('\0') != std::string::npos)
    throw Error(codes::kCorrupt, "file name with a NUL byte referenced from " + from, from);
  if (name[0] == '/') refuse(name, from, "it is an absolute path");
  for (const auto& part : components(name))
    if (part == "..") refuse(name, from, "it leaves the directory ('..')");
}

File openBeneath(const std::string& dir, const std::string& name, const std::string& from) {
  checkContainedName(name, from);
  Fd dirFd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (dirFd.fd < 0) throwErrno(errno, "cannot open directory", dir);
  bool haveOpenat2 = !openat2Disabled();
  // First a path-only descriptor: the file's type is known before anything opens it for reading.
  Fd pathFd(openUnder(dirFd.fd, name, O_PATH | O_CLOEXEC, &haveOpenat2));
  if (pathFd.fd < 0) throwOpenFailure(errno, dir, name, from);
  struct stat first;
  if (::fstat(pathFd.fd, &first) != 0) throwErrno(errno, "cannot stat", dir + "/" + name);
  if (!S_ISREG(first.st_mode)) refuse(name, from, std::string("it is ") + kindOf(first.st_mode) + ", not a regular file");
  // O_NONBLOCK: should the name be swapped for a FIFO in between, this open does not hang.
  Fd fd(openUnder(dirFd.fd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, &haveOpenat2));
  if (fd.fd < 0) throwOpenFailure(errno, dir, name, from);
  struct stat second;
  if (::fstat(fd.fd, &second) != 0) throwErrno(errno, "cannot stat", dir + "/" + name);
  if (second.st_dev != first.st_dev || second.st_ino != first.st_ino)
    refuse(name, from, "it was replaced while being opened");
  int fl = ::fcntl(fd.fd, F_GETFL);
  if (fl >= 0) ::fcntl(fd.fd, F_SETFL, fl & ~O_NONBLOCK);
  return File::adopt(fd.release(), dir + "/" + name);
}

}  // namespace h2k
