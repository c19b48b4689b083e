// SPDX-License-Identifier: MIT
// Every way a Client session can fail, against qmp::testing::FakeQemu where its rules can say
// it and the scripted fake server elsewhere: connect failures, hang-ups and resets, protocol
// violations, stray replies, timeouts, full event queues, disconnects under load, a peer that
// stops reading, SIGPIPE and close-on-exec.
//
// Rules these tests keep: no sleep is used to order events (they wait on futures, on the fake
// server's scripts, or poll for an observable condition); every thread the tests start catches
// everything it can throw (capture()); a call that could block without limit runs on a worker
// that is awaited with a bound, and a worker still blocked after the bound aborts the binary
// with a message rather than hanging it.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <thread>
#include <type_traits>
#include <unistd.h>
#include <vector>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>

#include "call_outcome.hpp"
#include "scripted_fake.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::capture;
using qmp::test::contains;
using qmp::test::current_tid;
using qmp::test::FakeConnection;
using qmp::test::finish;
using qmp::test::MissingSocket;
using qmp::test::ms_between;
using qmp::test::Outcome;
using qmp::test::quick_options;
using qmp::test::ready_within;
using qmp::test::ScriptedQemu;
using qmp::test::start;
using qmp::test::thread_state;
using qmp::test::wait_until;
using qmp::testing::FakeQemu;
using Clock = std::chrono::steady_clock;

using qmp::test::ms_since;

namespace {

// The machine is shared and often loaded (load average above 10 on 2 cores was seen), so upper
// bounds on durations are generous: they only have to tell "ended when it should" from "waited
// for the next, much longer, timeout in play" (5 s, 10 s or 20 s in these tests).
constexpr long long slack_ms = 2000;

// Runs a call that might block without limit, bounded by \p limit (see finish()).
template <typename Call> Outcome bounded(Call call, std::chrono::milliseconds limit = 10s)
{
    auto worker = start(std::move(call));
    return finish(worker, limit);
}

// Runs an action when the scope ends, whatever the way out (a failed ASSERT included): used to
// disconnect the client before the workers that use it are joined.
class Cleanup {
public:
    explicit Cleanup(std::function<void()> action) : action_(std::move(action)) { }
    ~Cleanup() { action_(); }
    Cleanup(const Cleanup&) = delete;
    Cleanup& operator=(const Cleanup&) = delete;

private:
    std::function<void()> action_;
};

// Waits until the thread \p tid sleeps in the kernel: the evidence that a worker which was
// about to call a blocking member is now blocked in it (waiting on its condition variable).
bool wait_until_asleep(std::future<pid_t>& tid)
{
    if (!ready_within(tid, 5s))
        return false;
    const pid_t id = tid.get();
    return wait_until([id] { return thread_state(id) == 'S'; });
}

// For the peer: waits until the client's bytes arrive, without reading them.
bool wait_for_bytes(FakeConnection& peer, std::chrono::milliseconds timeout = 5s)
{
    pollfd p{peer.fd(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

// For the peer: waits for the test's go-ahead; throws (a script failure) when it never comes.
void await_go_ahead(std::shared_future<void> go)
{
    if (go.wait_for(10s) != std::future_status::ready)
        throw std::runtime_error("fake peer: no go-ahead from the test");
}

// For the test's cleanup: gives the go-ahead unless the test already gave it.
void give_go_ahead(std::promise<void>& go)
{
    try {
        go.set_value();
    } catch (const std::future_error&) {
    }
}

// Open descriptors and what each refers to ("socket:[1234]", a path, ...): a number closed and
// reused in between shows up as a different target.
std::map<int, std::string> open_fds()
{
    std::map<int, std::string> fds;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code error;
        const auto target = std::filesystem::read_symlink(entry.path(), error);
        fds[std::stoi(entry.path().filename().string())] = error ? "?" : target.string();
    }
    return fds;
}

void handshake_then_wait(FakeConnection& peer)
{
    peer.handshake();
    peer.wait_for_close(20s);
}

void silent(FakeConnection& peer)
{
    peer.wait_for_close(20s);
}

// The outcome of connect() on a fresh client with \p options.
Outcome connect_outcome(qmp::Client& client, const std::string& address)
{
    return capture([&] {
        client.connect(address);
        return json();
    });
}

} // namespace

// ---- connect ---------------------------------------------------------------------------------

TEST(ClientConnect, SilentServerFailsWithinConnectTimeoutBlamingAnotherClient)
{
    FakeQemu fake;
    fake.disable_greeting();
    auto options = quick_options();
    options.connect_timeout = 300ms;
    qmp::Client client(options);
    const auto begin = Clock::now();
    const Outcome outcome = connect_outcome(client, fake.address());
    const auto elapsed = ms_since(begin);
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "another client")) << outcome.what;
    EXPECT_GE(elapsed, 300);
    EXPECT_LT(elapsed, 300 + slack_ms);
    EXPECT_FALSE(client.is_connected());
}

TEST(ClientConnect, ClientConnectsElsewhereAfterAFailedConnect)
{
    // The scripted peer, not FakeQemu: under valgrind the first run of FakeQemu's code in the
    // process takes longer than the 300 ms this test gives every connect.
    ScriptedQemu silent_server(silent);
    ScriptedQemu good_server([](FakeConnection& peer) {
        peer.handshake();
        peer.answer({{"status", "running"}});
        peer.wait_for_close(20s);
    });
    auto options = quick_options();
    options.connect_timeout = 300ms;
    qmp::Client client(options);
    ASSERT_EQ(connect_outcome(client, silent_server.address()).kind, "ConnectError");
    ASSERT_FALSE(client.is_connected());
    const Outcome outcome = connect_outcome(client, good_server.address());
    ASSERT_EQ(outcome.kind, "returned") << outcome.what;
    EXPECT_TRUE(client.is_connected());
    EXPECT_EQ(client.address(), good_server.address());
    EXPECT_EQ(client.execute("query-status")["status"], "running");
}

TEST(ClientConnect, NonQmpGreetingIsRejected)
{
    FakeQemu fake;
    fake.set_greeting_message({{"hello", 1}});
    qmp::Client client(quick_options());
    const Outcome outcome = connect_outcome(client, fake.address());
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "not a QMP monitor")) << outcome.what;
    EXPECT_FALSE(client.is_connected());
}

TEST(ClientConnect, GarbageInsteadOfAGreetingIsRejected)
{
    FakeQemu fake;
    fake.disable_greeting();
    fake.on_connect().raw("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    qmp::Client client(quick_options());
    const auto begin = Clock::now();
    const Outcome outcome = connect_outcome(client, fake.address());
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_LT(ms_since(begin), slack_ms) << "must not wait for the connect timeout";
    EXPECT_FALSE(client.is_connected());
}

TEST(ClientConnect, RefusedNegotiationReportsTheQmpError)
{
    FakeQemu fake;
    fake.on("qmp_capabilities").error("GenericError", "Capability 'oob' not available");
    qmp::Client client(quick_options());
    const Outcome outcome = connect_outcome(client, fake.address());
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "Capability 'oob' not available")) << outcome.what;
    EXPECT_FALSE(client.is_connected());
}

TEST(ClientConnect, UnansweredNegotiationFailsWithinConnectTimeout)
{
    FakeQemu fake;
    fake.on("qmp_capabilities").no_reply();
    auto options = quick_options();
    options.connect_timeout = 300ms;
    qmp::Client client(options);
    const auto begin = Clock::now();
    const Outcome outcome = connect_outcome(client, fake.address());
    const auto elapsed = ms_since(begin);
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_GE(elapsed, 290); // the negotiation gets what is left of the timeout, rounded
    EXPECT_LT(elapsed, 300 + slack_ms);
    EXPECT_FALSE(client.is_connected());
}

TEST(ClientConnect, HangUpBeforeTheGreetingIsAConnectError)
{
    FakeQemu fake;
    fake.disable_greeting();
    fake.on_connect().hang_up();
    qmp::Client client(quick_options());
    const auto begin = Clock::now();
    const Outcome outcome = connect_outcome(client, fake.address());
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "before the greeting")) << outcome.what;
    EXPECT_LT(ms_since(begin), slack_ms) << "must not wait for the connect timeout";
    EXPECT_FALSE(client.is_connected());
}

TEST(ClientConnect, MissingSocketFailsAtOnceNamingThePath)
{
    MissingSocket never_listening;
    qmp::Client client(quick_options()); // connect_timeout 5 s: must not be waited for
    const auto begin = Clock::now();
    const Outcome outcome = connect_outcome(client, never_listening.path());
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, never_listening.path())) << outcome.what;
    EXPECT_LT(ms_since(begin), slack_ms);
    EXPECT_FALSE(client.is_connected());
}

TEST(ClientConnect, RetryPicksUpAServerThatStartsListeningLater)
{
    MissingSocket missing;
    auto options = quick_options();
    options.retry_connect = true;
    options.connect_timeout = 3s;
    qmp::Client client(options);
    auto connecting = start([&] {
        client.connect(missing.address());
        return json();
    });
    Cleanup cleanup([&] { client.disconnect(); });
    ScriptedQemu server(handshake_then_wait);
    missing.move_here(server); // normally after the first attempt failed; either way it connects
    const Outcome outcome = finish(connecting);
    EXPECT_EQ(outcome.kind, "returned") << outcome.what;
    EXPECT_TRUE(client.is_connected());
}

TEST(ClientConnect, RetryGivesUpAfterTheConnectTimeout)
{
    MissingSocket never_listening;
    auto options = quick_options();
    options.retry_connect = true;
    options.connect_timeout = 1s;
    qmp::Client client(options);
    const auto begin = Clock::now();
    const Outcome outcome = connect_outcome(client, never_listening.address());
    const auto elapsed = ms_since(begin);
    EXPECT_EQ(outcome.kind, "ConnectError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, never_listening.path())) << outcome.what;
    EXPECT_GE(elapsed, 1000);
    EXPECT_LT(elapsed, 3000);
}

TEST(ClientConnect, FailedConnectsLeaveNoThreadOrFdBehind)
{
    ScriptedQemu silent_server(silent);
    ScriptedQemu bad_greeting([](FakeConnection& peer) {
        peer.send_message({{"hello", 1}});
        peer.wait_for_close(20s);
    });
    MissingSocket never_listening;
    const int threads_before = qmp::test::thread_count();
    const int fds_before = qmp::test::fd_count();
    {
        auto options = quick_options();
        options.connect_timeout = 300ms;
        qmp::Client client(options);
        EXPECT_EQ(connect_outcome(client, silent_server.address()).kind, "ConnectError");
        EXPECT_EQ(connect_outcome(client, bad_greeting.address()).kind, "ConnectError");
        EXPECT_EQ(connect_outcome(client, never_listening.address()).kind, "ConnectError");
        EXPECT_EQ(qmp::test::thread_count(), threads_before);
    }
    // The peers' sockets close when their scripts see the client's hang-up.
    ASSERT_TRUE(silent_server.wait_for_scripts(1));
    ASSERT_TRUE(bad_greeting.wait_for_scripts(1));
    EXPECT_EQ(qmp::test::thread_count(), threads_before);
    EXPECT_EQ(qmp::test::fd_count(), fds_before);
}

// ---- the peer goes away ----------------------------------------------------------------------

namespace {

// The negotiation took id "1", so the first call is "2".
void hang_up_in_the_middle_of_a_reply(FakeQemu& fake)
{
    fake.on("query-status")
        .times(1)
        .raw("{\"id\": \"2\", \"return\": {\"status\": \"runn")
        .hang_up();
}

} // namespace

TEST(ClientHangUp, HangUpInTheMiddleOfAReplyWakesTheCallerWithDisconnectedError)
{
    FakeQemu fake;
    hang_up_in_the_middle_of_a_reply(fake);
    qmp::Client client(quick_options());
    client.connect(fake.address());
    const Outcome outcome = capture([&] { return client.execute("query-status", {}, 10s); });
    EXPECT_EQ(outcome.kind, "DisconnectedError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "middle of a message")) << outcome.what;
    EXPECT_EQ(fake.messages().at(1)["id"], "2") << "the half reply carried the call's id";
    EXPECT_TRUE(contains(outcome.what, "query-status")) << outcome.what;
}

TEST(ClientHangUp, CallsAfterAHangUpFailAtOnce)
{
    FakeQemu fake;
    hang_up_in_the_middle_of_a_reply(fake);
    qmp::Client client(quick_options());
    client.connect(fake.address());
    ASSERT_EQ(
        capture([&] { return client.execute("query-status", {}, 10s); }).kind, "DisconnectedError");
    EXPECT_FALSE(client.is_connected());
    const auto begin = Clock::now();
    const Outcome outcome = capture([&] { return client.execute("query-status", {}, 10s); });
    EXPECT_EQ(outcome.kind, "DisconnectedError") << outcome.what;
    EXPECT_LT(ms_since(begin), slack_ms);
}

TEST(ClientHangUp, ResetWhileWaitingIsADisconnectedError)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        if (!wait_for_bytes(peer))
            throw std::runtime_error("fake peer: no command");
        peer.reset(); // with the command unread: the client's recv() fails with ECONNRESET
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    const auto begin = Clock::now();
    const Outcome outcome = capture([&] { return client.execute("query-status", {}, 10s); });
    EXPECT_EQ(outcome.kind, "DisconnectedError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "reset")) << outcome.what;
    EXPECT_LT(ms_since(begin), slack_ms);
    EXPECT_FALSE(client.is_connected());
}

// ---- protocol violations ---------------------------------------------------------------------

namespace {

// Answers the first command after the handshake with \p bytes (given the command's id).
ScriptedQemu::Script answer_with(std::function<std::string(const json& id)> bytes)
{
    return [bytes = std::move(bytes)](FakeConnection& peer) {
        peer.handshake();
        const json command = peer.read_message();
        peer.send(bytes(command["id"]));
        peer.wait_for_close(20s);
    };
}

ScriptedQemu::Script oversized_reply()
{
    return [](FakeConnection& peer) {
        peer.handshake();
        peer.reply(peer.read_message(), {{"blob", std::string(4096, 'x')}});
        peer.wait_for_close(20s);
    };
}

qmp::ClientOptions small_messages()
{
    auto options = quick_options();
    options.max_message_size = 1024; // the greeting (~150 bytes) fits
    return options;
}

} // namespace

TEST(ClientProtocol, OversizedReplyFailsTheCallerWithProtocolError)
{
    ScriptedQemu server(oversized_reply());
    qmp::Client client(small_messages());
    client.connect(server.address());
    const Outcome outcome = capture([&] { return client.execute("big", {}, 10s); });
    EXPECT_EQ(outcome.kind, "ProtocolError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "1024")) << outcome.what;
}

TEST(ClientProtocol, CallsAfterAProtocolErrorThrowDisconnectedError)
{
    static_assert(std::is_base_of_v<qmp::DisconnectedError, qmp::ProtocolError>,
        "code handling 'the connection is gone' must also catch protocol errors");
    ScriptedQemu server(oversized_reply());
    qmp::Client client(small_messages());
    client.connect(server.address());
    ASSERT_EQ(capture([&] { return client.execute("big", {}, 10s); }).kind, "ProtocolError");
    EXPECT_FALSE(client.is_connected());
    const auto begin = Clock::now();
    EXPECT_THROW(client.execute("again", {}, 10s), qmp::DisconnectedError);
    EXPECT_LT(ms_since(begin), slack_ms);
}

TEST(ClientProtocol, EventQueueReportsTheProtocolError)
{
    ScriptedQemu server(oversized_reply());
    qmp::Client client(small_messages());
    client.connect(server.address());
    ASSERT_EQ(capture([&] { return client.execute("big", {}, 10s); }).kind, "ProtocolError");
    const Outcome outcome = bounded([&] { return client.events().pop().raw; });
    EXPECT_EQ(outcome.kind, "ProtocolError") << outcome.what;
}

TEST(ClientProtocol, TooDeeplyNestedReplyIsAProtocolError)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        json deep = json::object();
        for (int i = 0; i < 10; ++i)
            deep = json{{"level", deep}};
        peer.reply(peer.read_message(), deep);
        peer.wait_for_close(20s);
    });
    auto options = quick_options();
    options.max_nesting_depth = 5; // the greeting nests 4 deep
    qmp::Client client(options);
    client.connect(server.address());
    const Outcome outcome = capture([&] { return client.execute("deep", {}, 10s); });
    EXPECT_EQ(outcome.kind, "ProtocolError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "deeper")) << outcome.what;
}

// A peer answering the first command with something that is not a usable reply: the caller gets
// a ProtocolError naming the problem at once, not after its timeout.
struct BadReply {
    const char* name;
    std::function<std::string(const json& id)> reply; // the bytes sent, given the request's id
    const char* reported; // part of the error message
};

class ClientBadReply : public ::testing::TestWithParam<BadReply> { };

TEST_P(ClientBadReply, IsAProtocolErrorAtOnce)
{
    ScriptedQemu server(answer_with(GetParam().reply));
    qmp::Client client(quick_options());
    client.connect(server.address());
    const auto begin = Clock::now();
    const Outcome outcome = capture([&] { return client.execute("query-status", {}, 10s); });
    EXPECT_EQ(outcome.kind, "ProtocolError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, GetParam().reported)) << outcome.what;
    EXPECT_LT(ms_since(begin), slack_ms) << "must not wait for the call's timeout";
}

INSTANTIATE_TEST_SUITE_P(ClientProtocol, ClientBadReply,
    ::testing::Values(
        BadReply{"MalformedJson",
            [](const json& id) { return "{\"id\": " + id.dump() + ", \"return\": tru}\r\n"; },
            "malformed"},
        BadReply{"NumberTooLarge",
            [](const json& id) { return "{\"id\": " + id.dump() + ", \"return\": 1e999}\r\n"; },
            "malformed JSON"},
        // Events are validated by the reader too, though their tree is built by the consumer.
        BadReply{"MalformedEvent",
            [](const json&) { return "{\"event\": \"STOP\", \"data\": {\"a\": tru}}\r\n"; },
            "malformed JSON"},
        BadReply{"EventNumberTooLarge",
            [](const json&) { return "{\"event\": \"STOP\", \"data\": {\"a\": -1e999}}\r\n"; },
            "malformed JSON"},
        BadReply{"TopLevelArray",
            [](const json& id) {
                return json::array({json{{"id", id}, {"return", json::object()}}}).dump() + "\r\n";
            },
            "not a JSON object"},
        // QEMU's answer to input it could not parse: the stream is out of step.
        BadReply{"ErrorWithoutId",
            [](const json&) {
                return json{{"error",
                                {{"class", "GenericError"},
                                    {"desc", "JSON parse error, expecting value"}}}}
                           .dump() +
                    "\r\n";
            },
            "JSON parse error, expecting value"},
        BadReply{"ReturnWithoutId",
            [](const json&) {
                return json{{"return", {{"status", "running"}}}}.dump() + "\r\n";
            },
            "without an id"}),
    [](const ::testing::TestParamInfo<BadReply>& info) { return std::string(info.param.name); });

// ---- stray replies ---------------------------------------------------------------------------

TEST(ClientReplies, ReplyWithAnUnknownIdIsDroppedAndCounted)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        const json command = peer.read_message();
        peer.send_message({{"return", {{"who", "stranger"}}}, {"id", "stale-42"}});
        peer.reply(command, {{"who", "me"}});
        peer.wait_for_close(20s);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    ASSERT_EQ(client.dropped_replies(), 0u);
    EXPECT_EQ(client.execute("whoami"), (json{{"who", "me"}}));
    EXPECT_EQ(client.dropped_replies(), 1u);
    EXPECT_TRUE(client.is_connected());
}

TEST(ClientReplies, ReplyWithANumericIdIsDroppedAndCounted)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        const json command = peer.read_message();
        // The same id as a number, as a peer that re-serializes ids might send it.
        const int numeric = std::stoi(command["id"].get<std::string>());
        peer.send_message({{"return", {{"who", "number"}}}, {"id", numeric}});
        peer.reply(command, {{"who", "me"}});
        peer.wait_for_close(20s);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_EQ(client.execute("whoami"), (json{{"who", "me"}}));
    EXPECT_EQ(client.dropped_replies(), 1u);
}

// ---- timeouts --------------------------------------------------------------------------------

TEST(ClientTimeout, UnansweredCallTimesOutAndTheClientStaysConnected)
{
    FakeQemu fake;
    fake.on("slow").no_reply();
    qmp::Client client(quick_options());
    client.connect(fake.address());
    const auto begin = Clock::now();
    const Outcome outcome = capture([&] { return client.execute("slow", {}, 200ms); });
    const auto elapsed = ms_since(begin);
    EXPECT_EQ(outcome.kind, "TimeoutError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "200 ms")) << outcome.what;
    EXPECT_GE(elapsed, 200);
    EXPECT_LT(elapsed, 200 + slack_ms);
    EXPECT_TRUE(client.is_connected());
}

TEST(ClientTimeout, LateReplyIsDroppedAndTheNextCallGetsItsOwnReply)
{
    FakeQemu fake;
    fake.on("first").no_reply();
    // The second call (sent only after the first timed out) gets the first's late reply (its id
    // is "2": the negotiation took "1"), then its own.
    fake.on("second")
        .raw("{\"return\": {\"which\": \"first\"}, \"id\": \"2\"}\r\n")
        .reply({{"which", "second"}});
    qmp::Client client(quick_options());
    client.connect(fake.address());
    ASSERT_EQ(capture([&] { return client.execute("first", {}, 200ms); }).kind, "TimeoutError");
    EXPECT_EQ(client.execute("second", {}, 5s), (json{{"which", "second"}}));
    EXPECT_EQ(client.dropped_replies(), 1u);
    EXPECT_EQ(fake.received("first").size(), 1u);
    EXPECT_EQ(fake.messages().at(1)["id"], "2") << "the late reply carried the first call's id";
}

// A caller giving up at the moment its reply is being routed: the reply either reaches it or
// is counted as dropped, never neither (found by qemu-ga's test: once in ~150 runs a timed-out
// call's reply vanished uncounted).
TEST(ClientTimeout, EveryReplyToACallThatGaveUpIsCounted)
{
    FakeQemu fake;
    fake.on("ping").reply();
    qmp::Client client(quick_options());
    client.connect(fake.address());
    const int calls = qmp::test::under_valgrind() ? 1000 : 10000;
    std::uint64_t gave_up = 0;
    for (int i = 0; i < calls; ++i) {
        // No time at all: the reply is routed just as the caller looks, or just after.
        try {
            client.execute("ping", {}, 0ms);
        } catch (const qmp::TimeoutError& e) {
            // One still waiting for room (the in-band limit) was never sent: no reply comes.
            gave_up += contains(e.what(), "no reply within");
        }
    }
    // Replies come in order: once this one is back, every earlier one has been read.
    EXPECT_EQ(client.execute("ping", {}, 5s), json::object());
    EXPECT_EQ(client.dropped_replies(), gave_up) << gave_up << " of " << calls << " gave up";
    EXPECT_TRUE(client.is_connected());
}

TEST(ClientTimeout, WaitForeverOutlastsTheDefaultCommandTimeout)
{
    std::promise<void> received;
    auto received_future = received.get_future();
    std::promise<void> go;
    const std::shared_future<void> go_ahead = go.get_future().share();
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        const json command = peer.read_message();
        received.set_value();
        await_go_ahead(go_ahead);
        peer.reply(command, {{"ok", true}});
        peer.wait_for_close(20s);
    });
    auto options = quick_options();
    options.command_timeout = 100ms; // a call that fell back to it would time out
    qmp::Client client(options);
    client.connect(server.address());
    auto call = start([&] { return client.execute("slow", {}, qmp::wait_forever); });
    Cleanup cleanup([&] {
        give_go_ahead(go);
        client.disconnect();
    });
    ASSERT_TRUE(ready_within(received_future));
    // The server answers only once the call has waited well past the default timeout.
    EXPECT_EQ(call.wait_for(300ms), std::future_status::timeout) << "the call ended early";
    go.set_value();
    const Outcome outcome = finish(call);
    EXPECT_EQ(outcome.kind, "returned") << outcome.what;
    EXPECT_EQ(outcome.value, (json{{"ok", true}}));
}

// ---- events ----------------------------------------------------------------------------------

TEST(ClientEvents, FullQueueDropsTheOldestEvents)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        for (int i = 0; i < 20; ++i)
            peer.send_event("NUMBERED", {{"n", i}});
        peer.answer(); // the reply follows every event: a sync point for the test
        peer.wait_for_close(20s);
    });
    auto options = quick_options();
    options.event_queue_capacity = 5;
    qmp::Client client(options);
    client.connect(server.address());
    client.execute("sync");
    EXPECT_EQ(client.events().size(), 5u);
    EXPECT_EQ(client.events().dropped(), 15u);
    std::vector<int> remaining;
    while (const auto event = client.events().try_pop())
        remaining.push_back(event->data["n"].get<int>());
    EXPECT_EQ(remaining, (std::vector<int>{15, 16, 17, 18, 19}));
}

// The reader never waits for a consumer: a consumer that stops popping (here: it waits for a
// reply the reader must deliver) does not delay that reply, and the oldest events are dropped.
TEST(ClientEvents, ConsumerThatStopsPoppingNeverDelaysRepliesAndLosesTheOldestEvents)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        peer.send_event("FIRST");
        const json sync = peer.read_message(); // FIRST was popped by now
        for (int i = 0; i < 20; ++i)
            peer.send_event("NUMBERED", {{"n", i}});
        peer.reply(sync);
        peer.wait_for_close(20s);
    });
    auto options = quick_options();
    options.event_queue_capacity = 5;
    qmp::Client client(options);
    client.connect(server.address());
    ASSERT_EQ(client.events().pop(5s)->name, "FIRST");
    const auto sent = std::chrono::steady_clock::now();
    client.execute("sync", json::object(), qmp::ExecOptions{5s}); // nobody pops meanwhile
    EXPECT_LT(std::chrono::steady_clock::now() - sent, 2s);
    EXPECT_EQ(client.events().dropped(), 15u);
    std::vector<int> remaining;
    while (const auto event = client.events().try_pop())
        remaining.push_back(event->data["n"].get<int>());
    EXPECT_EQ(remaining, (std::vector<int>{15, 16, 17, 18, 19}));
}

TEST(ClientEvents, QueuedEventsOutliveAHangUpThenPopThrows)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        peer.send_event("E0");
        peer.send_event("E1");
        peer.send_event("E2");
        peer.hang_up();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    ASSERT_TRUE(wait_until([&] { return !client.is_connected(); })) << "hang-up not noticed";
    std::vector<std::string> names;
    for (int i = 0; i < 3; ++i) {
        const Outcome outcome = bounded([&] { return client.events().pop().raw; });
        ASSERT_EQ(outcome.kind, "returned") << outcome.what;
        names.push_back(outcome.value["event"]);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"E0", "E1", "E2"}));
    const Outcome last = bounded([&] { return client.events().pop().raw; });
    EXPECT_EQ(last.kind, "DisconnectedError") << last.what;
}

TEST(ClientEvents, BlockedPopIsWokenByAHangUp)
{
    std::promise<void> go;
    const std::shared_future<void> go_ahead = go.get_future().share();
    std::promise<pid_t> popper_tid;
    auto popper_tid_future = popper_tid.get_future();
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        await_go_ahead(go_ahead);
        peer.hang_up();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    auto popper = start([&] {
        popper_tid.set_value(current_tid());
        return client.events().pop().raw;
    });
    Cleanup cleanup([&] {
        give_go_ahead(go);
        client.disconnect();
    });
    ASSERT_TRUE(wait_until_asleep(popper_tid_future));
    const auto hang_up = Clock::now();
    go.set_value();
    const Outcome outcome = finish(popper);
    EXPECT_EQ(outcome.kind, "DisconnectedError") << outcome.what;
    EXPECT_LT(ms_between(hang_up, outcome.ended), 1000);
}

// ---- many waiters when the session ends ------------------------------------------------------

namespace {

constexpr int callers = 16;

// Reads \p count commands without answering, tells the test, waits for its go-ahead, then
// either waits for the client to leave or (\p hang_up) closes the connection.
ScriptedQemu::Script read_and_hold(
    int count, std::promise<void>& all_read, std::shared_future<void> go_ahead, bool hang_up)
{
    return [count, &all_read, go_ahead, hang_up](FakeConnection& peer) {
        peer.handshake();
        for (int i = 0; i < count; ++i)
            peer.read_message();
        all_read.set_value();
        if (hang_up) {
            await_go_ahead(go_ahead);
            peer.hang_up();
        } else {
            peer.wait_for_close(20s);
        }
    };
}

// Without OOB nothing limits the number of in-band commands in flight (with OOB QEMU queues
// only 8, and a client may hold the rest back), so the peer receives every command.
qmp::ClientOptions no_oob_options()
{
    auto options = quick_options();
    options.enable_oob = false;
    return options;
}

// Starts \p count calls of \p client that block (their peer never answers).
std::vector<std::future<Outcome>> start_blocked_calls(qmp::Client* client, int count)
{
    std::vector<std::future<Outcome>> calls;
    for (int i = 0; i < count; ++i)
        calls.push_back(start([client, i] { return client->execute("block", {{"n", i}}, 20s); }));
    return calls;
}

std::future<Outcome> start_blocked_pop(qmp::Client* client, std::promise<pid_t>& tid)
{
    // Only the queue is used once pop() is entered: the client may be destroyed meanwhile.
    return start([client, &tid] {
        tid.set_value(current_tid());
        return client->events().pop().raw;
    });
}

void expect_all_woken(std::vector<std::future<Outcome>>& calls, std::future<Outcome>& popper,
    Clock::time_point since, const char* expected_kind)
{
    for (auto& call : calls) {
        const Outcome outcome = finish(call);
        EXPECT_EQ(outcome.kind, expected_kind) << outcome.what;
        EXPECT_LT(ms_between(since, outcome.ended), 1000);
    }
    const Outcome popped = finish(popper);
    EXPECT_EQ(popped.kind, expected_kind) << popped.what;
    EXPECT_LT(ms_between(since, popped.ended), 1000);
}

} // namespace

TEST(ClientConcurrency, DisconnectWakesEveryBlockedCallAndPopPromptly)
{
    std::promise<void> all_read, go;
    auto all_read_future = all_read.get_future();
    std::promise<pid_t> popper_tid;
    auto popper_tid_future = popper_tid.get_future();
    ScriptedQemu server(read_and_hold(callers, all_read, go.get_future().share(), false));
    qmp::Client client(no_oob_options());
    client.connect(server.address());
    auto calls = start_blocked_calls(&client, callers);
    auto popper = start_blocked_pop(&client, popper_tid);
    Cleanup cleanup([&] { client.disconnect(); });
    ASSERT_TRUE(ready_within(all_read_future)) << "the peer did not receive every command";
    ASSERT_TRUE(wait_until_asleep(popper_tid_future));

    const auto begin = Clock::now();
    client.disconnect();
    EXPECT_LT(ms_since(begin), 1000) << "disconnect() must not wait for the peer";
    expect_all_woken(calls, popper, begin, "DisconnectedError");
}

TEST(ClientConcurrency, PeerHangUpWakesEveryBlockedCallAndPopPromptly)
{
    std::promise<void> all_read, go;
    auto all_read_future = all_read.get_future();
    std::promise<pid_t> popper_tid;
    auto popper_tid_future = popper_tid.get_future();
    ScriptedQemu server(read_and_hold(callers, all_read, go.get_future().share(), true));
    qmp::Client client(no_oob_options());
    client.connect(server.address());
    auto calls = start_blocked_calls(&client, callers);
    auto popper = start_blocked_pop(&client, popper_tid);
    Cleanup cleanup([&] {
        give_go_ahead(go);
        client.disconnect();
    });
    ASSERT_TRUE(ready_within(all_read_future)) << "the peer did not receive every command";
    ASSERT_TRUE(wait_until_asleep(popper_tid_future));

    const auto begin = Clock::now();
    go.set_value(); // the peer hangs up now
    expect_all_woken(calls, popper, begin, "DisconnectedError");
    EXPECT_FALSE(client.is_connected());
}

TEST(ClientLifetime, DestroyingTheClientWakesBlockedCallersPromptly)
{
    constexpr int count = 4;
    std::promise<void> all_read, go;
    auto all_read_future = all_read.get_future();
    std::promise<pid_t> popper_tid;
    auto popper_tid_future = popper_tid.get_future();
    ScriptedQemu server(read_and_hold(count, all_read, go.get_future().share(), false));
    auto client = std::make_unique<qmp::Client>(no_oob_options());
    client->connect(server.address());
    auto calls = start_blocked_calls(client.get(), count);
    auto popper = start_blocked_pop(client.get(), popper_tid);
    Cleanup cleanup([&] { client.reset(); });
    ASSERT_TRUE(ready_within(all_read_future)) << "the peer did not receive every command";
    ASSERT_TRUE(wait_until_asleep(popper_tid_future));

    const auto begin = Clock::now();
    client.reset();
    EXPECT_LT(ms_since(begin), 1000) << "the destructor must not wait for the peer";
    expect_all_woken(calls, popper, begin, "DisconnectedError");
}

TEST(ClientLifetime, ExecuteOnANeverConnectedClientSaysNotConnected)
{
    qmp::Client client(quick_options());
    const Outcome outcome = capture([&] { return client.execute("query-status", {}, 10s); });
    EXPECT_EQ(outcome.kind, "DisconnectedError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "not connected")) << outcome.what;
}

TEST(ClientLifetime, GreetingOfANeverConnectedClientThrows)
{
    qmp::Client client(quick_options());
    EXPECT_THROW(client.greeting(), qmp::DisconnectedError);
}

// ---- quit ------------------------------------------------------------------------------------

TEST(ClientQuit, QuitAnsweredByShutdownAndAHangUpReturnsNormally)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        const json quit = peer.read_message();
        if (quit.value("execute", "") != "quit")
            throw std::runtime_error("fake peer: expected quit, got " + quit.dump());
        peer.send_event("SHUTDOWN", {{"guest", false}, {"reason", "host-qmp-quit"}});
        peer.hang_up(); // no reply, as QEMU often does
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    const Outcome outcome = capture([&] { return client.execute("quit", {}, 10s); });
    EXPECT_EQ(outcome.kind, "returned") << outcome.what;
    EXPECT_EQ(outcome.value, json::object());
    const auto event = client.events().try_pop(); // it preceded the hang-up
    ASSERT_TRUE(event);
    EXPECT_EQ(event->name, "SHUTDOWN");
    EXPECT_EQ(event->data["reason"], "host-qmp-quit");
}

TEST(ClientQuit, QuitAnsweredByAResetReturnsNormally)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        if (!wait_for_bytes(peer))
            throw std::runtime_error("fake peer: no quit");
        peer.reset(); // the quit left unread: ECONNRESET, as QEMU 7.2 without OOB
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    const Outcome outcome = capture([&] { return client.execute("quit", {}, 10s); });
    EXPECT_EQ(outcome.kind, "returned") << outcome.what;
    EXPECT_EQ(outcome.value, json::object());
}

// ---- the write side --------------------------------------------------------------------------

namespace {

// Handshakes, then never reads again until the test's go-ahead. \p arrived is set once the
// client's next request starts arriving.
ScriptedQemu::Script stop_reading(std::promise<void>& arrived, std::shared_future<void> go_ahead)
{
    return [&arrived, go_ahead](FakeConnection& peer) {
        peer.handshake();
        if (!wait_for_bytes(peer))
            throw std::runtime_error("fake peer: no request");
        arrived.set_value();
        await_go_ahead(go_ahead);
    };
}

json huge_arguments()
{
    return {{"data", std::string(8 * 1024 * 1024, 'x')}};
}

} // namespace

TEST(ClientWrite, HugeRequestToAPeerThatStopsReadingEndsAfterTheTimeout)
{
    std::promise<void> arrived, go;
    ScriptedQemu server(stop_reading(arrived, go.get_future().share()));
    qmp::Client client(quick_options());
    client.connect(server.address());
    Cleanup cleanup([&] {
        go.set_value();
        client.disconnect();
    });
    const json arguments = huge_arguments();
    // The bound is on waiting, not on the caller's own work: execute() first serialises the
    // 8 MB request, which takes seconds under TSan on a busy machine. Measured here, once.
    const auto serialising = Clock::now();
    const std::size_t request_size =
        json{{"execute", "huge"}, {"arguments", arguments}, {"id", "1"}}.dump().size();
    const auto serialise_ms = ms_since(serialising);
    ASSERT_GT(request_size, arguments["data"].get_ref<const std::string&>().size());
    const auto begin = Clock::now();
    const Outcome outcome = bounded([&] { return client.execute("huge", arguments, 300ms); });
    const auto elapsed = ms_since(begin);
    // Part of the request went out before the timeout: the stream cannot be resumed, so the
    // session ends (send_request closes the connection and throws DisconnectedError).
    EXPECT_EQ(outcome.kind, "DisconnectedError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "timed out")) << outcome.what;
    EXPECT_GE(elapsed, 300);
    EXPECT_LT(elapsed, 300 + 3 * serialise_ms + slack_ms);
    EXPECT_FALSE(client.is_connected());
    const auto disconnecting = Clock::now();
    client.disconnect();
    EXPECT_LT(ms_since(disconnecting), 1000);
}

TEST(ClientWrite, CallQueuedBehindAStuckWriterTimesOutAndDisconnectReturnsPromptly)
{
    std::promise<void> arrived, go;
    auto arrived_future = arrived.get_future();
    ScriptedQemu server(stop_reading(arrived, go.get_future().share()));
    qmp::Client client(quick_options());
    client.connect(server.address());
    const json arguments = huge_arguments();
    // The writer's own timeout is long: it is still stuck when the other call gives up.
    auto writer = start([&] { return client.execute("huge", arguments, 20s); });
    Cleanup cleanup([&] {
        client.disconnect();
        give_go_ahead(go);
    });
    ASSERT_TRUE(ready_within(arrived_future)) << "the huge request never started";

    const auto begin = Clock::now();
    auto other = start([&] { return client.execute("query-status", {}, 300ms); });
    const Outcome queued = finish(other);
    EXPECT_EQ(queued.kind, "TimeoutError") << queued.what;
    EXPECT_GE(ms_between(begin, queued.ended), 300);
    EXPECT_LT(ms_between(begin, queued.ended), 300 + slack_ms);
    EXPECT_TRUE(client.is_connected()) << "a TimeoutError leaves the client connected";

    const auto disconnecting = Clock::now();
    client.disconnect();
    EXPECT_LT(ms_since(disconnecting), 1000) << "disconnect() must not wait for the writer";
    const Outcome written = finish(writer);
    EXPECT_EQ(written.kind, "DisconnectedError") << written.what;
    EXPECT_LT(ms_between(disconnecting, written.ended), 1000);
}

TEST(ClientWrite, CallThatGaveUpBehindAStuckWriterIsNeverSentOnceThePeerReadsAgain)
{
    std::promise<void> arrived, go;
    auto arrived_future = arrived.get_future();
    const std::shared_future<void> go_ahead = go.get_future().share();
    ScriptedQemu server([&](FakeConnection& peer) {
        stop_reading(arrived, go_ahead)(peer);
        // Reading again: the huge request, then whatever comes next.
        peer.reply(peer.read_message(20s), {{"which", "huge"}});
        peer.reply(peer.read_message(20s), {{"which", "next"}});
        peer.wait_for_close(20s);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    Cleanup cleanup([&] {
        give_go_ahead(go);
        client.disconnect();
    });
    const json arguments = huge_arguments();
    auto writer = start([&] { return client.execute("huge", arguments, 20s); });
    ASSERT_TRUE(ready_within(arrived_future)) << "the huge request never started";
    // Queued behind it, gives up, and its caller is gone (the writer then holds the last
    // reference to it: dropping it must not touch it afterwards; ASan and valgrind check).
    EXPECT_EQ(
        capture([&] { return client.execute("query-status", {}, 100ms); }).kind, "TimeoutError");
    go.set_value();
    const Outcome written = finish(writer);
    EXPECT_EQ(written.kind, "returned") << written.what;
    EXPECT_EQ(client.execute("next", {}, 5s), (json{{"which", "next"}}));
    EXPECT_TRUE(server.received("query-status").empty()) << "a call that gave up was sent";
}

TEST(ClientWrite, WritingToAPeerThatClosedIsADisconnectedErrorNotSigpipe)
{
    // Default disposition, unblocked: a write that raised SIGPIPE would kill this process.
    struct sigaction previous { };
    struct sigaction default_action { };
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    ASSERT_EQ(::sigaction(SIGPIPE, &default_action, &previous), 0);
    sigset_t pipe_only, previous_mask;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    ASSERT_EQ(::pthread_sigmask(SIG_UNBLOCK, &pipe_only, &previous_mask), 0);
    Cleanup restore([&] {
        ::sigaction(SIGPIPE, &previous, nullptr);
        ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
    });

    std::promise<void> closed, go;
    auto closed_future = closed.get_future();
    const std::shared_future<void> go_ahead = go.get_future().share();
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        // The peer stops receiving but keeps its side open: the client's reader sees nothing,
        // so the next request is really written, and the write fails with EPIPE.
        if (::shutdown(peer.fd(), SHUT_RD) != 0)
            throw std::runtime_error("fake peer: shutdown failed");
        closed.set_value();
        await_go_ahead(go_ahead);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    Cleanup release_peer([&] { give_go_ahead(go); });
    ASSERT_TRUE(ready_within(closed_future));
    const Outcome outcome = capture([&] { return client.execute("query-status", {}, 5s); });
    EXPECT_EQ(outcome.kind, "DisconnectedError") << outcome.what;
    EXPECT_TRUE(contains(outcome.what, "closed by the peer")) << outcome.what;
    // Not a byte of it went out: the caller may safely send it again.
    EXPECT_TRUE(contains(outcome.what, "(the command was not sent)")) << outcome.what;
    EXPECT_FALSE(contains(outcome.what, "whether it ran")) << outcome.what;
    EXPECT_FALSE(client.is_connected());
}

// ---- descriptors -----------------------------------------------------------------------------

TEST(ClientSystem, EveryDescriptorOpenedByConnectIsCloseOnExec)
{
    ScriptedQemu server(handshake_then_wait);
    qmp::Client client(quick_options());
    const auto before = open_fds();
    client.connect(server.address());
    const auto after = open_fds();
    int sockets = 0;
    for (const auto& [fd, target] : after) {
        const auto old = before.find(fd);
        if (old != before.end() && old->second == target)
            continue;
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags < 0)
            continue; // the listing's own directory fd, closed since
        if (target.rfind("socket:", 0) == 0)
            ++sockets;
        EXPECT_TRUE(flags & FD_CLOEXEC)
            << "fd " << fd << " (" << target << ") would be inherited by child processes";
    }
    // The client's socket and the fake peer's (accepted with SOCK_CLOEXEC) at least.
    EXPECT_GE(sockets, 2);
}
