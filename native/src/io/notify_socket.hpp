// sd_notify's transport: one datagram to the AF_UNIX socket systemd names in $NOTIFY_SOCKET
// (a path, or "@name" for an abstract socket). Node's dgram module has no unix datagram sockets.
#pragma once
#include <string>

namespace h2k {

// Sends `message` as one datagram to `address`; throws h2k::Error (E_INVALID_ARGUMENT for an
// address that is not a unix socket name, E_IO with errno's text when sendto fails).
void notifySocketSend(const std::string& address, const std::string& message);

}  // namespace h2k
