// SPDX-License-Identifier: MIT
// The transport layer's server side: a listening socket, and the connections it accepts.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>

#include "address.hpp"
#include "deadline.hpp"
#include "fd.hpp"
#include "transport.hpp"

namespace qmp::detail {

/// A bound, listening stream socket.
struct Listening {
    Fd socket;
    std::string address; ///< canonical, the TCP port resolved ("tcp:127.0.0.1:40123")
    std::string path; ///< a unix listener's socket file; empty for TCP
};

/// Binds and listens at \p address. A unix socket file is created with mode 0600 (only the
/// owner can connect); a stale one left by a dead process is replaced, a live listener there
/// is refused.
/// \throws TransportError (EADDRINUSE for a live listener).
Listening listen_at(const Address& address);

/// Who is at the other end of a unix socket (SO_PEERCRED); empty for TCP.
struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
};
std::optional<PeerCredentials> peer_credentials(int socket);

/// Waits, until \p deadline or cancellation, for a connection on \p listening and accepts it.
/// \throws TransportError (ETIMEDOUT, ECANCELED, or the accept failure).
Fd accept_connection(int listening, Clock::time_point deadline, Canceller& cancel);

} // namespace qmp::detail
