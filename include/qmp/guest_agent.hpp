// SPDX-License-Identifier: MIT
/// \file
/// qmp::GuestAgent, a blocking client for the QEMU guest agent (qemu-ga).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <qmp/export.hpp>
#include <qmp/json.hpp>
#include <qmp/options.hpp>

namespace qmp {

/// Settings of a GuestAgent: plain members with documented defaults.
///
/// \context \plainvalue; the GuestAgent keeps its own copy.
struct GuestAgentOptions {
    /// Bound on connect(): reaching the socket and the first synchronisation together.
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};

    /// Default bound on execute(); a per-call timeout wins.
    std::chrono::milliseconds command_timeout{std::chrono::seconds(30)};

    /// Default bounds of commands the agent is known to take long for (a per-call timeout
    /// still wins); each positive, or qmp::wait_forever. Freezing file systems waits for every
    /// writer in the guest.
    std::map<std::string, std::chrono::milliseconds> command_timeouts = {
        {"guest-fsfreeze-freeze", std::chrono::minutes(10)},
        {"guest-fsfreeze-freeze-list", std::chrono::minutes(10)},
        {"guest-fsfreeze-thaw", std::chrono::minutes(10)},
    };

    /// guest-shutdown and guest-suspend-disk/-ram/-hybrid send no reply when they succeed: they
    /// count as done when the agent closes the channel or stays silent this long (an error
    /// reply comes at once).
    std::chrono::milliseconds no_reply_wait{std::chrono::seconds(1)};

    /// Largest message accepted from the agent. guest-file-read returns at most 48 MiB of data
    /// per call, base64-encoded (64 MiB); larger is a ProtocolError that closes the connection.
    std::size_t max_message_size = 72 * 1024 * 1024;

    /// Deepest nesting accepted from the agent.
    std::size_t max_nesting_depth = 1024;

    /// Where the agent client logs (see ClientOptions::logger). Null logs nothing.
    std::shared_ptr<spdlog::logger> logger;

    /// In trace logs, hide the values that carry secrets (see ClientOptions::redact_secrets):
    /// guest-set-user-password's password, guest-file-write's data, guest-exec's input.
    bool redact_secrets = true;
};

/// A connection to the QEMU guest agent on a unix socket: QEMU's virtio-serial chardev for the
/// guest's agent, or qemu-ga itself (`qemu-ga --method=unix-listen --path=PATH`).
///
/// The agent speaks QMP's JSON without a greeting and without capabilities negotiation, and
/// its channel may hold stale bytes of an earlier client. So the client synchronises before
/// first use, and again after any timeout or unexpected data: it sends byte 0xFF and
/// guest-sync-delimited with a fresh random id, skips everything the agent sends up to its
/// 0xFF, and takes only the reply with that id (replies of earlier synchronisations are
/// dropped and counted by dropped_replies()).
///
///     qmp::GuestAgent agent;
///     agent.connect("unix:/run/vm/qga.sock");      // synchronised when it returns
///     qmp::json info = agent.execute("guest-info");
///
/// Errors are the qmp:: hierarchy as for Client: ExecuteError (the agent refused; usable),
/// TimeoutError (usable; the next command synchronises first), DisconnectedError and
/// ProtocolError (connect() again), ConnectError (connect() failed, or no agent answered).
///
/// \context Every member is \threadsafe except the destructor. Commands from several
/// threads are sent one at a time (the agent runs one at a time); disconnect() wakes a
/// blocked execute() or connect() with DisconnectedError (ConnectError).
class QMP_EXPORT GuestAgent {
public:
    /// A disconnected agent client with default options.
    GuestAgent();
    /// A disconnected agent client with the given options.
    /// \throws UsageError for option values that make no sense.
    explicit GuestAgent(GuestAgentOptions options);
    /// Disconnects; never waits for the agent.
    ~GuestAgent();
    GuestAgent(const GuestAgent&) = delete;
    GuestAgent& operator=(const GuestAgent&) = delete;

    /// Connects to \p address ("unix:/path", a plain path, or "tcp:HOST:PORT") and synchronises,
    /// within GuestAgentOptions::connect_timeout.
    /// \throws ConnectError when the socket cannot be reached or no agent answers in time (a
    /// guest whose agent is not running yet); UsageError if already connected.
    void connect(const std::string& address);

    /// Closes the connection; wakes every waiting call. Does nothing when not connected.
    void disconnect() noexcept;

    /// True between a successful connect() and the end of the connection. Never throws.
    bool is_connected() const;

    /// Runs \p command and returns the "return" member of the agent's reply, within the
    /// command's default timeout (see GuestAgentOptions).
    /// \throws ExecuteError, TimeoutError, DisconnectedError, ProtocolError, UsageError (as
    /// Client::execute()).
    json execute(const std::string& command, const json& arguments = json());
    /// As execute(command, arguments), within \p timeout (qmp::wait_forever: no limit).
    json execute(
        const std::string& command, const json& arguments, std::chrono::milliseconds timeout);

    /// Whether an agent answers a synchronisation within \p timeout: tells "no agent
    /// answering yet" (false) from "the agent answered" (true) without throwing for either.
    /// \throws DisconnectedError when not connected or the connection ends; TimeoutError when
    /// another thread's command keeps the channel busy for all of \p timeout (the agent may be
    /// answering it: no verdict on the agent).
    bool ping(std::chrono::milliseconds timeout);

    /// The address of the current (or last) connection, canonical; empty before connect().
    std::string address() const;

    /// Replies that arrived for nobody (late replies to timed-out commands, replies of earlier
    /// synchronisations), since construction. Each is also logged at warning level.
    std::uint64_t dropped_replies() const;

private:
    class QMP_NO_EXPORT Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace qmp
