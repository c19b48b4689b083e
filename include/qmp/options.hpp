// SPDX-License-Identifier: MIT
/// \file
/// Settings of a Client: plain members with documented defaults.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace spdlog {
class logger;
}

namespace qmp {

/// Pass as a timeout to wait without limit (execute(), EventQueue::pop()).
inline constexpr std::chrono::milliseconds wait_forever = std::chrono::milliseconds::max();

/// Pass as ClientOptions::event_queue_capacity for a queue without bound.
inline constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

/// Where a Client's connection stands (Client::state()).
enum class ConnectionState {
    disconnected, ///< before connect(), after disconnect(), or after the session ended
    connecting, ///< connect() or accept() is in progress
    connected, ///< a session is open
    reconnecting, ///< the session ended unexpectedly and ClientOptions::reconnect is on
};

/// Per-call settings of Client::execute(), execute_async() and execute_with_fd().
///
/// \context \plainvalue.
struct ExecOptions {
    /// Bound on the call; ClientOptions::command_timeout when unset; qmp::wait_forever: none.
    std::optional<std::chrono::milliseconds> timeout;
    /// Send as "exec-oob": QEMU runs it at once, even while in-band commands are queued or
    /// running. Only for commands QEMU marks allow-oob (7.2: migrate-pause, migrate-recover,
    /// yank, query-yank) and only when OOB was negotiated (else UsageError).
    bool oob = false;
};

/// How a Client connects and behaves. Copy one, change what you need, pass it to the Client.
///
/// \context \plainvalue; the Client keeps its own copy.
struct ClientOptions {
    /// Bound on connect(): reaching the socket, receiving the greeting and negotiating
    /// capabilities together. A QMP socket held by another client accepts the connection but
    /// sends no greeting, so this also bounds that wait.
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};

    /// Keep retrying while the socket does not exist yet or refuses connections (a QEMU that is
    /// still starting), until connect_timeout. Off: such a failure throws ConnectError at once.
    bool retry_connect = false;

    /// Pause between two connection attempts when retry_connect is on. Must be positive.
    std::chrono::milliseconds retry_interval{std::chrono::milliseconds(20)};

    /// Default bound on execute(): writing the command and waiting for its reply. Override per
    /// call; pass qmp::wait_forever to wait without limit.
    std::chrono::milliseconds command_timeout{std::chrono::seconds(30)};

    /// Default bounds for particular commands, by name, instead of command_timeout: for
    /// commands known to be slow (`options.command_timeouts["blockdev-add"] =
    /// std::chrono::seconds(60)`) or known to be quick. A timeout given with the call still
    /// wins. Applies to every call that sends the command (execute(), execute_async(),
    /// execute_raw(), execute_with_fd(), start_job(), Job's commands). Each value must be
    /// positive (qmp::wait_forever for no limit).
    std::map<std::string, std::chrono::milliseconds> command_timeouts;

    /// Negotiate the "oob" capability when QEMU offers it. With it QEMU queues up to 8 in-band
    /// commands per monitor and accepts exec-oob; without it QEMU reads one command at a time.
    bool enable_oob = true;

    /// Largest message accepted from the peer, in bytes. A larger one is a ProtocolError and
    /// closes the connection, so a misbehaving peer cannot exhaust memory. query-qmp-schema is
    /// about 210 KB on QEMU 7.2; qemu-ga's guest-file-read can return tens of MB.
    std::size_t max_message_size = 10 * 1024 * 1024;

    /// Deepest nesting of objects and arrays accepted from the peer (QEMU's own limit is 1024).
    /// Deeper is a ProtocolError; checked before parsing, so it also bounds stack use. At least 1.
    std::size_t max_nesting_depth = 1024;

    /// Most events kept in Client::events() (and in each listen() queue, and for on_event()
    /// callbacks) before the oldest are dropped (counted and logged). qmp::unbounded keeps every
    /// event. The reader thread never waits for a consumer, so replies are never held up by
    /// events.
    std::size_t event_queue_capacity = 10000;

    /// TCP only: after this long without traffic, keepalive probes check that the peer is still
    /// there, and data it does not acknowledge for twice this long fails the connection
    /// (TCP_USER_TIMEOUT). So a QEMU whose host vanished without closing the connection (power
    /// loss, a dropped route) is noticed after about twice this time: waiters get
    /// DisconnectedError. 0: the kernel's defaults (keepalive off; a silent peer is never
    /// noticed).
    std::chrono::seconds tcp_keepalive{std::chrono::seconds(30)};

    /// With OOB negotiated, the most in-band commands kept in flight. More wait, in order, in a
    /// queue inside the client and are sent as replies make room (each still bounded by its own
    /// timeout; execute_async() returns at once either way). QEMU queues 8 and then stops reading
    /// its socket, after which an exec-oob command could no longer overtake. 0: no limit.
    std::size_t oob_in_band_limit = 8;

    /// Check each command name against the server's schema (fetched once per connection with
    /// query-qmp-schema) before sending it: an unknown name fails at once with an ExecuteError
    /// of class "CommandNotFound" that suggests the closest known name, without a round trip.
    bool check_commands = false;

    /// Reconnect by itself when the session ends unexpectedly (the peer hung up or reset, a
    /// read or write failed, the peer broke the protocol): to the same address, or by
    /// accept()ing again on the same Server (which must then outlive the Client), negotiating
    /// each time. Not after disconnect(), and not for connect_fd(). While it reconnects,
    /// events(), listen() queues and callbacks stay as they are (their queues stay open), calls
    /// wait for the new session within their own timeout, and calls that were in flight when
    /// the session ended fail with DisconnectedError (whether QEMU ran them is unknown).
    /// disconnect() stops reconnecting.
    bool reconnect = false;

    /// With reconnect: the pause before the first attempt, doubled after each failed one up
    /// to reconnect_max_delay. Each attempt is bounded by connect_timeout. Must be positive.
    std::chrono::milliseconds reconnect_delay{std::chrono::milliseconds(100)};
    /// With reconnect: the longest pause between two attempts; at least reconnect_delay.
    std::chrono::milliseconds reconnect_max_delay{std::chrono::seconds(5)};

    /// Called with every change of Client::state(), in order, on a thread of the client's
    /// (never the reader thread, under no lock of the client's). It may call the client's
    /// members except the destructor. Empty: no calls.
    std::function<void(ConnectionState)> on_state_change;

    /// Where the client logs. Null (the default) logs nothing and touches no global spdlog
    /// state. Traffic is logged at trace level as "--> {json}" and "<-- {json}"; drops and
    /// protocol errors at warning level; connects and disconnects at debug level. Below trace
    /// level no command arguments are logged.
    std::shared_ptr<spdlog::logger> logger;

    /// In trace logs, replace the values of arguments that carry secrets with "<redacted>":
    /// "password"/"passphrase" members at any depth (set_password, change-vnc-password,
    /// guest-set-user-password), the "data" of object-add for a secret, an HMP command line that
    /// mentions a password or secret (all but its first word), and qemu-ga's guest-file-write
    /// "buf-b64" and guest-exec "input-data". Only the log is changed, never what is sent.
    bool redact_secrets = true;
};

} // namespace qmp
