// SPDX-License-Identifier: MIT
// The Client's normal behaviour, against the scripted fake server.
#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <thread>

#include <qmp/qmp.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "fake_server.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::FakePeer;
using qmp::test::FakeServer;
using qmp::test::quick_options;

namespace {

} // namespace

TEST(Client, ConnectReadsGreetingAndNegotiatesOob)
{
    json negotiation;
    FakeServer server([&](FakePeer& peer) {
        negotiation = peer.handshake();
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_TRUE(client.is_connected());
    EXPECT_EQ(client.greeting().version.major, 7);
    EXPECT_EQ(client.greeting().capabilities, std::vector<std::string>{"oob"});
    EXPECT_TRUE(client.greeting().oob_enabled);
    EXPECT_EQ(client.address(), server.address());
    client.disconnect();
    ASSERT_TRUE(server.wait_scripts_done(1));
    EXPECT_EQ(negotiation["arguments"], (json{{"enable", {"oob"}}}));
}

TEST(Client, OobNotRequestedWhenDisabled)
{
    json negotiation;
    FakeServer server([&](FakePeer& peer) {
        negotiation = peer.handshake();
        peer.wait_for_close();
    });
    auto options = quick_options();
    options.enable_oob = false;
    qmp::Client client(options);
    client.connect(server.address());
    EXPECT_FALSE(client.greeting().oob_enabled);
    client.disconnect();
    ASSERT_TRUE(server.wait_scripts_done(1));
    EXPECT_FALSE(negotiation.contains("arguments"));
}

TEST(Client, OobNotRequestedWhenNotOffered)
{
    json negotiation;
    FakeServer server([&](FakePeer& peer) {
        negotiation = peer.handshake(json::array());
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_FALSE(client.greeting().oob_enabled);
    client.disconnect();
    ASSERT_TRUE(server.wait_scripts_done(1));
    EXPECT_FALSE(negotiation.contains("arguments"));
}

TEST(Client, ExecuteReturnsTheReturnMember)
{
    json command;
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        command = peer.answer({{"status", "running"}, {"running", true}});
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    const json reply = client.execute("query-status");
    EXPECT_EQ(reply["status"], "running");
    client.disconnect();
    ASSERT_TRUE(server.wait_scripts_done(1)); // the script's writes are visible after this
    EXPECT_EQ(command["execute"], "query-status");
    EXPECT_FALSE(command.contains("arguments"));
    EXPECT_TRUE(command["id"].is_string());
}

TEST(Client, ArgumentsAreSentAsGiven)
{
    json command;
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        command = peer.answer();
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    client.execute("block_resize", {{"node-name", "disk0"}, {"size", 1 << 30}});
    client.disconnect();
    ASSERT_TRUE(server.wait_scripts_done(1));
    EXPECT_EQ(command["arguments"], (json{{"node-name", "disk0"}, {"size", 1 << 30}}));
}

TEST(Client, NonObjectReturnValues)
{
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        peer.answer("a string");
        peer.answer(json::array({1, 2}));
        peer.answer(42);
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_EQ(client.execute("qom-get"), "a string");
    EXPECT_EQ(client.execute("query-fdsets"), json::array({1, 2}));
    EXPECT_EQ(client.execute("guest-get-time"), 42);
}

TEST(Client, ErrorReplyThrowsExecuteErrorAndClientStaysUsable)
{
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        const json command = peer.read_message();
        peer.send_json({{"id", command["id"]},
            {"error",
                {{"class", "CommandNotFound"},
                    {"desc", "The command query-statsu has not been found"}}}});
        peer.answer({{"status", "running"}});
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    try {
        client.execute("query-statsu");
        FAIL() << "no exception";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.command(), "query-statsu");
        EXPECT_EQ(e.error_class(), "CommandNotFound");
        EXPECT_EQ(e.description(), "The command query-statsu has not been found");
        EXPECT_NE(std::string(e.what()).find("query-statsu"), std::string::npos);
    }
    EXPECT_TRUE(client.is_connected());
    EXPECT_EQ(client.execute("query-status")["status"], "running");
}

TEST(Client, EventsArePoppedWithNameDataAndTimestamp)
{
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        peer.send_event("STOP");
        peer.send_event("BLOCK_JOB_COMPLETED", {{"device", "job0"}});
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    const qmp::Event stop = client.events().pop();
    EXPECT_EQ(stop.name, "STOP");
    EXPECT_TRUE(stop.data.is_null());
    EXPECT_EQ(
        std::chrono::duration_cast<std::chrono::microseconds>(stop.timestamp.time_since_epoch())
            .count(),
        1700000000123456LL);
    const auto job = client.events().pop(5s);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->data["device"], "job0");
    EXPECT_EQ(job->raw["event"], "BLOCK_JOB_COMPLETED");
    EXPECT_FALSE(client.events().try_pop());
    EXPECT_FALSE(client.events().pop(20ms));
}

TEST(Client, EventWithUnreadableClockHasEpochTimestamp)
{
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        peer.send_json(
            {{"event", "RESET"}, {"timestamp", {{"seconds", -1}, {"microseconds", -1}}}});
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_EQ(client.events().pop().timestamp, std::chrono::system_clock::time_point{});
}

TEST(Client, EventBeforeGreetingIsQueuedNotABadGreeting)
{
    FakeServer server([&](FakePeer& peer) {
        peer.send_event("RESUME");
        peer.handshake();
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_EQ(client.events().pop(5s)->name, "RESUME");
}

TEST(Client, EventsBetweenCommandAndReplyDoNotDisturbRouting)
{
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        for (int i = 0; i < 3; ++i) {
            const json command = peer.read_message();
            peer.send_event("STOP");
            peer.send_event("RESUME");
            peer.reply(command, {{"n", command["arguments"]["n"]}});
        }
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(client.execute("echo", {{"n", i}})["n"], i);
    EXPECT_EQ(client.events().size(), 6u);
}

TEST(Client, RepliesOutOfOrderReachTheirOwnCallers)
{
    constexpr int calls = 4;
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        std::vector<json> commands;
        for (int i = 0; i < calls; ++i)
            commands.push_back(peer.read_message());
        for (auto it = commands.rbegin(); it != commands.rend(); ++it)
            peer.reply(*it, {{"n", (*it)["arguments"]["n"]}});
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    std::vector<std::thread> threads;
    std::atomic<int> correct{0};
    for (int i = 0; i < calls; ++i)
        threads.emplace_back([&, i] {
            if (client.execute("echo", {{"n", i}})["n"] == i)
                ++correct;
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(correct, calls);
}

TEST(Client, ManyThreadsEachGetTheirOwnReply)
{
    constexpr int threads_n = 8, per_thread = 250;
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        for (int i = 0; i < threads_n * per_thread; ++i) {
            const json command = peer.read_message();
            peer.reply(command, command["arguments"]);
        }
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    std::atomic<int> correct{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_n; ++t)
        threads.emplace_back([&, t] {
            try {
                for (int i = 0; i < per_thread; ++i) {
                    const json args = {{"thread", t}, {"i", i}};
                    if (client.execute("echo", args) == args)
                        ++correct;
                }
            } catch (const qmp::Error& e) {
                ADD_FAILURE() << e.what();
            }
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(correct, threads_n * per_thread);
}

TEST(Client, PrettyPrintedAndSplitMessages)
{
    FakeServer server([&](FakePeer& peer) {
        peer.send(qmp::test::qemu_greeting().dump(4) + "\n");
        peer.reply(peer.read_message());
        const json command = peer.read_message();
        const std::string reply =
            json{{"return", {{"big", std::string(100000, 'x')}}}, {"id", command["id"]}}.dump(2);
        for (std::size_t i = 0; i < reply.size(); i += 7000)
            peer.send(reply.substr(i, 7000));
        peer.send("\n");
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_EQ(client.execute("big")["big"].get<std::string>().size(), 100000u);
}

TEST(Client, ReconnectAfterDisconnect)
{
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        peer.answer({{"session", "any"}});
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    for (int i = 0; i < 3; ++i) {
        client.connect(server.address());
        EXPECT_EQ(client.execute("query-session")["session"], "any");
        client.disconnect();
        EXPECT_FALSE(client.is_connected());
    }
    EXPECT_TRUE(server.wait_scripts_done(3));
    EXPECT_EQ(server.connections(), 3);
}

TEST(Client, ReconnectAfterThePeerHungUp)
{
    std::atomic<int> sessions{0};
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        if (++sessions > 1) // the first session hangs up at once
            peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    ASSERT_TRUE(server.wait_scripts_done(1));
    EXPECT_THROW(client.events().pop(), qmp::DisconnectedError); // wakes when the session ends
    EXPECT_FALSE(client.is_connected());
    client.connect(server.address());
    EXPECT_TRUE(client.is_connected());
}

TEST(Client, ConnectTwiceIsAUsageError)
{
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_THROW(client.connect(server.address()), qmp::UsageError);
    EXPECT_TRUE(client.is_connected());
}

TEST(Client, ArgumentsMustBeAnObject)
{
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        peer.answer();
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_THROW(client.execute("x", json::array({1})), qmp::UsageError);
    EXPECT_THROW(client.execute("x", 3), qmp::UsageError);
    EXPECT_NO_THROW(client.execute("x", {})); // {} is null: no arguments
}

TEST(Client, NoThreadOrFdLeftBehindAfterDisconnect)
{
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        peer.wait_for_close();
    });
    const int threads_before = qmp::test::thread_count();
    const int fds_before = qmp::test::fd_count();
    {
        qmp::Client client(quick_options());
        for (int i = 0; i < 20; ++i) {
            client.connect(server.address());
            EXPECT_EQ(qmp::test::thread_count(), threads_before + 1); // exactly one reader
            client.disconnect();
        }
        ASSERT_TRUE(server.wait_scripts_done(20));
    }
    EXPECT_EQ(qmp::test::thread_count(), threads_before);
    EXPECT_EQ(qmp::test::fd_count(), fds_before);
}

TEST(Client, TrafficIsLoggedAtTraceLevelThroughTheInjectedLogger)
{
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        peer.answer({{"status", "running"}});
        peer.wait_for_close();
    });
    std::ostringstream out;
    auto logger = std::make_shared<spdlog::logger>(
        "host", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    logger->set_level(spdlog::level::trace);
    auto options = quick_options();
    options.logger = logger;
    qmp::Client client(options);
    client.connect(server.address());
    client.execute("query-status");
    client.disconnect();
    const std::string log = out.str();
    EXPECT_NE(log.find("--> {\"execute\":\"query-status\""), std::string::npos) << log;
    EXPECT_NE(log.find("<-- {\"id\":\"2\",\"return\":{\"status\":\"running\"}}"), std::string::npos)
        << log;
    EXPECT_EQ(spdlog::get("qmp"), nullptr); // nothing registered globally
}

TEST(Client, DefaultLoggerTouchesNoGlobalState)
{
    FakeServer server([&](FakePeer& peer) {
        peer.handshake();
        peer.wait_for_close();
    });
    const auto default_logger = spdlog::default_logger();
    const auto level = spdlog::get_level();
    qmp::Client client;
    client.connect(server.address());
    client.disconnect();
    EXPECT_EQ(spdlog::default_logger(), default_logger);
    EXPECT_EQ(spdlog::get_level(), level);
    EXPECT_EQ(spdlog::get("qmp"), nullptr);
}
