// SPDX-License-Identifier: MIT
/// \file
/// qmp::Client, a blocking QMP client with a background reader thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <qmp/event.hpp>
#include <qmp/event_queue.hpp>
#include <qmp/export.hpp>
#include <qmp/json.hpp>
#include <qmp/options.hpp>
#include <qmp/pending_reply.hpp>
#include <qmp/schema.hpp>

namespace qmp {

/// A connection to one QMP monitor (QEMU, qemu-storage-daemon).
///
/// While connected, a reader thread owned by the client reads every message the peer sends,
/// hands each reply to the execute() call waiting for its id and each event to events(). There is
/// no reader thread while disconnected. Large replies (4 KiB and more, in the shape QEMU writes
/// them) are parsed by the thread that waits for them rather than by the reader, so that their
/// json tree is allocated and freed on one thread; a malformed one is then found there, and ends
/// the session as it would on the reader (ProtocolError for that call, every other waiter woken).
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
/// Thread safety: execute(), execute_async(), execute_raw(), execute_with_fd(),
/// execute_and_wait(), wait_for_event(), events(), listen(), on_event(), remove_callback(),
/// schema(), is_connected(), address() and dropped_replies() are thread-safe: any number of threads
/// may call them at once and each execute() gets exactly its own reply. disconnect() is thread-safe
/// and may be called while other threads are blocked in execute() or events().pop(): they are woken
/// with DisconnectedError. connect() and greeting() must not race with each other or with another
/// connect(); the destructor must not race with any other member (as for any C++ object), and must
/// not be called from an event callback. User code runs only in on_event() callbacks (on the
/// dispatcher thread, under no lock of the client's) and listen() predicates (on the reader
/// thread).
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

    /// The greeting of the current (or last) session.
    /// \throws DisconnectedError if connect() never succeeded.
    Greeting greeting() const;

    /// Runs \p command with \p arguments (a JSON object; null or empty means none) and returns
    /// the "return" member of QEMU's reply, waiting at most ClientOptions::command_timeout.
    /// \throws ExecuteError if QEMU answered with an error.
    /// \throws TimeoutError if no reply came in time (the late reply will be dropped).
    /// \throws DisconnectedError if not connected or the connection ends while waiting.
    /// \throws ProtocolError if the peer broke the protocol while waiting.
    /// \throws UsageError if \p arguments is neither null nor an object.
    json execute(const std::string& command, const json& arguments = json());

    /// As execute(command, arguments), waiting at most \p timeout (qmp::wait_forever: no limit).
    json execute(
        const std::string& command, const json& arguments, std::chrono::milliseconds timeout);

    /// As execute(command, arguments) with per-call settings: timeout and out-of-band.
    json execute(const std::string& command, const json& arguments, const ExecOptions& options);

    /// Sends \p command and returns at once; collect the reply with PendingReply::get(). Lets one
    /// thread keep many commands in flight. With OOB negotiated at most
    /// ClientOptions::oob_in_band_limit in-band commands are in flight; beyond that this call
    /// waits for room (bounded by the timeout).
    /// \throws what execute() throws before its reply is awaited (not connected, cannot send,
    /// bad arguments).
    PendingReply execute_async(const std::string& command, const json& arguments = json(),
        const ExecOptions& options = {});

    /// Sends \p message exactly as given (an object with "execute" or "exec-oob"; a string "id"
    /// of the caller's is kept, else one is added) and returns the whole reply message, error
    /// replies included — for tools, tests and commands this API does not model.
    /// \throws UsageError for a non-string id or one that clashes with a command in flight;
    /// TimeoutError, DisconnectedError, ProtocolError as execute().
    json execute_raw(const json& message, const ExecOptions& options = {});

    /// Runs \p command with \p fd passed along (SCM_RIGHTS on the command's own bytes), e.g.
    /// "getfd" {"fdname": "x"} or "add-fd". The caller keeps ownership of \p fd; QEMU gets a
    /// duplicate. Such commands are sent one at a time (the next only after the previous one's
    /// reply), because QEMU keeps only the latest unclaimed fd.
    /// \throws UsageError on a TCP connection; otherwise as execute().
    json execute_with_fd(
        const std::string& command, const json& arguments, int fd, const ExecOptions& options = {});

    /// The events received from the peer: every event, in order. The same object for the
    /// client's whole life.
    EventQueue& events();

    /// A new queue that receives a copy of every later event named in \p names (all events when
    /// empty), with its own capacity (ClientOptions::event_queue_capacity) and drop count.
    /// Destroying it unsubscribes. Create it *before* sending the command whose event you await:
    /// nothing is missed then.
    EventQueue listen(std::vector<std::string> names);

    /// As listen(names) with a predicate. \p accept runs on the reader thread for every event:
    /// it must be quick and must not call into the client. If it throws, the event is not
    /// delivered to this listener (and the exception is logged).
    EventQueue listen(std::function<bool(const Event&)> accept);

    /// Runs \p command and waits for the event \p event_name that it causes, race-free (the
    /// listener exists before the command is sent). \p timeout bounds both together.
    /// \returns the event. \throws TimeoutError if the event does not come in time; otherwise
    /// as execute().
    Event execute_and_wait(const std::string& command, const json& arguments,
        const std::string& event_name, std::chrono::milliseconds timeout);

    /// Waits for the next event named \p name for which \p accept (may be empty) returns true,
    /// counting from this call on. \throws TimeoutError after \p timeout; DisconnectedError when
    /// the connection ends first.
    Event wait_for_event(const std::string& name, std::function<bool(const Event&)> accept,
        std::chrono::milliseconds timeout);

    /// Identifies a callback registered with on_event().
    using CallbackId = std::uint64_t;

    /// Calls \p callback with every later event, on a dispatcher thread owned by the client
    /// (never the reader thread), in order. A callback may call execute() and other members
    /// except the destructor; one that throws is logged and the others still run. Callbacks
    /// stay registered across reconnects and run until remove_callback() or the Client's
    /// destruction (also for the SHUTDOWN event of 'quit'), so what a callback captures must
    /// outlive the Client or the registration.
    CallbackId on_event(std::function<void(const Event&)> callback);

    /// Unregisters a callback. When it returns, the callback is not running and will not run
    /// again (unless called from that very callback, which is allowed).
    void remove_callback(CallbackId id);

    /// The server's schema (query-qmp-schema), fetched once per connection and kept.
    /// \throws as execute().
    std::shared_ptr<const Schema> schema();

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
    Impl& impl() const;
    std::unique_ptr<Impl> impl_;
};

} // namespace qmp
