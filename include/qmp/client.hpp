// SPDX-License-Identifier: MIT
/// \file
/// qmp::Client, a blocking QMP client with a background reader thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <qmp/event.hpp>
#include <qmp/event_queue.hpp>
#include <qmp/export.hpp>
#include <qmp/json.hpp>
#include <qmp/options.hpp>

namespace qmp {

/// A connection to one QMP monitor (QEMU, qemu-storage-daemon).
///
/// While connected, a reader thread owned by the client reads every message the peer sends,
/// hands each reply to the execute() call waiting for its id and each event to events(). There is
/// no reader thread while disconnected.
///
/// Addresses accepted by connect():
///  - "/run/vm/qmp.sock" or "unix:/run/vm/qmp.sock": a unix socket path;
///  - "tcp:127.0.0.1:4444", "127.0.0.1:4444", "localhost:4444", "[::1]:4444": TCP.
///
/// Errors (see qmp/error.hpp): ExecuteError, TimeoutError and UsageError leave the client
/// connected and usable; DisconnectedError (and ProtocolError) mean the session is over, call
/// connect() to start another; ConnectError means connect() failed and the client is
/// disconnected.
///
/// Thread safety: execute(), events(), is_connected(), address() and dropped_replies() are
/// thread-safe: any number of threads may call them at once and each execute() gets exactly its
/// own reply. disconnect() is thread-safe and may be called while other threads are blocked in
/// execute() or events().pop(): they are woken with DisconnectedError. connect() and greeting()
/// must not race with each other or with another connect(); the destructor must not race with
/// any other member (as for any C++ object). The client calls no user code.
class QMP_EXPORT Client {
public:
    /// A disconnected client with default options.
    Client();
    /// A disconnected client with the given options.
    explicit Client(ClientOptions options);
    /// Disconnects (as disconnect()). Never waits for the peer.
    ~Client();

    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    /// Moving is allowed while no other thread uses either client.
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;

    /// Connects to \p address, reads the greeting and negotiates capabilities (enabling "oob"
    /// when offered and ClientOptions::enable_oob), all within ClientOptions::connect_timeout.
    /// Events that arrive before or during the handshake are queued in events().
    /// \throws ConnectError on any failure; the client is then disconnected.
    /// \throws UsageError if already connected (call disconnect() first) or the address cannot
    /// be parsed.
    void connect(const std::string& address);

    /// Closes the connection: every blocked execute() and events().pop() is woken with
    /// DisconnectedError, the reader thread is joined and the socket closed. Does nothing when
    /// not connected. Never waits for the peer.
    void disconnect() noexcept;

    /// True between a successful connect() and the end of the connection (disconnect(), peer
    /// hang-up, protocol error).
    bool is_connected() const;

    /// The greeting of the current (or last) session. Valid until the next connect().
    /// \throws DisconnectedError if connect() never succeeded.
    const Greeting& greeting() const;

    /// Runs \p command with \p arguments (a JSON object; null or empty means none) and returns
    /// the "return" member of QEMU's reply, waiting at most ClientOptions::command_timeout.
    /// \throws ExecuteError if QEMU answered with an error.
    /// \throws TimeoutError if no reply came in time (the late reply will be dropped).
    /// \throws DisconnectedError if not connected or the connection ends while waiting.
    /// \throws ProtocolError if the peer broke the protocol while waiting.
    /// \throws UsageError if \p arguments is neither null nor an object.
    json execute(const std::string& command, const json& arguments = json::object());

    /// As execute(command, arguments), waiting at most \p timeout (qmp::wait_forever: no limit).
    json execute(const std::string& command, const json& arguments,
                 std::chrono::milliseconds timeout);

    /// The events received from the peer. The same object for the client's whole life.
    EventQueue& events();

    /// The address given to the current (or last) connect(), in canonical form
    /// ("unix:/path" or "tcp:host:port"); empty before the first connect().
    std::string address() const;

    /// Replies that arrived with an id nobody waits for (late replies to timed-out calls,
    /// stale replies meant for a previous client of the monitor), since the client was created.
    /// Each is also logged at warning level.
    std::uint64_t dropped_replies() const;

    /// The options the client was created with.
    const ClientOptions& options() const;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace qmp
