// SPDX-License-Identifier: MIT
// The session layer: one connected transport, the reader thread that serves it, the calls
// waiting for replies, flow control, and the fan-out of events. It knows messages as JSON
// objects with an "id" or an "event"; everything else is the protocol's business (SessionRules).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <qmp/json.hpp>
#include <spdlog/logger.h>

#include "call.hpp"
#include "event_router.hpp"
#include "reader_thread.hpp"
#include "transport.hpp"

namespace qmp::detail {

/// The peer broke the rules (thrown by the framer's caller or a protocol's rules on the reader
/// thread): the session ends with a ProtocolError. The message has no "qmp:" prefix.
class PeerError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// How a session ended.
struct SessionEnd {
    enum class Kind { peer_closed, peer_reset, io_error, protocol_error, closed_by_client };
    Kind kind = Kind::closed_by_client;
    std::string reason; ///< without the "qmp: PEER:" prefix

    /// The peer hung up (closed or reset): what a command that ends the peer can expect.
    bool by_peer() const { return kind == Kind::peer_closed || kind == Kind::peer_reset; }
};

/// What the protocol above a session decides. Called by the thread holding the reading role
/// (the reader thread, or a caller reading for itself in wait()), except on_end().
class SessionRules {
public:
    virtual ~SessionRules() = default;
    /// A message that is neither an event nor a reply to a pending call: a greeting, an error
    /// without an id, anything else; \p text is how it arrived (for messages: a deep tree must
    /// not be serialised again). Throw PeerError to end the session.
    virtual void on_unrouted(json&& message, std::string_view text) = 0;
    /// The session ended (exactly once, on whichever thread ended it).
    virtual void on_end(const SessionEnd& end) noexcept = 0;
};

/// What outlives one session of a Client: the event queues, request ids unique for the
/// client's whole life, and the count of dropped replies.
struct SessionShared {
    explicit SessionShared(std::shared_ptr<spdlog::logger> log) : logger(log), router(log) { }
    std::shared_ptr<spdlog::logger> logger;
    EventRouter router;
    std::atomic<std::uint64_t> next_id{0};
    std::atomic<std::uint64_t> dropped_replies{0};
    /// While set, a session that ends unexpectedly leaves the event queues open (the client
    /// reconnects); an end the client asked for still closes them.
    std::atomic<bool> queues_stay_open{false};
};

/// Limits a session applies to what the peer sends.
struct SessionLimits {
    std::size_t max_message_size = 0;
    std::size_t max_depth = 0;
    bool redact_secrets = true;
    /// The guest agent's rule: a byte 0xFF from the peer ends whatever came before it (a
    /// partial message is dropped) and is itself skipped.
    bool delimiter_resets = false;
};

/// The byte the guest agent writes before the reply to guest-sync-delimited.
inline constexpr char sync_delimiter = '\xff';

/// One session on one transport.
///
/// The thread holding the reading role (the reader thread, or a caller waiting in wait())
/// frames each message, parses it once, and routes it: an event to the router, a reply to the
/// call registered under its id, anything else to the rules. Requests are written by the thread
/// that submits them when there is room (flow control) and the socket takes them at once;
/// otherwise they wait in order, and the reading role writes them as replies make room and the
/// socket drains. So submit() never waits for the peer.
/// When the stream ends (EOF, reset, protocol error, close()) every call is failed with one
/// cause, exactly once, and the event queues are closed.
///
/// Thread safety: every member is thread-safe; the destructor joins the reader.
class Session : public std::enable_shared_from_this<Session> {
public:
    Session(Transport transport, SessionLimits limits, std::shared_ptr<SessionShared> shared,
        std::shared_ptr<SessionRules> rules);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    /// Hands the session to \p reader, which reads it from now until it ends.
    void start(std::shared_ptr<ReaderThread> reader);

    /// The reader's work until the session ends (ReaderThread calls it).
    void read_loop() noexcept;

    /// Before start() only: does the reader's work on the calling thread until \p done()
    /// (checked after each read) or \p deadline, so that a handshake needs no thread hops.
    /// \returns whether \p done() became true; false also when the session ended.
    bool pump_until(const std::function<bool()>& done, Clock::time_point deadline);

    /// Registers and sends (or queues) a request. Never waits for the peer.
    /// \throws UsageError for a bad request; DisconnectedError/ProtocolError when closed.
    std::shared_ptr<Call> submit(Request request);

    /// Waits for \p call's reply message until its deadline, reading the socket itself while
    /// no other thread holds the reading role (read_for()). On timeout the call is abandoned
    /// (removed unsent if it was never written) and TimeoutError thrown.
    /// \throws DisconnectedError/ProtocolError as the session ended.
    json wait(Call& call);

    /// Forgets \p call: a reply that comes later is dropped (quietly when \p quiet); if it was
    /// never written, it never will be.
    void abandon(Call& call, bool quiet) noexcept;

    /// Forgets the calls that were abandoned after being sent: their replies can no longer come
    /// (the guest agent's synchronisation succeeded, and everything it sent before its 0xFF was
    /// skipped), so they would otherwise wait in the pending table forever.
    void forget_abandoned();

    /// From now on, every byte read is discarded up to and including the next sync_delimiter
    /// (the guest agent's synchronisation; needs SessionLimits::delimiter_resets).
    void discard_until_delimiter();

    /// After negotiation: at most \p in_band_limit in-band calls in flight (0: no limit), and
    /// whether exec-oob may be used.
    void set_flow_control(std::size_t in_band_limit, bool oob);

    /// Ends the session (only the first call counts) and wakes every waiter and the reader.
    void close(SessionEnd::Kind kind, const std::string& reason) noexcept;
    /// close() by the client, then waits until the reader is done with the session (unless
    /// called on the reader).
    void close_and_join(const std::string& reason) noexcept;

    bool is_open() const;
    /// How the session ended; empty while open.
    std::optional<SessionEnd> end() const;
    const std::string& peer() const { return transport_.peer(); }

    /// The members of a message the session routes by (session.cpp).
    struct Members;

private:
    struct Outgoing {
        std::shared_ptr<Call> call;
        std::string bytes;
        Fd fd; // passed with the first byte, then closed
        std::size_t sent = 0;
    };

    /// One round of the reading role's work: wait for the socket (or a wake-up) until \p until,
    /// then write what the socket takes and read what came. Takes reading_ for the work unless
    /// the calling thread holds it for \p reading_for, whose caller stops reading as soon as
    /// that call is complete. \returns false once the session ended.
    bool turn(Clock::time_point until, const Call* reading_for) noexcept;
    /// While \p call's caller is the only one reading, it reads for itself (see wait()).
    void read_for(const Call& call);
    /// Reads until the socket is empty, or (for a caller reading for itself) \p reading_for
    /// is complete.
    void read_available(class Framer& framer, const Call* reading_for);
    void feed(Framer& framer, const char* data, std::size_t size);
    void handle_message(std::string_view text);
    void route(json&& message, const Members& members, std::string_view text);
    void deliver_event(json&& message, const Members& members);
    void flush_events();
    bool has_room_locked(const Call& call) const;
    void admit_locked(Outgoing&& out);
    bool release_locked(Call& call);
    bool take_writer_locked();
    void write_queued(bool reading_role);
    /// write_queued() with mutex_ held by \p lock, which may be released on return.
    void write_queued(std::unique_lock<std::mutex>& lock, bool reading_role);
    void expire_blocked_write();
    /// Why the session ends when \p out timed out half-written.
    static std::string cut_short(const Outgoing& out);
    std::exception_ptr closed_error_locked(const Call& call) const;

    Transport transport_;
    const SessionLimits limits_;
    const std::shared_ptr<SessionShared> shared_;
    const std::shared_ptr<SessionRules> rules_;
    spdlog::logger& log_;
    Fd wake_; // an eventfd: the reader's poll() also watches it
    // The reading role: whoever holds it frames, parses and routes what the socket brings, and
    // writes what waits for the socket to drain. The reader thread takes it for each read; a
    // thread waiting in wait() holds it while it waits, so that its reply needs no hand-off
    // between threads. framer_ and event_batch_ belong to the holder.
    std::mutex reading_;
    std::unique_ptr<class Framer> framer_;

    mutable std::mutex mutex_; // guards everything below
    std::unordered_map<std::string, std::shared_ptr<Call>> pending_;
    std::deque<Outgoing> waiting_; // no room yet, in submission order
    std::deque<Outgoing> outbox_; // room taken, to be written in order (only the writer pops)
    bool writer_busy_ = false; // a thread is writing the outbox
    bool write_blocked_ = false; // the socket is full: the reading role writes when it drains
    std::size_t in_band_limit_ = 0;
    std::size_t in_band_in_flight_ = 0;
    bool fd_in_flight_ = false; // QEMU keeps only the latest passed fd: one at a time
    bool oob_ = false;
    std::optional<SessionEnd> end_;

    std::vector<Event> event_batch_; // the reading role's, until flush_events()
    std::atomic<bool> discarding_{false}; // see discard_until_delimiter()

    std::mutex join_mutex_; // guards reader_
    std::shared_ptr<ReaderThread> reader_;
};

} // namespace qmp::detail
