// SPDX-License-Identifier: MIT
// qmp::GuestAgent against a scripted fake agent: the synchronisation with guest-sync-delimited
// (0xFF both ways, garbage, partial messages and stale replies skipped), timeouts that force a
// new synchronisation, the commands that reply only on error, disconnect() from another thread,
// large replies and the message size limit, concurrent callers, and option checks.
//
// The fake agent reads the client's bytes itself (RawAgent): FakeConnection's framer cannot see the
// 0xFF the client sends before each synchronisation. Every wait is bounded.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

#include <qmp/qmp.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sstream>

#include "agent_requests.hpp"
#include "scripted_fake.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::FakeConnection;
using qmp::test::MissingSocket;
using qmp::test::quick_agent_options;
using qmp::test::ScriptedAgent;
using Clock = std::chrono::steady_clock;

using qmp::test::ms_since;

namespace {

constexpr long long slack_ms = 2000; // the machine is shared and may be loaded

void require(bool condition, const std::string& what)
{
    if (!condition)
        throw std::runtime_error("fake agent: " + what);
}

using Received = qmp::test::AgentRequest;
const std::string& parse_error = qmp::test::qga_parse_error;

// The agent's side of the connection, reading raw bytes: the client's requests are compact JSON
// objects, each of a synchronisation preceded by byte 0xFF.
class RawAgent {
public:
    explicit RawAgent(FakeConnection& peer) : peer_(peer) { }

    // The next request. \throws std::runtime_error on timeout or when the client closed.
    Received read(std::chrono::milliseconds timeout = 5s)
    {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            Received received;
            if (take(received))
                return received;
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            require(left.count() > 0 && readable(left), "no request from the client in time");
            char chunk[65536];
            const ssize_t n = ::recv(peer_.fd(), chunk, sizeof chunk, 0);
            require(n != 0, "the client closed the connection");
            if (n < 0 && errno != EINTR)
                throw std::runtime_error(std::string("fake agent: recv: ") + std::strerror(errno));
            if (n > 0)
                buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    // Reads a synchronisation and checks its shape.
    Received read_sync(std::chrono::milliseconds timeout = 5s)
    {
        Received sync = read(timeout);
        require(sync.is_sync(), "expected guest-sync-delimited, got " + sync.message.dump());
        require(sync.delimited, "guest-sync-delimited came without 0xFF before it");
        require(sync.message["arguments"]["id"].is_number_integer(),
            "the sync id is not an integer: " + sync.message.dump());
        require(sync.message["id"].is_string(), "the request id is not a string");
        return sync;
    }

    // Reads a command (not a synchronisation) and checks its name.
    Received read_command(const std::string& name, std::chrono::milliseconds timeout = 5s)
    {
        Received command = read(timeout);
        require(command.command() == name && !command.delimited,
            "expected " + name + " without 0xFF, got " + command.message.dump());
        return command;
    }

    // Whether the client sends nothing more for \p period.
    bool silent_for(std::chrono::milliseconds period)
    {
        return buffer_.empty() && !readable(period);
    }

    // qemu-ga's answer to 0xFF + guest-sync-delimited: the parse error for the byte, its own
    // 0xFF, then the reply with the client's id.
    void answer_sync(const Received& sync)
    {
        peer_.send(parse_error);
        peer_.send("\xff");
        reply(sync, sync.message["arguments"]["id"]);
    }

    void reply(const Received& command, const json& value)
    {
        peer_.send(json{{"return", value}, {"id", command.message["id"]}}.dump() + "\n");
    }

    void reply_error(
        const Received& command, const std::string& error_class, const std::string& description)
    {
        peer_.send(json{{"error", {{"class", error_class}, {"desc", description}}},
                       {"id", command.message["id"]}}
                       .dump() +
            "\n");
    }

    // Connects the client: reads the sync and answers it.
    Received synchronise()
    {
        Received sync = read_sync();
        answer_sync(sync);
        return sync;
    }

    FakeConnection& peer() { return peer_; }

private:
    bool readable(std::chrono::milliseconds timeout)
    {
        pollfd p{peer_.fd(), POLLIN, 0};
        int n;
        do
            n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        while (n < 0 && errno == EINTR);
        return n > 0;
    }

    // Takes one complete request from the buffer (white space between requests is skipped).
    bool take(Received& received) { return qmp::test::take_agent_request(buffer_, received, true); }

    FakeConnection& peer_;
    std::string buffer_;
};

// Runs \p body on a thread and hands its outcome to a future: "returned: VALUE" or the name of
// the exception class caught.
std::future<std::string> run_async(std::function<json()> body)
{
    return std::async(std::launch::async, [body = std::move(body)]() -> std::string {
        try {
            return "returned: " + body().dump();
        } catch (const qmp::ConnectError&) {
            return "ConnectError";
        } catch (const qmp::ProtocolError&) {
            return "ProtocolError";
        } catch (const qmp::DisconnectedError&) {
            return "DisconnectedError";
        } catch (const qmp::TimeoutError&) {
            return "TimeoutError";
        } catch (const qmp::ExecuteError& e) {
            return std::string("ExecuteError: ") + e.error_class();
        } catch (const std::exception& e) {
            return std::string("other exception: ") + e.what();
        }
    });
}

// A promise the fake agent fulfils once, for the test to wait on.
struct Signal {
    std::promise<void> promise;
    std::future<void> future = promise.get_future();
    bool wait(std::chrono::milliseconds timeout = 5s)
    {
        return future.wait_for(timeout) == std::future_status::ready;
    }
};

} // namespace

// ---- synchronisation -------------------------------------------------------------------------

TEST(GuestAgent, ConnectSynchronisesWithDelimiterAndFreshId)
{
    std::mutex mutex;
    std::vector<json> syncs;
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        const Received sync = agent.synchronise();
        {
            std::lock_guard<std::mutex> lock(mutex);
            syncs.push_back(sync.message);
        }
        agent.reply(agent.read_command("guest-info"), {{"version", "7.2.22"}});
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    EXPECT_FALSE(agent.is_connected());
    EXPECT_EQ(agent.address(), "");
    agent.connect(server.path()); // a plain path works too
    EXPECT_TRUE(agent.is_connected());
    EXPECT_EQ(agent.address(), server.address());
    EXPECT_EQ(agent.execute("guest-info"), json({{"version", "7.2.22"}}));
    EXPECT_EQ(agent.dropped_replies(), 0u);
    agent.disconnect();
    EXPECT_FALSE(agent.is_connected());
    ASSERT_TRUE(server.wait_for_scripts(1));

    // A second connection synchronises again, with another id.
    agent.connect(server.address());
    EXPECT_EQ(agent.execute("guest-info"), json({{"version", "7.2.22"}}));
    agent.disconnect();
    ASSERT_TRUE(server.wait_for_scripts(2));
    std::lock_guard<std::mutex> lock(mutex);
    ASSERT_EQ(syncs.size(), 2u);
    EXPECT_NE(syncs[0]["arguments"]["id"], syncs[1]["arguments"]["id"]);
    EXPECT_NE(syncs[0]["id"], syncs[1]["id"]);
}

TEST(GuestAgent, GarbageAndPartialMessagesBeforeTheDelimiterAreSkipped)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        const Received sync = agent.read_sync();
        // Whatever an earlier client left in the channel, then an unfinished message.
        peer.send("garbage ]]] \"unterminated\n{\"return\": {}, \"id\": \"7\"}\n");
        peer.send("{\"return\": {\"half\": [1, 2, \"x");
        peer.send(parse_error);
        peer.send("\xff");
        // And in the same read: the 0xFF, then the reply in two pieces.
        const std::string reply =
            json{{"return", sync.message["arguments"]["id"]}, {"id", sync.message["id"]}}.dump();
        peer.send(reply.substr(0, 7));
        peer.send(reply.substr(7) + "\n");
        agent.reply(agent.read_command("guest-ping"), json::object());
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    agent.connect(server.address());
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
    EXPECT_EQ(agent.dropped_replies(), 0u) << "what came before the 0xFF is skipped, not counted";
}

TEST(GuestAgent, APartialMessageBeforeAStrayDelimiterIsDropped)
{
    // After the first 0xFF the stream is read again; a second 0xFF ends a partial message that
    // would otherwise swallow the reply.
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        const Received sync = agent.read_sync();
        peer.send(parse_error + "\xff{\"return\": 17, \"id\": \"x\", \"more\": [1, \"");
        peer.send("\xff" +
            json{{"return", sync.message["arguments"]["id"]}, {"id", sync.message["id"]}}.dump() +
            "\n");
        agent.reply(agent.read_command("guest-ping"), json::object());
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    agent.connect(server.address());
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
}

TEST(GuestAgent, StaleSyncReplyIsDroppedAndCounted)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        const Received sync = agent.read_sync();
        // The reply to an earlier synchronisation (another id, another token) comes first.
        const std::uint64_t token = sync.message["arguments"]["id"].get<std::uint64_t>();
        peer.send(parse_error + "\xff" +
            json{{"return", token + 1}, {"id", "sync-earlier"}}.dump() + "\n");
        peer.send(parse_error + "\xff" +
            json{{"return", token}, {"id", sync.message["id"]}}.dump() + "\n");
        agent.reply(agent.read_command("guest-ping"), json::object());
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    agent.connect(server.address());
    EXPECT_EQ(agent.dropped_replies(), 1u);
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
    EXPECT_EQ(agent.dropped_replies(), 1u);
}

TEST(GuestAgent, SyncReplyMeantForAnEarlierClientIsNotTakenForOurs)
{
    // A client gave up waiting for a slow agent and went away; its guest-sync-delimited stays in
    // the channel (QEMU's virtio-serial chardev keeps the guest's side). The next client's own
    // synchronisation must skip the reply to it, even though both clients number their first
    // request alike.
    std::mutex mutex;
    json first_sync;
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        const Received sync = agent.read_sync();
        std::unique_lock<std::mutex> lock(mutex);
        if (first_sync.is_null()) { // the first client: the agent is not running yet
            first_sync = sync.message;
            lock.unlock();
            peer.wait_for_close();
            return;
        }
        const json earlier = first_sync;
        lock.unlock();
        // The agent starts and answers both in order.
        peer.send(parse_error + "\xff" +
            json{{"return", earlier["arguments"]["id"]}, {"id", earlier["id"]}}.dump() + "\n");
        agent.answer_sync(sync);
        agent.reply(agent.read_command("guest-ping"), json::object());
        peer.wait_for_close();
    });
    {
        auto options = quick_agent_options();
        options.connect_timeout = 200ms;
        qmp::GuestAgent first(options);
        EXPECT_THROW(first.connect(server.address()), qmp::ConnectError);
    }
    ASSERT_TRUE(server.wait_for_scripts(1));
    qmp::GuestAgent second(quick_agent_options());
    ASSERT_NO_THROW(second.connect(server.address()));
    EXPECT_EQ(second.dropped_replies(), 1u);
    EXPECT_EQ(second.execute("guest-ping"), json::object());
}

TEST(GuestAgent, NoAgentAnsweringIsAConnectErrorWithinConnectTimeout)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.read_sync();
        peer.wait_for_close(); // a guest whose agent is not running: the request stays unread
    });
    auto options = quick_agent_options();
    options.connect_timeout = 300ms;
    qmp::GuestAgent agent(options);
    const auto start = Clock::now();
    try {
        agent.connect(server.address());
        ADD_FAILURE() << "connect() succeeded without an agent";
    } catch (const qmp::ConnectError& e) {
        EXPECT_NE(std::string(e.what()).find("no answer"), std::string::npos) << e.what();
    }
    const long long took = ms_since(start);
    EXPECT_GE(took, 290);
    EXPECT_LT(took, 300 + slack_ms);
    EXPECT_FALSE(agent.is_connected());
    EXPECT_THROW(agent.execute("guest-ping"), qmp::DisconnectedError);
    ASSERT_TRUE(server.wait_for_scripts(1));
}

TEST(GuestAgent, AnAgentRefusingToSynchroniseIsAConnectError)
{
    // qemu-ga --block-rpcs=guest-sync-delimited: nothing can be synchronised with it.
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        const Received sync = agent.read_sync();
        peer.send(parse_error + "\xff");
        agent.reply_error(sync, "GenericError", "Command guest-sync-delimited has been disabled");
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    try {
        agent.connect(server.address());
        ADD_FAILURE() << "connect() succeeded";
    } catch (const qmp::ConnectError& e) {
        EXPECT_NE(std::string(e.what()).find("disabled"), std::string::npos) << e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not a ConnectError: " << e.what();
    }
    EXPECT_FALSE(agent.is_connected());
}

TEST(GuestAgent, ConnectToNothingIsAConnectError)
{
    MissingSocket server;
    qmp::GuestAgent agent(quick_agent_options());
    EXPECT_THROW(agent.connect(server.address()), qmp::ConnectError);
    EXPECT_FALSE(agent.is_connected());
}

TEST(GuestAgent, ConnectTwiceIsAUsageError)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    agent.connect(server.address());
    EXPECT_THROW(agent.connect(server.address()), qmp::UsageError);
    EXPECT_TRUE(agent.is_connected());
}

TEST(GuestAgent, PingIsFalseOnSilenceAndTrueOnAnswer)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        agent.read_sync(); // the first ping: no answer
        agent.synchronise(); // the second: answered
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    agent.connect(server.address());
    const auto start = Clock::now();
    EXPECT_FALSE(agent.ping(200ms));
    const long long took = ms_since(start);
    EXPECT_GE(took, 190);
    EXPECT_LT(took, 200 + slack_ms);
    EXPECT_TRUE(agent.is_connected()) << "silence is not an error";
    EXPECT_TRUE(agent.ping(5s));
    agent.disconnect();
    EXPECT_THROW(agent.ping(100ms), qmp::DisconnectedError);
}

TEST(GuestAgent, PingsThatTimedOutAreForgottenOnceASynchronisationSucceeds)
{
    // A guest whose agent is not running answers no ping; a program pinging it for days must not
    // keep one pending call per ping. Once a synchronisation succeeds, the replies to earlier
    // pings can no longer come (the agent's 0xFF skipped them): a reply carrying such an id
    // afterwards is one nobody waits for, not the late reply of a call still kept.
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        std::vector<Received> unanswered;
        for (int i = 0; i < 3; ++i)
            unanswered.push_back(agent.read_sync());
        agent.answer_sync(agent.read_sync());
        // Sent once the client has moved on (after the agent's 0xFF: not skipped); a real agent
        // never sends them, they only show whether the client still keeps those calls.
        const Received ping = agent.read_command("guest-ping");
        for (const Received& old : unanswered)
            agent.reply(old, old.message["arguments"]["id"]);
        agent.reply(ping, json::object());
        peer.wait_for_close();
    });
    std::ostringstream log_text;
    auto options = quick_agent_options();
    options.logger = std::make_shared<spdlog::logger>(
        "agent", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
    qmp::GuestAgent agent(options);
    agent.connect(server.address());
    for (int i = 0; i < 3; ++i)
        EXPECT_FALSE(agent.ping(50ms));
    EXPECT_TRUE(agent.ping(5s));
    EXPECT_EQ(agent.execute("guest-ping"), json::object()); // the stale replies came before it
    EXPECT_EQ(agent.dropped_replies(), 3u);
    const std::string log = log_text.str();
    EXPECT_EQ(log.find("its caller gave up"), std::string::npos) << log;
    EXPECT_NE(log.find("a reply nobody waits for"), std::string::npos) << log;
}

TEST(GuestAgent, ACommandTimingOutMakesTheNextCommandSynchroniseFirst)
{
    std::atomic<bool> synchronised_again{false};
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        const Received slow = agent.read_command("guest-fsfreeze-status");
        // No reply until the next request: the client gave up meanwhile.
        const Received sync = agent.read_sync();
        synchronised_again = true;
        agent.reply(slow, "thawed"); // the late reply, in the agent's order: before the sync's
        agent.answer_sync(sync);
        agent.reply(agent.read_command("guest-ping"), json::object());
        agent.reply(agent.read_command("guest-ping"), json::object()); // no sync this time
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    agent.connect(server.address());
    const auto start = Clock::now();
    EXPECT_THROW(agent.execute("guest-fsfreeze-status", json(), 200ms), qmp::TimeoutError);
    EXPECT_LT(ms_since(start), 200 + slack_ms);
    EXPECT_TRUE(agent.is_connected());
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
    EXPECT_TRUE(synchronised_again);
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
    // The late reply came after the client's 0xFF, before the agent's: skipped unseen.
    EXPECT_EQ(agent.dropped_replies(), 0u);
}

TEST(GuestAgent, AnUnexpectedMessageWithoutIdForcesASynchronisation)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        const Received info = agent.read_command("guest-info");
        peer.send("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n");
        agent.reply(info, json::object());
        agent.synchronise(); // before the next command
        agent.reply(agent.read_command("guest-ping"), json::object());
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    agent.connect(server.address());
    EXPECT_EQ(agent.execute("guest-info"), json::object());
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
}

TEST(GuestAgent, ErrorReplyIsAnExecuteErrorAndTheAgentStaysUsable)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        agent.reply_error(agent.read_command("guest-no-such-command"), "CommandNotFound",
            "The command guest-no-such-command has not been found");
        agent.reply(agent.read_command("guest-ping"), json::object());
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    agent.connect(server.address());
    try {
        agent.execute("guest-no-such-command");
        ADD_FAILURE() << "no ExecuteError";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.error_class(), "CommandNotFound");
    }
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
}

// ---- commands that reply only on error -------------------------------------------------------

TEST(GuestAgent, ShutdownSucceedsWhenTheAgentHangsUp)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        const Received shutdown = agent.read_command("guest-shutdown");
        require(shutdown.message["arguments"]["mode"] == "powerdown", "arguments lost");
        peer.hang_up(); // the guest goes down
    });
    auto options = quick_agent_options();
    options.no_reply_wait = 10s; // so that only the hang-up can end the call quickly
    qmp::GuestAgent agent(options);
    agent.connect(server.address());
    const auto start = Clock::now();
    EXPECT_EQ(agent.execute("guest-shutdown", {{"mode", "powerdown"}}), json::object());
    EXPECT_LT(ms_since(start), slack_ms);
}

TEST(GuestAgent, SuspendSucceedsOnSilenceAfterNoReplyWait)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        agent.read_command("guest-suspend-ram");
        peer.wait_for_close(); // the guest sleeps, the channel stays open
    });
    auto options = quick_agent_options();
    options.no_reply_wait = 200ms;
    qmp::GuestAgent agent(options);
    agent.connect(server.address());
    const auto start = Clock::now();
    EXPECT_EQ(agent.execute("guest-suspend-ram"), json::object());
    const long long took = ms_since(start);
    EXPECT_GE(took, 190);
    EXPECT_LT(took, 200 + slack_ms);
    EXPECT_TRUE(agent.is_connected());
}

TEST(GuestAgent, ShutdownSucceedsOnSilence)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        agent.read_command("guest-shutdown");
        peer.wait_for_close();
    });
    auto options = quick_agent_options();
    options.no_reply_wait = 200ms;
    qmp::GuestAgent agent(options);
    agent.connect(server.address());
    const auto start = Clock::now();
    EXPECT_EQ(agent.execute("guest-shutdown"), json::object());
    EXPECT_LT(ms_since(start), 200 + slack_ms);
}

TEST(GuestAgent, ShutdownErrorReplyIsAnExecuteError)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        agent.reply_error(agent.read_command("guest-shutdown"), "GenericError",
            "child process has failed to shutdown");
        agent.reply(agent.read_command("guest-ping"), json::object());
        peer.wait_for_close();
    });
    auto options = quick_agent_options();
    options.no_reply_wait = 5s;
    qmp::GuestAgent agent(options);
    agent.connect(server.address());
    const auto start = Clock::now();
    try {
        agent.execute("guest-shutdown");
        ADD_FAILURE() << "no ExecuteError";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.error_class(), "GenericError");
        EXPECT_NE(std::string(e.what()).find("failed to shutdown"), std::string::npos);
    }
    EXPECT_LT(ms_since(start), slack_ms) << "an error reply comes at once";
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
}

// ---- disconnect() from another thread --------------------------------------------------------

TEST(GuestAgent, DisconnectWakesABlockedExecute)
{
    Signal received;
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        agent.read_command("guest-fsfreeze-freeze");
        received.promise.set_value();
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    agent.connect(server.address());
    auto outcome = run_async([&] { return agent.execute("guest-fsfreeze-freeze"); }); // 10 min
    ASSERT_TRUE(received.wait());
    const auto start = Clock::now();
    agent.disconnect();
    ASSERT_EQ(outcome.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(outcome.get(), "DisconnectedError");
    EXPECT_LT(ms_since(start), slack_ms);
    EXPECT_FALSE(agent.is_connected());
}

TEST(GuestAgent, DisconnectWakesAConnectWaitingForTheSync)
{
    Signal received;
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.read_sync();
        received.promise.set_value();
        peer.wait_for_close();
    });
    auto options = quick_agent_options();
    options.connect_timeout = 30s;
    qmp::GuestAgent agent(options);
    auto outcome = run_async([&] {
        agent.connect(server.address());
        return json();
    });
    ASSERT_TRUE(received.wait());
    const auto start = Clock::now();
    agent.disconnect();
    ASSERT_EQ(outcome.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(outcome.get(), "ConnectError");
    EXPECT_LT(ms_since(start), slack_ms);
    EXPECT_FALSE(agent.is_connected());
}

// ---- sizes -----------------------------------------------------------------------------------

TEST(GuestAgent, ALargeReplyArrivesWhole)
{
    std::string data(20 * 1024 * 1024, 'A');
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7) % 64];
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        const Received read = agent.read_command("guest-file-read");
        // As qemu-ga writes it: the big member first, the id last, sent in one go.
        peer.send("{\"return\": {\"count\": 15728640, \"buf-b64\": \"" + data +
            "\", \"eof\": false}, \"id\": " + read.message["id"].dump() + "}\n");
        peer.wait_for_close(20s);
    });
    qmp::GuestAgent agent(quick_agent_options());
    agent.connect(server.address());
    const json result =
        agent.execute("guest-file-read", {{"handle", 1000}, {"count", 15728640}}, 60s);
    ASSERT_TRUE(result.contains("buf-b64"));
    EXPECT_EQ(result["buf-b64"].get_ref<const std::string&>().size(), data.size());
    EXPECT_TRUE(result["buf-b64"] == data);
    EXPECT_EQ(result["count"], 15728640);
}

TEST(GuestAgent, AMessageOverMaxMessageSizeIsAProtocolError)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        agent.reply(agent.read_command("guest-file-read"),
            {{"count", 3000}, {"buf-b64", std::string(4000, 'Q')}, {"eof", true}});
        peer.wait_for_close();
    });
    auto options = quick_agent_options();
    options.max_message_size = 1024;
    qmp::GuestAgent agent(options);
    agent.connect(server.address());
    EXPECT_THROW(agent.execute("guest-file-read", {{"handle", 1}}), qmp::ProtocolError);
    EXPECT_FALSE(agent.is_connected());
    EXPECT_THROW(agent.execute("guest-ping"), qmp::DisconnectedError);
}

// ---- concurrency -----------------------------------------------------------------------------

TEST(GuestAgent, TwoThreadsGetTheirOwnRepliesOneAtATimeOnTheWire)
{
    ScriptedAgent server([&](FakeConnection& peer) {
        RawAgent agent(peer);
        agent.synchronise();
        for (int i = 0; i < 2; ++i) {
            const Received command = agent.read();
            require(!command.is_sync(), "unexpected sync");
            // Nothing else is sent while this command is unanswered.
            require(agent.silent_for(150ms), "a second command came before the first's reply");
            agent.reply(command, {{"for", command.command()}});
        }
        peer.wait_for_close();
    });
    qmp::GuestAgent agent(quick_agent_options());
    agent.connect(server.address());
    auto info = run_async([&] { return agent.execute("guest-info"); });
    auto time = run_async([&] { return agent.execute("guest-get-time"); });
    ASSERT_EQ(info.wait_for(10s), std::future_status::ready);
    ASSERT_EQ(time.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(info.get(), "returned: {\"for\":\"guest-info\"}");
    EXPECT_EQ(time.get(), "returned: {\"for\":\"guest-get-time\"}");
    EXPECT_EQ(agent.dropped_replies(), 0u);
}

// ---- options ---------------------------------------------------------------------------------

TEST(GuestAgent, InvalidOptionsAreAUsageError)
{
    const auto with = [](auto change) {
        qmp::GuestAgentOptions options;
        change(options);
        return options;
    };
    EXPECT_THROW(qmp::GuestAgent(with([](auto& o) { o.connect_timeout = 0ms; })), qmp::UsageError);
    EXPECT_THROW(qmp::GuestAgent(with([](auto& o) { o.connect_timeout = -1ms; })), qmp::UsageError);
    EXPECT_THROW(qmp::GuestAgent(with([](auto& o) { o.command_timeout = 0ms; })), qmp::UsageError);
    EXPECT_THROW(qmp::GuestAgent(with([](auto& o) { o.no_reply_wait = 0ms; })), qmp::UsageError);
    EXPECT_THROW(qmp::GuestAgent(with([](auto& o) { o.max_message_size = 0; })), qmp::UsageError);
    EXPECT_THROW(qmp::GuestAgent(with([](auto& o) { o.max_nesting_depth = 0; })), qmp::UsageError);
    try {
        qmp::GuestAgent(with([](auto& o) { o.command_timeouts["guest-fsfreeze-thaw"] = 0ms; }));
        ADD_FAILURE() << "a zero timeout in command_timeouts was accepted";
    } catch (const qmp::UsageError& e) {
        EXPECT_EQ(std::string(e.what()),
            "qmp: invalid GuestAgentOptions: command_timeouts[\"guest-fsfreeze-thaw\"] must be "
            "positive (qmp::wait_forever for no limit)");
    }
    EXPECT_NO_THROW(qmp::GuestAgent(with([](auto& o) { o.command_timeout = qmp::wait_forever; })));
    EXPECT_NO_THROW(qmp::GuestAgent(
        with([](auto& o) { o.command_timeouts["guest-fsfreeze-thaw"] = qmp::wait_forever; })));
    EXPECT_NO_THROW(qmp::GuestAgent());
}

TEST(GuestAgent, ExecuteWhenNotConnectedIsADisconnectedError)
{
    qmp::GuestAgent agent;
    EXPECT_THROW(agent.execute("guest-ping"), qmp::DisconnectedError);
    EXPECT_THROW(agent.ping(10ms), qmp::DisconnectedError);
    agent.disconnect(); // nothing to do
}
