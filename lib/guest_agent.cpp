// SPDX-License-Identifier: MIT
// The guest agent facade, and the agent's protocol over a session: no greeting, and
// synchronisation with guest-sync-delimited whenever the stream may be out of step.
#include <qmp/error.hpp>
#include <qmp/guest_agent.hpp>

#include <atomic>
#include <condition_variable>
#include <random>

#include "address.hpp"
#include "facade_shared.hpp"
#include "log.hpp"
#include "qmp_protocol.hpp"
#include "session.hpp"
#include "text.hpp"
#include "transport.hpp"

namespace qmp {

using detail::Clock;

namespace {

void check_options(const GuestAgentOptions& options)
{
    const auto fail = [](const std::string& what) {
        detail::invalid_options("GuestAgentOptions", what);
    };
    if (options.connect_timeout.count() <= 0)
        fail("connect_timeout must be positive");
    detail::check_shared_options("GuestAgentOptions", options);
    if (options.no_reply_wait.count() <= 0)
        fail("no_reply_wait must be positive");
}

// Commands that send no reply when they succeed.
bool replies_only_on_error(const std::string& command)
{
    return command == "guest-shutdown" || command == "guest-suspend-disk" ||
        command == "guest-suspend-ram" || command == "guest-suspend-hybrid";
}

// The agent's rules for what the session cannot route by id: nothing is a greeting, and an
// error without an id (the agent could not parse something) means the stream may be out of
// step: the next command synchronises first. Never fatal: the agent recovers by itself.
class AgentRules : public detail::SessionRules {
public:
    AgentRules(std::shared_ptr<spdlog::logger> logger, std::atomic<bool>& needs_sync)
        : logger_(std::move(logger)), needs_sync_(needs_sync)
    {
    }
    void on_unrouted(json&&, std::string_view text) override
    {
        needs_sync_ = true;
        logger_->warn("guest agent: unexpected message (will synchronise before the next "
                      "command): {}",
            detail::excerpt(text));
    }
    void on_end(const detail::SessionEnd&) noexcept override { }

private:
    const std::shared_ptr<spdlog::logger> logger_;
    std::atomic<bool>& needs_sync_;
};

} // namespace

class QMP_NO_EXPORT GuestAgent::Impl {
public:
    explicit Impl(GuestAgentOptions options)
        : options_((check_options(options), std::move(options))),
          shared_(std::make_shared<detail::SessionShared>(detail::logger_or_null(options_.logger))),
          random_(std::random_device{}())
    {
    }

    ~Impl() { disconnect(); }

    void connect(const std::string& text)
    {
        const detail::Address address = detail::parse_address(text);
        const std::string peer = address.to_string();
        const std::shared_ptr<detail::Canceller> cancel = detail::connect_canceller(peer);
        std::shared_ptr<detail::Session> previous;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (cancel_ || (session_ && session_->is_open()))
                throw UsageError("qmp: the guest agent client is already connected (or "
                                 "connecting) to " +
                    address_ + "; call disconnect() first");
            previous = std::move(session_);
            cancel_ = cancel;
            address_ = peer;
        }
        if (previous)
            previous->close_and_join("disconnected");
        std::shared_ptr<detail::Session> session;
        try {
            const auto deadline = detail::deadline_after(options_.connect_timeout);
            detail::Fd socket = detail::connect_with_retries(address, detail::TcpSettings{},
                std::chrono::milliseconds(0), options_.connect_timeout, deadline, *cancel);
            session = std::make_shared<detail::Session>(detail::Transport(std::move(socket), peer),
                detail::SessionLimits{options_.max_message_size, options_.max_nesting_depth,
                    options_.redact_secrets, true},
                shared_, std::make_shared<AgentRules>(shared_->logger, needs_sync_));
            {
                std::lock_guard<std::mutex> lock(mutex_);
                detail::throw_if_cancelled(*cancel, peer);
                session_ = session;
            }
            session->start(reader_);
            bool answered;
            try {
                answered = synchronise(*session, deadline);
            } catch (const DisconnectedError&) {
                const auto end = session->end();
                throw ConnectError("qmp: " + peer + ": " +
                    (end ? end->reason : std::string("the connection ended")) +
                    " while synchronising with the guest agent");
            } catch (const ExecuteError& e) {
                throw ConnectError(
                    "qmp: " + peer + ": the guest agent refused to synchronise: " + e.what());
            }
            if (!answered)
                throw ConnectError("qmp: no answer from a guest agent at " + peer + " within " +
                    detail::ms_text(options_.connect_timeout) +
                    " (is the agent running in the guest?)");
            std::lock_guard<std::mutex> lock(mutex_);
            detail::throw_if_cancelled(*cancel, peer);
            cancel_.reset();
        } catch (...) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (session_ == session)
                    session_.reset();
                cancel_.reset();
            }
            detail::end_failed_connect(session, *cancel, peer);
        }
    }

    void disconnect() noexcept
    {
        std::shared_ptr<detail::Session> session;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (cancel_)
                cancel_->cancel();
            session = cancel_ ? session_ : std::move(session_);
        }
        if (session)
            session->close_and_join("disconnected by the client");
    }

    bool is_connected() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return !cancel_ && session_ && session_->is_open();
    }

    json execute(const std::string& command, const json& arguments,
        std::optional<std::chrono::milliseconds> timeout)
    {
        if (!timeout)
            timeout = detail::default_timeout(options_, command);
        const auto deadline = detail::deadline_after(*timeout);
        const auto session = current(command);
        Turn turn(*this, command, deadline, *timeout);
        if (needs_sync_ && !synchronise(*session, deadline))
            throw TimeoutError("qmp: '" + command + "' on " + session->peer() +
                ": the guest agent did not answer a synchronisation within " +
                detail::ms_text(*timeout));

        detail::Request request;
        request.command = command;
        request.arguments = &arguments;
        request.timeout = *timeout;
        request.deadline = deadline;
        const bool quiet_success = replies_only_on_error(command);
        if (quiet_success && options_.no_reply_wait < *timeout) {
            request.timeout = options_.no_reply_wait;
            request.deadline = detail::deadline_after(options_.no_reply_wait);
        }
        auto call = session->submit(std::move(request));
        try {
            return detail::qmp_result(command, session->wait(*call));
        } catch (const TimeoutError&) {
            if (quiet_success)
                return json::object(); // silence: it is shutting down or suspending
            needs_sync_ = true; // its late reply could come at any time
            throw;
        } catch (const ProtocolError&) {
            throw;
        } catch (const DisconnectedError&) {
            const auto end = session->end();
            if (quiet_success && end && end->by_peer())
                return json::object(); // the agent went away with the guest
            throw;
        }
    }

    bool ping(std::chrono::milliseconds timeout)
    {
        const auto deadline = detail::deadline_after(timeout);
        const auto session = current("guest-sync-delimited");
        Turn turn(*this, "guest-sync-delimited", deadline, timeout);
        return synchronise(*session, deadline);
    }

    std::string address() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return address_;
    }

    std::uint64_t dropped_replies() const { return shared_->dropped_replies; }

private:
    // One command at a time on the channel: the agent runs one at a time, and a
    // synchronisation must not discard another command's reply. Waiting for the turn counts
    // against the call's own timeout.
    class Turn {
    public:
        Turn(Impl& impl, const std::string& command, Clock::time_point deadline,
            std::chrono::milliseconds timeout)
            : impl_(impl)
        {
            std::unique_lock<std::mutex> lock(impl_.turn_mutex_);
            const auto free = [this] { return !impl_.busy_; };
            if (!detail::wait_with_deadline(impl_.turn_free_, lock, deadline, free))
                throw TimeoutError("qmp: '" + command +
                    "': the guest agent was busy with "
                    "another command for " +
                    detail::ms_text(timeout));
            impl_.busy_ = true;
        }
        ~Turn()
        {
            {
                std::lock_guard<std::mutex> lock(impl_.turn_mutex_);
                impl_.busy_ = false;
            }
            impl_.turn_free_.notify_one();
        }
        Turn(const Turn&) = delete;
        Turn& operator=(const Turn&) = delete;

    private:
        Impl& impl_;
    };

    std::shared_ptr<detail::Session> current(const std::string& command) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (cancel_ || !session_)
            throw DisconnectedError("qmp: '" + command + "': the guest agent is not connected" +
                (address_.empty() ? std::string() : " (last: " + address_ + ")"));
        return session_;
    }

    // Byte 0xFF, then guest-sync-delimited with a fresh id; everything up to the agent's 0xFF
    // is skipped by the session. \returns false when no answer came before \p deadline.
    bool synchronise(detail::Session& session, Clock::time_point deadline)
    {
        const std::uint64_t token = std::uniform_int_distribution<std::uint64_t>(
            1, (std::uint64_t(1) << 53) - 1)(random_); // exact in a double, as QEMU keeps ints
        // The request id carries the token too: every client numbers its requests from 1, and a
        // reply to an earlier client's synchronisation (still in the channel of a guest whose
        // agent was slow to answer) must be dropped as stale, not taken for ours.
        const json message = {{"execute", "guest-sync-delimited"}, {"arguments", {{"id", token}}},
            {"id", "sync-" + std::to_string(token)}};
        detail::Request request;
        request.message = &message;
        request.prefix.assign(1, detail::sync_delimiter);
        request.deadline = deadline;
        request.timeout = detail::wait_left(deadline, std::chrono::milliseconds(1));
        session.discard_until_delimiter();
        auto call = session.submit(std::move(request));
        json answer;
        try {
            answer = detail::qmp_result("guest-sync-delimited", session.wait(*call));
        } catch (const TimeoutError&) {
            needs_sync_ = true;
            return false;
        }
        if (answer != token) {
            shared_->logger->warn("{}: guest-sync-delimited answered {} instead of {}",
                session.peer(), answer.dump(), token);
            needs_sync_ = true;
            return false;
        }
        needs_sync_ = false;
        // Replies to what timed out before were skipped with everything before the agent's
        // 0xFF: without this, every ping to a guest without a running agent would stay behind.
        session.forget_abandoned();
        return true;
    }

    const GuestAgentOptions options_;
    const std::shared_ptr<detail::SessionShared> shared_;
    const std::shared_ptr<detail::ReaderThread> reader_ = std::make_shared<detail::ReaderThread>();
    std::atomic<bool> needs_sync_{true};
    std::mt19937_64 random_; // used during a Turn only

    mutable std::mutex mutex_; // guards the members below
    std::shared_ptr<detail::Canceller> cancel_; // while connecting
    std::shared_ptr<detail::Session> session_;
    std::string address_;

    std::mutex turn_mutex_;
    std::condition_variable turn_free_;
    bool busy_ = false;
};

GuestAgent::GuestAgent() : GuestAgent(GuestAgentOptions{})
{
}
GuestAgent::GuestAgent(GuestAgentOptions options)
    : impl_(std::make_unique<Impl>(std::move(options)))
{
}
GuestAgent::~GuestAgent() = default;

void GuestAgent::connect(const std::string& address)
{
    impl_->connect(address);
}

void GuestAgent::disconnect() noexcept
{
    impl_->disconnect();
}

bool GuestAgent::is_connected() const
{
    return impl_->is_connected();
}

json GuestAgent::execute(const std::string& command, const json& arguments)
{
    return impl_->execute(command, arguments, std::nullopt);
}

json GuestAgent::execute(
    const std::string& command, const json& arguments, std::chrono::milliseconds timeout)
{
    return impl_->execute(command, arguments, timeout);
}

bool GuestAgent::ping(std::chrono::milliseconds timeout)
{
    return impl_->ping(timeout);
}

std::string GuestAgent::address() const
{
    return impl_->address();
}

std::uint64_t GuestAgent::dropped_replies() const
{
    return impl_->dropped_replies();
}

} // namespace qmp
