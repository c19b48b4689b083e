// SPDX-License-Identifier: MIT
/// \file
/// qmp::Server, a listening socket that QMP peers connect to (QEMU started with server=off).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>

#include <qmp/export.hpp>
#include <qmp/options.hpp>

namespace qmp {

/// Which peers a Server lets in, beyond who can reach its socket at all.
///
/// \context \plainvalue.
struct ServerOptions {
    /// Only a peer running as this user (unix sockets, from SO_PEERCRED) is accepted.
    std::optional<uid_t> peer_uid;
    /// Only this process (the QEMU you started) is accepted (unix sockets, from SO_PEERCRED).
    std::optional<pid_t> peer_pid;
    /// Where refused peers are logged (warning level). Null logs nothing.
    std::shared_ptr<spdlog::logger> logger;
};

/// A listening socket for QEMU to connect to, for a monitor started as the client side:
///
///     qemu-system-x86_64 -chardev socket,id=mon0,path=PATH,server=off,reconnect=1
///         -mon chardev=mon0,mode=control
///
///     qmp::Server server{"unix:PATH"};
///     qmp::Client client;
///     client.accept(server);              // waits for QEMU, then greeting and negotiation
///
/// It listens from construction to destruction. A unix socket file is created with mode 0600,
/// so only its owner can connect; a stale file left by a process that is gone is replaced, and
/// one a live process listens on is an error. The destructor removes the file. "tcp:HOST:0"
/// asks for a free port; address() says which. Clients accept() from it one after the other:
/// when a session ends (QEMU quit, or its reconnect=N after a disconnect()), the next accept()
/// takes QEMU's next connection.
///
/// \context Every member is \threadsafe except the destructor; several Clients may wait in accept()
/// on the same Server at once (each connection goes to one of them). The Server must outlive those
/// calls.
class QMP_EXPORT Server {
public:
    /// Binds and listens at \p address ("unix:/path", a plain path, or "tcp:HOST:PORT").
    /// \throws UsageError for an address that cannot be parsed, or peer_uid/peer_pid with a TCP
    /// address (TCP carries no credentials); ConnectError when it cannot listen there (a live
    /// listener already there, no permission, ...).
    explicit Server(const std::string& address, ServerOptions options = {});
    /// Stops listening and removes a unix socket file. Connections already accepted go on.
    ~Server();

    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// The bound address in canonical form, with a TCP port resolved ("tcp:127.0.0.1:40123").
    const std::string& address() const;

private:
    friend class Client;
    class QMP_NO_EXPORT Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace qmp
