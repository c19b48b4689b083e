// SPDX-License-Identifier: MIT
// The Client's contract, as regression tests against the public API and the scripted fake peer:
// replies never wait for event consumers, execute_async() never waits for the peer, a reply
// without "return" or "error" ends its call, disconnect() ends a connect() in progress, a full
// unix backlog is named as such, request ids are unique for the client's life, one "qmp:" per
// message, 'quit' succeeds only when the peer ends the session, a moved-from Client is inert, and
// options that make no sense are refused at construction.
//
// Every wait is bounded (futures with wait_for, pop(timeout), the fake peer's timed reads), so a
// test that catches a defect fails within seconds instead of hanging the binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <poll.h>
#include <set>
#include <string>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include <qmp/qmp.hpp>

#include "call_outcome.hpp"
#include "scripted_fake.hpp"
#include "temp_dir.hpp"
#include "unix_socket.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::capture;
using qmp::test::contains;
using qmp::test::current_tid;
using qmp::test::FakeConnection;
using qmp::test::finish;
using qmp::test::MissingSocket;
using qmp::test::ms_between;
using qmp::test::ms_since;
using qmp::test::occurrences;
using qmp::test::Outcome;
using qmp::test::quick_options;
using qmp::test::ready_within;
using qmp::test::ScriptedQemu;
using qmp::test::slack;
using qmp::test::start;
using qmp::test::thread_state;
using qmp::test::wait_until;
using TempDir = qmp::test::TemporaryDirectory;
using qmp::test::unix_address;
using Clock = std::chrono::steady_clock;

namespace {

// For the peer: the next message, or nothing when none comes within \p timeout (or the client
// closed the connection).
std::optional<json> try_read(FakeConnection& peer, std::chrono::milliseconds timeout)
{
    try {
        return peer.read_message(timeout);
    } catch (const std::runtime_error&) {
        return std::nullopt;
    }
}

// An event as QEMU writes it, with its line end.
std::string event_line(const std::string& name, const json& data)
{
    return json{{"event", name}, {"timestamp", {{"seconds", 1700000000}, {"microseconds", 1}}},
               {"data", data}}
               .dump() +
        "\r\n";
}

// \p count events "SEQ" with data {"seq": first + i}, as one burst of bytes.
std::string event_burst(int first, int count)
{
    std::string burst;
    for (int i = first; i < first + count; ++i)
        burst += event_line("SEQ", {{"seq", i}});
    return burst;
}

std::string reply_line(const json& command, const json& value)
{
    json message = {{"return", value}};
    if (command.contains("id"))
        message["id"] = command["id"];
    return message.dump() + "\r\n";
}

// A unix listener that never accepts, whose backlog is filled by non-blocking connects.
class FullBacklog {
public:
    explicit FullBacklog(const std::string& path) : path_(path)
    {
        listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const sockaddr_un addr = unix_address(path);
        if (listen_fd_ < 0 ||
            ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listen_fd_, 0) != 0)
            throw std::runtime_error(std::string("cannot listen: ") + std::strerror(errno));
        for (int i = 0; i < 256; ++i) {
            const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
                const int error = errno;
                ::close(fd);
                if (error == EAGAIN || error == EWOULDBLOCK) {
                    full_ = true;
                    break;
                }
                throw std::runtime_error(std::string("filler connect: ") + std::strerror(error));
            }
            fillers_.push_back(fd);
        }
    }
    ~FullBacklog()
    {
        close_fillers();
        if (listen_fd_ >= 0)
            ::close(listen_fd_);
    }
    FullBacklog(const FullBacklog&) = delete;
    FullBacklog& operator=(const FullBacklog&) = delete;

    bool full() const { return full_; }
    int listen_fd() const { return listen_fd_; }
    std::string address() const { return "unix:" + path_; }
    void close_fillers()
    {
        for (const int fd : fillers_)
            ::close(fd);
        fillers_.clear();
    }

private:
    std::string path_;
    int listen_fd_ = -1;
    bool full_ = false;
    std::vector<int> fillers_;
};

} // namespace

// ---- 1. Replies never wait for event consumers -------------------------------------------------

// A reply queued behind a flood of events must not wait for anyone to consume them: the full
// queue drops its oldest events, and keeps the newest.
TEST(ClientContractEvents, ReplyBehindEventFloodIsPromptWithoutConsumer)
{
    constexpr int flood = 5000;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        const json command = peer.read_message();
        peer.send(event_burst(0, flood) + reply_line(command, {{"status", "running"}}));
        peer.wait_for_close(10s);
    });
    auto options = quick_options(5s);
    options.event_queue_capacity = 50;
    qmp::Client client(options);
    client.connect(server.address());

    const auto begin = Clock::now();
    const Outcome outcome = capture([&] { return client.execute("query-status"); });
    EXPECT_EQ(outcome.kind, "returned") << outcome.what;
    EXPECT_LT(ms_between(begin, outcome.ended), slack(1500));

    auto& events = client.events();
    EXPECT_GT(events.dropped(), 0u);
    EXPECT_EQ(events.size(), events.capacity());
    std::optional<qmp::Event> last;
    while (auto event = events.try_pop())
        last = std::move(event);
    ASSERT_TRUE(last.has_value());
    EXPECT_EQ(last->data["seq"], flood - 1);
}

// A consumer that pops slowly must not slow replies down to its pace: the reply behind the flood
// comes promptly, events are dropped (oldest first), and the newest event is still delivered.
TEST(ClientContractEvents, ReplyBehindEventFloodIsPromptWithSlowConsumer)
{
    constexpr int flood = 5000;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        const json command = peer.read_message();
        peer.send(event_burst(0, flood) + reply_line(command, {{"status", "running"}}));
        peer.wait_for_close(10s);
    });
    auto options = quick_options(3s);
    options.event_queue_capacity = 50;
    qmp::Client client(options);
    client.connect(server.address());

    std::atomic<bool> stop{false};
    // The slow consumer: one event every 10 ms (a pace, not a synchronisation).
    auto consumer = std::async(std::launch::async, [&] {
        while (!stop) {
            try {
                client.events().pop(50ms);
            } catch (const qmp::Error&) {
                return;
            }
            std::this_thread::sleep_for(10ms);
        }
    });
    const auto begin = Clock::now();
    const Outcome outcome = capture([&] { return client.execute("query-status"); });
    stop = true;
    finish(consumer, 5s);
    EXPECT_EQ(outcome.kind, "returned") << outcome.what;
    EXPECT_LT(ms_between(begin, outcome.ended), slack(1500));
    EXPECT_GT(client.events().dropped(), 0u);

    // Every event was read before the reply, so the newest one is queued by now.
    std::optional<qmp::Event> last;
    for (int i = 0; i < flood; ++i) {
        auto event = client.events().try_pop();
        if (!event)
            break;
        last = std::move(event);
    }
    ASSERT_TRUE(last.has_value());
    EXPECT_EQ(last->data["seq"], flood - 1);
}

// A callback that executes a command while events keep flooding in must get its reply: the
// reader must not block on the callback's full queue while the callback waits for the reader.
TEST(ClientContractEvents, CallbackExecutesDuringEventFloodWithoutDeadlock)
{
    std::promise<Outcome> in_callback;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        peer.send(event_burst(0, 1000));
        const auto command = try_read(peer, 5s);
        peer.send(event_burst(1000, 1000));
        if (command)
            peer.reply(*command, {{"status", "running"}});
        try { // the test may be done, and the client gone, by now
            peer.send(event_burst(2000, 1000));
            peer.wait_for_close(10s);
        } catch (const std::exception&) {
        }
    });
    auto options = quick_options(4s);
    options.event_queue_capacity = 10;
    qmp::Client client(options);
    std::atomic<bool> called{false};
    client.on_event([&](const qmp::Event&) {
        if (called.exchange(true))
            return;
        const auto begin = Clock::now();
        Outcome outcome = capture([&] { return client.execute("query-status"); });
        outcome.value = json{{"ms", ms_between(begin, outcome.ended)}, {"reply", outcome.value}};
        in_callback.set_value(std::move(outcome));
    });
    client.connect(server.address());
    auto result = in_callback.get_future();
    ASSERT_TRUE(ready_within(result, 8s)) << "the callback never ran or never returned";
    const Outcome outcome = result.get();
    EXPECT_EQ(outcome.kind, "returned") << outcome.what;
    if (outcome.kind == "returned") {
        EXPECT_EQ(outcome.value["reply"]["status"], "running");
        EXPECT_LT(outcome.value["ms"].get<long long>(), slack(2000));
    }
}

// ---- 2. execute_async() never waits for the peer -----------------------------------------------

// Submitting is never blocked by the peer: 201 calls return at once although only 8 in-band
// commands may be in flight; the rest wait inside the client and go out in order as replies free
// slots, each get() returning its own reply.
TEST(ClientContractAsync, SubmittingNeverWaitsForThePeer)
{
    constexpr int total = 201;
    std::promise<std::size_t> first_batch;
    std::promise<void> go;
    std::shared_future<void> go_ahead = go.get_future().share();
    std::promise<std::vector<json>> received;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        std::vector<json> got;
        // At most 8 arrive before any answer: a 9th within 300 ms is one too many.
        while (got.size() < 9) {
            auto message = try_read(peer, got.size() < 8 ? 3000ms : 300ms);
            if (!message)
                break;
            got.push_back(std::move(*message));
        }
        first_batch.set_value(got.size());
        go_ahead.wait_for(5s);
        for (std::size_t i = 0; i < static_cast<std::size_t>(total); ++i) {
            if (i >= got.size()) {
                auto message = try_read(peer, 3s);
                if (!message)
                    break;
                got.push_back(std::move(*message));
            }
            peer.reply(got[i], {{"n", got[i]["arguments"]["n"]}});
        }
        received.set_value(got);
        peer.wait_for_close(10s);
    });
    qmp::Client client(quick_options(10s));
    client.connect(server.address());
    ASSERT_TRUE(client.greeting().oob_enabled);

    struct Submitted {
        std::vector<qmp::PendingReply> replies;
        long long ms = 0;
        std::string error;
    };
    auto submitter = std::async(std::launch::async, [&] {
        Submitted submitted;
        const auto begin = Clock::now();
        try {
            for (int i = 0; i < total; ++i)
                submitted.replies.push_back(client.execute_async("slow", {{"n", i}}));
        } catch (const std::exception& e) {
            submitted.error = e.what();
        }
        submitted.ms = ms_since(begin);
        return submitted;
    });
    // The peer answers nothing until the submitter is done or clearly stuck (longer than the
    // bound asserted below), so a submitter that waits for the peer shows up as slow.
    ready_within(submitter, 1500ms);
    go.set_value();
    Submitted submitted = finish(submitter, 30s);
    EXPECT_EQ(submitted.error, "");
    EXPECT_LT(submitted.ms, slack(1000)) << "execute_async() waited for the peer";
    auto batch = first_batch.get_future();
    ASSERT_TRUE(ready_within(batch, 5s));
    EXPECT_LE(batch.get(), 8u);

    for (std::size_t i = 0; i < submitted.replies.size(); ++i) {
        const Outcome outcome = capture([&] { return submitted.replies[i].get(); });
        ASSERT_EQ(outcome.kind, "returned") << "call " << i << ": " << outcome.what;
        EXPECT_EQ(outcome.value["n"], i);
    }
    auto all = received.get_future();
    ASSERT_TRUE(ready_within(all, 10s));
    const std::vector<json> commands = all.get();
    ASSERT_EQ(commands.size(), static_cast<std::size_t>(total));
    std::set<std::string> ids;
    for (std::size_t i = 0; i < commands.size(); ++i) {
        EXPECT_EQ(commands[i]["arguments"]["n"], i) << "sent out of submission order";
        ids.insert(commands[i]["id"].dump());
    }
    EXPECT_EQ(ids.size(), commands.size());
}

// A call abandoned (cancel() or its handle destroyed) while still queued inside the client is
// never sent: the peer sees only the calls that are still wanted.
TEST(ClientContractAsync, CancelledQueuedCallIsNeverSent)
{
    std::promise<void> go;
    std::shared_future<void> go_ahead = go.get_future().share();
    std::promise<std::vector<int>> later;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        std::vector<json> first;
        for (int i = 0; i < 8; ++i)
            first.push_back(peer.read_message(3s));
        go_ahead.wait_for(5s);
        for (const auto& command : first)
            peer.reply(command, {{"n", command["arguments"]["n"]}});
        std::vector<int> seen;
        while (auto message = try_read(peer, 500ms)) {
            seen.push_back((*message)["arguments"]["n"].get<int>());
            peer.reply(*message, {{"n", (*message)["arguments"]["n"]}});
        }
        later.set_value(seen);
        peer.wait_for_close(10s);
    });
    qmp::Client client(quick_options(5s));
    client.connect(server.address());
    ASSERT_TRUE(client.greeting().oob_enabled);
    std::vector<qmp::PendingReply> in_flight;
    for (int i = 0; i < 8; ++i)
        in_flight.push_back(client.execute_async("slow", {{"n", i}}));

    auto worker = start([&] {
        auto cancelled = client.execute_async("slow", {{"n", 8}});
        cancelled.cancel();
        {
            auto destroyed = client.execute_async("slow", {{"n", 9}});
        }
        auto kept = client.execute_async("slow", {{"n", 10}});
        return kept.get();
    });
    // The kept call cannot complete before the first 8 are answered; give the worker its chance
    // to queue all three, then let the peer answer.
    ready_within(worker, 1s);
    go.set_value();
    const Outcome kept = finish(worker, 20s);
    EXPECT_EQ(kept.kind, "returned") << kept.what;
    if (kept.kind == "returned") {
        EXPECT_EQ(kept.value["n"], 10);
    }
    for (auto& reply : in_flight)
        EXPECT_NO_THROW(reply.get());
    auto seen = later.get_future();
    ASSERT_TRUE(ready_within(seen, 10s));
    EXPECT_EQ(seen.get(), std::vector<int>{10}) << "a cancelled call was sent anyway";
}

// A call still queued when its timeout passes fails with TimeoutError from get(), and is never
// sent (execute_async() itself returned at once).
TEST(ClientContractAsync, QueuedCallTimingOutBeforeSendingIsNeverSent)
{
    std::promise<void> go;
    std::shared_future<void> go_ahead = go.get_future().share();
    std::promise<std::vector<json>> later;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        std::vector<json> first;
        for (int i = 0; i < 8; ++i)
            first.push_back(peer.read_message(3s));
        go_ahead.wait_for(5s);
        for (const auto& command : first)
            peer.reply(command);
        std::vector<json> seen;
        while (auto message = try_read(peer, 500ms)) {
            seen.push_back(*message);
            peer.reply(*message);
        }
        later.set_value(seen);
        peer.wait_for_close(10s);
    });
    qmp::Client client(quick_options(5s));
    client.connect(server.address());
    ASSERT_TRUE(client.greeting().oob_enabled);
    std::vector<qmp::PendingReply> in_flight;
    for (int i = 0; i < 8; ++i)
        in_flight.push_back(client.execute_async("slow", {{"n", i}}));

    std::string failed_in = "nowhere";
    auto worker = start([&] {
        qmp::ExecOptions exec;
        exec.timeout = 200ms;
        failed_in = "execute_async";
        auto late = client.execute_async("late", {}, exec);
        failed_in = "get";
        return late.get();
    });
    const Outcome outcome = finish(worker, 5s);
    EXPECT_EQ(outcome.kind, "TimeoutError") << outcome.what;
    EXPECT_EQ(failed_in, "get");
    go.set_value();
    for (auto& reply : in_flight)
        EXPECT_NO_THROW(reply.get());
    auto seen = later.get_future();
    ASSERT_TRUE(ready_within(seen, 10s));
    const auto sent = seen.get();
    EXPECT_TRUE(sent.empty()) << "the timed-out call was sent: " << json(sent).dump();
}

// ---- 3. A reply with the call's id but neither "return" nor "error" ---------------------------

// Such a message is the peer breaking the protocol: the call ends at once with a ProtocolError
// that shows the message, rather than waiting for its timeout.
TEST(ClientContractReplies, ReplyWithoutReturnOrErrorIsAProtocolErrorAtOnce)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        const json command = peer.read_message();
        peer.send_message({{"id", command["id"]}, {"foo", 1}});
        peer.wait_for_close(10s);
    });
    qmp::Client client(quick_options(5s));
    client.connect(server.address());
    const auto begin = Clock::now();
    auto worker = start([&] { return client.execute("query-status"); });
    const Outcome outcome = finish(worker, 10s);
    EXPECT_EQ(outcome.kind, "ProtocolError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "foo")) << outcome.what;
    EXPECT_LT(ms_between(begin, outcome.ended), slack(2000));
}

// ---- 4. disconnect() during connect() ----------------------------------------------------------

// A peer that accepts but never greets holds connect() for its whole timeout; disconnect() from
// another thread must end it at once.
TEST(ClientContractConnect, DisconnectEndsConnectWaitingForTheGreeting)
{
    std::promise<void> accepted;
    ScriptedQemu server([&](FakeConnection& peer) {
        accepted.set_value();
        peer.wait_for_close(4s); // then the script ends and the connection closes
    });
    auto options = quick_options();
    options.connect_timeout = 30s;
    qmp::Client client(options);
    auto worker = start([&] {
        client.connect(server.address());
        return json();
    });
    auto in_connect = accepted.get_future();
    ASSERT_TRUE(ready_within(in_connect, 5s));
    const auto begin = Clock::now();
    client.disconnect();
    const Outcome outcome = finish(worker, 40s);
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_LT(ms_between(begin, outcome.ended), slack(2000));
    EXPECT_FALSE(client.is_connected());
}

// While connect() retries a socket that does not exist yet, disconnect() must end it at once.
TEST(ClientContractConnect, DisconnectEndsConnectRetrying)
{
    // Only listens if the client failed to stop: it then ends connect() (no greeting) so that
    // the test fails in seconds rather than after connect_timeout.
    MissingSocket missing;
    auto options = quick_options();
    options.connect_timeout = 30s;
    options.retry_connect = true;
    qmp::Client client(options);
    std::promise<pid_t> tid;
    auto worker = start([&] {
        tid.set_value(current_tid());
        client.connect(missing.address());
        return json();
    });
    auto worker_tid = tid.get_future();
    ASSERT_TRUE(ready_within(worker_tid, 5s));
    const pid_t id = worker_tid.get();
    // Asleep: in a pause between two attempts (nothing else in connect() sleeps here).
    ASSERT_TRUE(wait_until([id] { return thread_state(id) == 'S'; }));
    const auto begin = Clock::now();
    client.disconnect();
    std::optional<ScriptedQemu> late;
    if (!ready_within(worker, 2500ms)) {
        late.emplace([](FakeConnection&) {});
        missing.move_here(*late);
    }
    const Outcome outcome = finish(worker, 40s);
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_LT(ms_between(begin, outcome.ended), slack(2000));
    EXPECT_FALSE(client.is_connected());
}

// QEMU may send events before its greeting and during negotiation. A callback run for them that
// executes a command must get its reply: the call waits for connect() to finish instead of
// failing with "not connected" or being sent before qmp_capabilities.
TEST(ClientContractConnect, CallbackForEventsDuringConnectCanExecute)
{
    std::promise<Outcome> early;
    std::promise<Outcome> after_greeting;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.send_event("EARLY", {{"n", 1}});
        peer.send_greeting();
        peer.send_event("AFTER_GREETING", {{"n", 2}});
        for (;;) {
            const json message = peer.read_message(5s);
            if (message.value("execute", "") == "qmp_capabilities") {
                peer.reply(message);
                break;
            }
            // QEMU's answer to anything else before negotiation.
            json refusal = {{"error",
                {{"class", "CommandNotFound"},
                    {"desc", "Expecting capabilities negotiation with 'qmp_capabilities'"}}}};
            if (message.contains("id"))
                refusal["id"] = message["id"];
            peer.send_message(refusal);
        }
        for (int i = 0; i < 2; ++i) {
            const auto command = try_read(peer, 3s);
            if (!command)
                break;
            peer.reply(*command, {{"status", "running"}, {"running", true}});
        }
        peer.wait_for_close(10s);
    });
    qmp::Client client(quick_options(3s));
    client.on_event([&](const qmp::Event& event) {
        Outcome outcome = capture([&] { return client.execute("query-status"); });
        if (event.name == "EARLY")
            early.set_value(std::move(outcome));
        else if (event.name == "AFTER_GREETING")
            after_greeting.set_value(std::move(outcome));
    });
    client.connect(server.address());
    for (auto* promise : {&early, &after_greeting}) {
        auto result = promise->get_future();
        ASSERT_TRUE(ready_within(result, 8s));
        const Outcome outcome = result.get();
        EXPECT_EQ(outcome.kind, "returned") << outcome.what;
        if (outcome.kind == "returned") {
            EXPECT_EQ(outcome.value["status"], "running");
        }
    }
}

// ---- 5. A unix listener whose backlog is full --------------------------------------------------

// A full backlog (EAGAIN on a unix socket) must be reported as such, at once, and not as the
// EINVAL of using a socket that never connected.
TEST(ClientContractBacklog, FullBacklogIsNamedWithoutRetry)
{
    TempDir dir;
    FullBacklog listener(dir.path() + "/qmp.sock");
    ASSERT_TRUE(listener.full());
    auto options = quick_options();
    options.connect_timeout = 3s;
    qmp::Client client(options);
    const auto begin = Clock::now();
    const Outcome outcome = capture([&] {
        client.connect(listener.address());
        return json();
    });
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "backlog")) << outcome.what;
    EXPECT_FALSE(contains(outcome.what, "Invalid argument")) << outcome.what;
    EXPECT_LT(ms_between(begin, outcome.ended), slack(1000));
}

// QEMU's side of a handshake on \p fd, by hand (this listener is not a fake's): the greeting,
// then the reply to qmp_capabilities. False when the client is gone or says something else.
bool bare_handshake(int fd)
{
    const std::string greeting = qmp::test::qemu_greeting().dump() + "\r\n";
    if (::send(fd, greeting.data(), greeting.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(greeting.size()))
        return false;
    std::string text; // the client's request: compact JSON, not necessarily a whole line
    char chunk[4096];
    pollfd readable{fd, POLLIN, 0};
    while (!json::accept(text)) {
        ssize_t n = 0;
        if (::poll(&readable, 1, 5000) <= 0 || (n = ::recv(fd, chunk, sizeof chunk, 0)) <= 0)
            return false;
        text.append(chunk, static_cast<std::size_t>(n));
    }
    const json negotiation = json::parse(text);
    if (!negotiation.is_object() || negotiation.value("execute", "") != "qmp_capabilities")
        return false;
    json reply = {{"return", json::object()}};
    if (negotiation.contains("id"))
        reply["id"] = negotiation["id"];
    const std::string bytes = reply.dump() + "\r\n";
    return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(bytes.size());
}

// With retry_connect a full backlog is "not ready yet": once the listener starts accepting,
// connect() succeeds.
TEST(ClientContractBacklog, FullBacklogIsRetriedUntilTheListenerAccepts)
{
    TempDir dir;
    FullBacklog listener(dir.path() + "/qmp.sock");
    ASSERT_TRUE(listener.full());
    std::atomic<bool> served{false};
    std::atomic<bool> give_up{false};
    std::thread acceptor([&] {
        char chunk[4096];
        // "Later": the client's first attempts meet the full backlog.
        std::this_thread::sleep_for(300ms);
        listener.close_fillers(); // the fillers' pending connections end with EOF
        const auto deadline = Clock::now() + 8s;
        while (!served && !give_up && Clock::now() < deadline) {
            pollfd p{listener.listen_fd(), POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0)
                continue;
            const int fd = ::accept4(listener.listen_fd(), nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0)
                continue;
            // A filler's connection has its client end closed: the handshake fails on it.
            if (bare_handshake(fd)) {
                served = true;
                pollfd closed{fd, POLLIN, 0};
                while (::poll(&closed, 1, 5000) > 0 && ::recv(fd, chunk, sizeof chunk, 0) > 0) { }
            }
            ::close(fd);
        }
    });
    auto options = quick_options();
    options.connect_timeout = 5s;
    options.retry_connect = true;
    qmp::Client client(options);
    const Outcome outcome = capture([&] {
        client.connect(listener.address());
        return json();
    });
    EXPECT_EQ(outcome.kind, "returned") << outcome.what;
    EXPECT_TRUE(client.is_connected());
    client.disconnect();
    give_up = true;
    acceptor.join();
    EXPECT_TRUE(served);
}

// ---- 6. Request ids are unique for the client's whole life --------------------------------------

// Ids are never reused, not even across sessions: a late reply from one session can then never
// be taken for a reply of the next.
TEST(ClientContractIds, IdsAreUniqueAcrossReconnects)
{
    std::mutex mutex;
    std::vector<json> ids;
    ScriptedQemu server([&](FakeConnection& peer) {
        const json negotiation = peer.handshake();
        const json command = peer.answer();
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (negotiation.contains("id")) // qmp_capabilities may go without one
                ids.push_back(negotiation["id"]);
            ids.push_back(command.value("id", json()));
        }
        peer.wait_for_close(10s);
    });
    qmp::Client client(quick_options(3s));
    client.connect(server.address());
    client.execute("query-status");
    client.disconnect();
    client.connect(server.address());
    client.execute("query-status");
    client.disconnect();
    ASSERT_TRUE(server.wait_for_scripts(2, 10s));
    std::lock_guard<std::mutex> lock(mutex);
    ASSERT_GE(ids.size(), 2u);
    std::set<std::string> distinct;
    for (const auto& id : ids) {
        EXPECT_FALSE(id.is_null()) << "a command was sent without an id";
        distinct.insert(id.dump());
    }
    EXPECT_EQ(distinct.size(), ids.size()) << json(ids).dump();
}

// A reply carrying the id of the previous session's command is stale: it is dropped (and
// counted), and the waiting call gets its own reply.
TEST(ClientContractIds, StaleReplyFromAnEarlierSessionIsDropped)
{
    std::atomic<int> sessions{0};
    json first_id;
    ScriptedQemu server([&](FakeConnection& peer) {
        const int session = ++sessions;
        peer.handshake();
        const json command = peer.read_message();
        if (session == 1) {
            first_id = command["id"];
            peer.reply(command, {{"session", 1}});
        } else {
            peer.send_message({{"return", {{"stale", true}}}, {"id", first_id}});
            peer.reply(command, {{"session", 2}});
        }
        peer.wait_for_close(10s);
    });
    qmp::Client client(quick_options(3s));
    client.connect(server.address());
    EXPECT_EQ(client.execute("query-status")["session"], 1);
    client.disconnect();
    const auto dropped_before = client.dropped_replies();
    client.connect(server.address());
    const Outcome outcome = capture([&] { return client.execute("query-status"); });
    EXPECT_EQ(outcome.kind, "returned") << outcome.what;
    EXPECT_EQ(outcome.value, (json{{"session", 2}})) << "got the stale reply";
    EXPECT_EQ(client.dropped_replies(), dropped_before + 1);
}

// ---- 7. One prefix, one cause in error messages -----------------------------------------------

TEST(ClientContractMessages, ConnectionEndingBeforeGreetingHasOnePrefix)
{
    ScriptedQemu server([](FakeConnection& peer) { peer.hang_up(); });
    qmp::Client client(quick_options());
    const Outcome outcome = capture([&] {
        client.connect(server.address());
        return json();
    });
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_EQ(occurrences(outcome.what, "qmp:"), 1u) << outcome.what;
}

TEST(ClientContractMessages, CommandTimeoutHasOnePrefix)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        peer.read_message();
        peer.wait_for_close(10s);
    });
    qmp::Client client(quick_options(300ms));
    client.connect(server.address());
    const Outcome outcome = capture([&] { return client.execute("query-status"); });
    EXPECT_EQ(outcome.kind, "TimeoutError") << outcome.what;
    EXPECT_EQ(occurrences(outcome.what, "qmp:"), 1u) << outcome.what;
}

TEST(ClientContractMessages, SchemaFetchTakesItsCommandTimeoutAndNamesItsCommand)
{
    // client.schema() sends query-qmp-schema itself: command_timeouts bounds it like any other
    // call, and an error reply names the command.
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        peer.read_message(); // not answered: must time out after 300 ms, not command_timeout
        const json second = peer.read_message();
        peer.send(json{{"error", {{"class", "GenericError"}, {"desc", "no schema today"}}},
                      {"id", second["id"]}}
                      .dump() +
            "\n");
        peer.wait_for_close(10s);
    });
    auto options = quick_options(20s);
    options.command_timeouts["query-qmp-schema"] = 300ms;
    qmp::Client client(options);
    client.connect(server.address());
    const auto start = Clock::now();
    const Outcome timed_out = capture([&] { return client.schema() ? json() : json(); });
    EXPECT_EQ(timed_out.kind, "TimeoutError") << timed_out.what;
    EXPECT_LT(ms_since(start), slack(5000)) << "command_timeouts was not used";
    const Outcome refused = capture([&] { return client.schema() ? json() : json(); });
    EXPECT_EQ(refused.kind, "ExecuteError") << refused.what;
    EXPECT_TRUE(contains(refused.what, "'query-qmp-schema'")) << refused.what;
}

TEST(ClientContractMessages, PeerHangingUpDuringCommandHasOnePrefix)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        peer.read_message();
        peer.hang_up();
    });
    qmp::Client client(quick_options(5s));
    client.connect(server.address());
    const Outcome outcome = capture([&] { return client.execute("query-status"); });
    EXPECT_EQ(outcome.kind, "DisconnectedError") << outcome.what;
    EXPECT_EQ(occurrences(outcome.what, "qmp:"), 1u) << outcome.what;
}

TEST(ClientContractMessages, RefusedUnixConnectHasOnePrefix)
{
    TempDir dir;
    const std::string path = dir.path() + "/qmp.sock";
    {
        // A socket file whose listener is gone: connecting is refused.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const sockaddr_un addr = unix_address(path);
        ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
        ASSERT_EQ(::listen(fd, 1), 0);
        ::close(fd);
    }
    qmp::Client client(quick_options());
    const Outcome outcome = capture([&] {
        client.connect("unix:" + path);
        return json();
    });
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_EQ(occurrences(outcome.what, "qmp:"), 1u) << outcome.what;
}

// ---- 8. 'quit' succeeds only when the peer ends the session ------------------------------------

// QEMU may close the connection on 'quit' before its reply is written: that is success.
TEST(ClientContractQuit, PeerClosingWithoutReplySucceeds)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        peer.read_message();
        peer.hang_up();
    });
    qmp::Client client(quick_options(5s));
    client.connect(server.address());
    auto worker = start([&] { return client.execute("quit"); });
    const Outcome outcome = finish(worker, 10s);
    EXPECT_EQ(outcome.kind, "returned") << outcome.what;
}

// The client's own disconnect() is not the peer quitting: 'quit' must fail.
TEST(ClientContractQuit, ClientDisconnectDuringQuitIsNotSuccess)
{
    std::promise<void> quit_seen;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        peer.read_message();
        quit_seen.set_value();
        peer.wait_for_close(10s);
    });
    qmp::Client client(quick_options(5s));
    client.connect(server.address());
    auto worker = start([&] { return client.execute("quit"); });
    auto seen = quit_seen.get_future();
    ASSERT_TRUE(ready_within(seen, 5s));
    client.disconnect();
    const Outcome outcome = finish(worker, 10s);
    EXPECT_EQ(outcome.kind, "DisconnectedError") << outcome.what;
}

// A peer that breaks the protocol in answer to 'quit' has not quit cleanly.
TEST(ClientContractQuit, MalformedMessageDuringQuitIsAProtocolError)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        peer.read_message();
        peer.send("{not json}\r\n");
        peer.wait_for_close(10s);
    });
    qmp::Client client(quick_options(5s));
    client.connect(server.address());
    auto worker = start([&] { return client.execute("quit"); });
    const Outcome outcome = finish(worker, 10s);
    EXPECT_EQ(outcome.kind, "ProtocolError") << outcome.what;
}

// ---- 9. A moved-from Client is inert ------------------------------------------------------------

namespace {

// The checks of MovedFromClientIsInert; exits 0 when all hold, 1 (with a message) otherwise.
[[noreturn]] void check_moved_from_client()
{
    int failures = 0;
    {
        ScriptedQemu server([](FakeConnection& peer) {
            peer.handshake();
            peer.answer({{"moved", true}});
            peer.wait_for_close(5s);
        });
        qmp::Client a(quick_options(3s));
        a.connect(server.address());
        qmp::Client b = std::move(a);
        const Outcome outcome = capture([&] { return a.execute("query-status"); });
        if (outcome.kind != "DisconnectedError") {
            std::fprintf(stderr, "moved-from execute(): %s %s\n", outcome.kind.c_str(),
                outcome.what.c_str());
            ++failures;
        }
        if (a.is_connected()) {
            std::fprintf(stderr, "moved-from is_connected() is true\n");
            ++failures;
        }
        a.disconnect();
        const Outcome moved_to = capture([&] { return b.execute("query-status"); });
        if (moved_to.value != json{{"moved", true}}) {
            std::fprintf(stderr, "the moved-to client lost the session: %s %s\n",
                moved_to.kind.c_str(), moved_to.what.c_str());
            ++failures;
        }
    } // a (moved-from) is destroyed here, after b
    std::fflush(stderr);
    std::_Exit(failures == 0 ? 0 : 1);
}

} // namespace

// Run in a child process (a "DeathTest" suite, threadsafe style), so that a crash of the
// moved-from client is this test's failure rather than the end of the whole binary.
TEST(ClientContractMoveDeathTest, MovedFromClientIsInert)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(check_moved_from_client(), ::testing::ExitedWithCode(0), "");
}

// ---- 10. Options that make no sense are a UsageError at construction ----------------------------

namespace {

qmp::ClientOptions with(const std::function<void(qmp::ClientOptions&)>& change)
{
    qmp::ClientOptions options;
    change(options);
    return options;
}

} // namespace

TEST(ClientContractOptions, ZeroRetryIntervalWithRetryIsRefused)
{
    EXPECT_THROW(qmp::Client(with([](auto& o) {
        o.retry_connect = true;
        o.retry_interval = 0ms;
    })),
        qmp::UsageError);
}

TEST(ClientContractOptions, ZeroMaxNestingDepthIsRefused)
{
    EXPECT_THROW(qmp::Client(with([](auto& o) { o.max_nesting_depth = 0; })), qmp::UsageError);
}

TEST(ClientContractOptions, ZeroMaxMessageSizeIsRefused)
{
    EXPECT_THROW(qmp::Client(with([](auto& o) { o.max_message_size = 0; })), qmp::UsageError);
}

TEST(ClientContractOptions, ZeroEventQueueCapacityIsRefused)
{
    EXPECT_THROW(qmp::Client(with([](auto& o) { o.event_queue_capacity = 0; })), qmp::UsageError);
}

TEST(ClientContractOptions, NegativeConnectTimeoutIsRefused)
{
    EXPECT_THROW(qmp::Client(with([](auto& o) { o.connect_timeout = -1ms; })), qmp::UsageError);
}

TEST(ClientContractOptions, NegativeCommandTimeoutIsRefused)
{
    EXPECT_THROW(qmp::Client(with([](auto& o) { o.command_timeout = -1ms; })), qmp::UsageError);
}
