// SPDX-License-Identifier: MIT
/// \file
/// qmp::Client, a blocking QMP client with a background reader thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <qmp/event.hpp>
#include <qmp/event_match.hpp>
#include <qmp/event_queue.hpp>
#include <qmp/export.hpp>
#include <qmp/job.hpp>
#include <qmp/json.hpp>
#include <qmp/options.hpp>
#include <qmp/pending_reply.hpp>
#include <qmp/schema.hpp>
#include <qmp/server.hpp>

namespace qmp {

/// A connection to one QMP monitor (QEMU, qemu-storage-daemon).
///
/// While connected, a reader thread owned by the client reads every message the peer sends,
/// hands each reply to the call waiting for its id and each event to events() and the listeners.
/// A thread blocked in execute() (or PendingReply::get()) does that reading itself while it waits
/// and no other thread is reading. There is no reader thread while disconnected. Reading never
/// waits for a consumer or for user code (except listen() predicates, see there), so a reply is
/// never held up by events.
///
/// Addresses accepted by connect():
///  - "/run/vm/qmp.sock" or "unix:/run/vm/qmp.sock": a unix socket path;
///  - "tcp:127.0.0.1:4444", "127.0.0.1:4444", "localhost:4444", "[::1]:4444": TCP.
///
/// Errors (see qmp/error.hpp): ExecuteError, TimeoutError and UsageError leave the client
/// connected and usable; DisconnectedError (and ProtocolError) mean the session is over, call
/// connect() to start another; ConnectError means connect() failed and the client is
/// disconnected. Every message starts with "qmp:" once and names one cause.
///
/// \context Every member is \threadsafe except the destructor and the moves, which must not
/// race with any other member (as for any C++ object) and must not be called from an event
/// callback. Any number of threads may call execute() and friends at once; each gets
/// exactly its own reply. disconnect() may be called while other threads are blocked in
/// execute(), connect() or events().pop(): they are woken, with DisconnectedError (ConnectError
/// for connect()). Calls made while another thread's connect() is in progress wait for it (within
/// their own timeout). One connect() runs at a time. User code runs only in on_event() callbacks
/// (on the dispatcher thread, under no lock of the client's) and in predicates given to listen()
/// and wait_for_event() (on the thread reading the connection: the reader thread, or a thread
/// blocked in execute()); EventMatch matching is library code. A moved-from Client is inert: its
/// calls throw DisconnectedError, is_connected() is false and disconnect() does nothing.
class QMP_EXPORT Client {
public:
    /// A disconnected client with default options.
    Client();
    /// A disconnected client with the given options.
    /// \throws UsageError for option values that make no sense (see ClientOptions).
    explicit Client(ClientOptions options);
    /// Disconnects (as disconnect()). Never waits for the peer.
    ~Client();

    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    /// Takes over \p other's connection, queues and callbacks; \p other becomes inert (its calls
    /// throw DisconnectedError). Allowed while no other thread uses either client.
    Client(Client&& other) noexcept;
    /// Ends this client as its destructor does, then takes over \p other's connection,
    /// queues and callbacks; \p other becomes inert. Allowed while no other thread uses either
    /// client.
    Client& operator=(Client&& other) noexcept;

    /// Connects to \p address, reads the greeting and negotiates capabilities (enabling "oob"
    /// when offered and ClientOptions::enable_oob), all within ClientOptions::connect_timeout.
    /// Events that arrive before or during the handshake are queued in events(). Request ids
    /// are unique for the client's whole life, so a reply meant for an earlier session (QEMU
    /// delivers those to the monitor's next client) is dropped, never taken for a new call's.
    /// \throws ConnectError on any failure, including disconnect() from another thread while
    /// connecting; the client is then disconnected.
    /// \throws UsageError if already connected (call disconnect() first) or the address cannot
    /// be parsed.
    void connect(const std::string& address);

    /// Waits for a peer to connect to \p server (QEMU started with
    /// `-chardev socket,...,server=off`), then reads the greeting and negotiates as connect()
    /// does; everything within ClientOptions::connect_timeout. address() is then "accepted
    /// from ADDRESS". After the session ends, accept() again takes the peer's next connection
    /// (QEMU's reconnect=N).
    /// \throws ConnectError when nobody connects in time, the peer sends no greeting in time,
    /// or disconnect() is called meanwhile; UsageError if already connected.
    void accept(Server& server);
    /// As accept(server), within \p timeout (qmp::wait_forever: no limit).
    void accept(Server& server, std::chrono::milliseconds timeout);

    /// Starts a session on \p fd, a connected stream socket (unix or TCP, found from the socket
    /// itself), e.g. one end of a socketpair whose other end QEMU got as
    /// `-chardev socket,id=mon0,fd=N`. The client owns \p fd from this call on and closes it
    /// when the session ends, also when this throws. Greeting and negotiation as connect(),
    /// within ClientOptions::connect_timeout; fd passing works on a unix socket. address() is
    /// then "fd:N".
    /// \throws ConnectError if \p fd is not a connected stream socket, or as connect().
    void connect_fd(int fd);

    /// Closes the connection: every blocked execute() and events().pop() is woken with
    /// DisconnectedError, the reader thread is joined and the socket closed. Ends a connect() in
    /// progress in another thread (it throws ConnectError). Does nothing when not connected.
    /// Never waits for the peer.
    void disconnect() noexcept;

    /// True between a successful connect() and the end of the connection (disconnect(), peer
    /// hang-up, protocol error).
    /// Throws no qmp exception (false on a moved-from Client).
    bool is_connected() const;

    /// Where the connection stands; see ClientOptions::reconnect and on_state_change.
    /// Throws no qmp exception (disconnected on a moved-from Client).
    ConnectionState state() const;

    /// The greeting of the current (or last) session.
    /// \throws DisconnectedError if connect() never succeeded.
    Greeting greeting() const;

    /// Runs \p command with \p arguments (a JSON object; null or empty means none) and returns
    /// the "return" member of QEMU's reply, waiting at most ClientOptions::command_timeout (or
    /// the command's entry in ClientOptions::command_timeouts).
    /// 'quit' also succeeds when QEMU closes the connection instead of replying (it may), but
    /// not when another thread's disconnect() or a protocol error ended the session.
    /// \throws ExecuteError if QEMU answered with an error.
    /// \throws TimeoutError if no reply came in time. QEMU may still run the command; its late
    /// reply is dropped and counted (dropped_replies()). To keep waiting instead, use
    /// execute_async() and PendingReply::wait_for(). The message says all of this.
    /// \throws DisconnectedError if not connected or the connection ends while waiting.
    /// \throws ProtocolError if the peer broke the protocol while waiting.
    /// \throws UsageError if \p arguments is neither null nor an object.
    json execute(const std::string& command, const json& arguments = json());

    /// As execute(command, arguments), waiting at most \p timeout (qmp::wait_forever: no limit).
    json execute(
        const std::string& command, const json& arguments, std::chrono::milliseconds timeout);

    /// As execute(command, arguments) with per-call settings: timeout and out-of-band.
    json execute(const std::string& command, const json& arguments, const ExecOptions& options);

    /// Sends \p command and returns at once, never waiting for the peer; collect the reply with
    /// PendingReply::get(). Lets one thread keep many commands in flight. With OOB negotiated at
    /// most ClientOptions::oob_in_band_limit in-band commands are in flight: later ones wait, in
    /// order, in a queue inside the client and are sent as replies make room, each within its
    /// own timeout (counted from this call).
    /// \throws what execute() throws before its reply is awaited (not connected, bad
    /// arguments).
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
    /// \throws DisconnectedError on a moved-from Client (and nothing else).
    EventQueue& events();

    /// A new queue that receives a copy of every later event named in \p names (all events when
    /// empty), with its own capacity (ClientOptions::event_queue_capacity) and drop count.
    /// Destroying it unsubscribes. Create it *before* sending the command whose event you await:
    /// nothing is missed then.
    /// \throws DisconnectedError on a moved-from Client (and nothing else).
    EventQueue listen(std::vector<std::string> names);

    /// As listen(std::vector<std::string>), for a braced list of names: `listen({"STOP"})`.
    EventQueue listen(std::initializer_list<std::string> names);

    /// A new queue that receives a copy of every later event that \p match matches (see
    /// EventMatch), e.g. `listen(qmp::EventMatch{"BLOCK_JOB_READY", {{"device", "m0"}}})`. The
    /// matching runs in the library as events are read, never user code. Otherwise as
    /// listen(names).
    EventQueue listen(const EventMatch& match);

    /// As listen(names) with a predicate. \p accept runs for every event on the thread reading
    /// the connection (the reader thread, or a thread blocked in execute() or
    /// PendingReply::get() that reads while it waits): it must be quick and must not call into
    /// the client (replies wait while it runs; a command it runs would time out). If it
    /// throws, the event is not delivered to this listener (and the exception is logged).
    /// \throws DisconnectedError on a moved-from Client (and nothing else).
    EventQueue listen(std::function<bool(const Event&)> accept);

    /// Runs \p command and waits for the event \p event_name that it causes, race-free (the
    /// listener exists before the command is sent). \p timeout bounds both together.
    /// \returns the event. \throws TimeoutError if the event does not come in time; otherwise
    /// as execute().
    Event execute_and_wait(const std::string& command, const json& arguments,
        const std::string& event_name, std::chrono::milliseconds timeout);

    /// Runs \p command and waits for the first later event that \p match matches, race-free: the
    /// listener exists before the command is sent, so an event QEMU sends before the reply
    /// (`stop` → STOP) is not missed, and an event received before this call never counts.
    /// \p timeout bounds the command and the wait together:
    /// `execute_and_wait("migrate", {{"uri", uri}}, qmp::EventMatch{"MIGRATION", {{"status",
    /// "completed"}}}, std::chrono::seconds(30))`.
    /// \returns the event. \throws TimeoutError if the command's reply or the event does not
    /// come in time; otherwise as execute().
    Event execute_and_wait(const std::string& command, const json& arguments,
        const EventMatch& match, std::chrono::milliseconds timeout);

    /// As execute_and_wait(command, arguments, match, timeout) for the first event that any of
    /// \p matches matches (the returned event shows which).
    /// \throws UsageError if \p matches is empty.
    Event execute_and_wait(const std::string& command, const json& arguments,
        const std::vector<EventMatch>& matches, std::chrono::milliseconds timeout);

    /// Waits for the first event that \p match matches, counting from this call on (an event
    /// received before it never counts), e.g.
    /// `wait_for_event(qmp::EventMatch{"DEVICE_DELETED", {{"device", "net0"}}}, 5s)`.
    /// \throws TimeoutError after \p timeout (qmp::wait_forever: no limit); DisconnectedError
    /// when the connection ends first.
    Event wait_for_event(const EventMatch& match, std::chrono::milliseconds timeout);

    /// As wait_for_event(match, timeout) for the first event that any of \p matches matches:
    /// `wait_for_event({qmp::EventMatch{"GUEST_PANICKED"}, qmp::EventMatch{"SHUTDOWN"}}, 60s)`.
    /// The returned event shows which.
    /// \throws UsageError if \p matches is empty.
    Event wait_for_event(const std::vector<EventMatch>& matches, std::chrono::milliseconds timeout);

    /// Waits for the next event named \p name for which \p accept (may be empty) returns true,
    /// counting from this call on. \p accept runs where a listen() predicate runs: quick, and
    /// never calling into the client.
    /// \throws TimeoutError after \p timeout; DisconnectedError when the connection ends first.
    Event wait_for_event(const std::string& name, std::function<bool(const Event&)> accept,
        std::chrono::milliseconds timeout);

    /// Starts a QEMU job with \p command (blockdev-mirror, blockdev-backup, block-commit,
    /// block-stream, drive-mirror, drive-backup, snapshot-save, snapshot-load, snapshot-delete,
    /// blockdev-create, ...) and returns it, watched from before the command is sent so no
    /// status change is missed (see Job). \p arguments must name the job with a string
    /// "job-id". \p options bounds the command's reply, as for execute().
    /// \throws UsageError if \p arguments has no string "job-id" (nothing is sent); otherwise
    /// as execute() (ExecuteError when QEMU refuses to start the job).
    Job start_job(
        const std::string& command, const json& arguments, const ExecOptions& options = {});

    /// Identifies a callback registered with on_event().
    using CallbackId = std::uint64_t;

    /// Calls \p callback with every later event, on a dispatcher thread owned by the client
    /// (never the reader thread), in order. A callback may call execute() and other members
    /// except the destructor; one that throws is logged and the others still run. Callbacks
    /// stay registered across reconnects and run until remove_callback() or the Client's
    /// destruction (also for the SHUTDOWN event of 'quit'), so what a callback captures must
    /// outlive the Client or the registration.
    /// \throws DisconnectedError on a moved-from Client (and nothing else).
    CallbackId on_event(std::function<void(const Event&)> callback);

    /// Unregisters a callback. When it returns, the callback is not running and will not run
    /// again (unless called from that very callback, which is allowed).
    /// \throws DisconnectedError on a moved-from Client (and nothing else).
    void remove_callback(CallbackId id);

    /// The server's schema (query-qmp-schema), fetched once per connection and kept.
    /// \throws as execute().
    std::shared_ptr<const Schema> schema();

    /// The address given to the current (or last) connect(), in canonical form
    /// ("unix:/path" or "tcp:host:port"); empty before the first connect().
    /// Throws no qmp exception (empty on a moved-from Client).
    std::string address() const;

    /// Replies that arrived with an id nobody waits for (late replies to timed-out calls,
    /// stale replies meant for a previous client of the monitor), since the client was created.
    /// Each is also logged at warning level.
    /// Throws no qmp exception (0 on a moved-from Client).
    std::uint64_t dropped_replies() const;

    /// The options the client was created with.
    /// \throws DisconnectedError on a moved-from Client (and nothing else).
    const ClientOptions& options() const;

private:
    class QMP_NO_EXPORT Impl;
    Impl& impl() const;
    std::unique_ptr<Impl> impl_;
};

} // namespace qmp
