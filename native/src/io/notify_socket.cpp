#include "io/notify_socket.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "common/error.hpp"

namespace h2k {
namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

void notifySocketSend(const std::string& address, const std::string& message) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const bool abstract = !address.empty() && address[0] == '@';
  if ((address.empty() || (address[0] != '/' && !abstract)) || address.size() > sizeof(sa.sun_path) - (abstract ? 0 : 1))
    throw Error(codes::kInvalidArgument, "NOTIFY_SOCKET is not a unix socket path or @abstract name: '" + address + "'");
  std::memcpy(sa.sun_path, address.data(), address.size());
  if (abstract) sa.sun_path[0] = '\0';  // Linux abstract namespace: the name has no terminating NUL
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + (abstract ? 0 : 1));

  Fd s{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) throw Error(codes::kIo, std::string("notify socket: ") + std::strerror(errno), address);
  ssize_t n;
  do n = ::sendto(s.fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&sa), len);
  while (n < 0 && errno == EINTR);
  if (n < 0) throw Error(codes::kIo, std::string("notify socket: ") + std::strerror(errno), address);
}

}  // namespace h2k
