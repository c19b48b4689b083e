// SPDX-License-Identifier: MIT
// The Client's normal behaviour, against qmp::testing::FakeQemu, and the scripted fake server
// for what rules cannot say (exact timestamps, events before the greeting, replies out of
// order, echoing arbitrary arguments, pretty-printed and split messages).
#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <thread>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "scripted_fake.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::FakeConnection;
using qmp::test::quick_options;
using qmp::test::ScriptedQemu;
using qmp::testing::FakeQemu;

namespace {

} // namespace

TEST(Client, ConnectReadsGreetingAndNegotiatesOob)
{
    FakeQemu fake;
    qmp::Client client(quick_options());
    client.connect(fake.address());
    EXPECT_TRUE(client.is_connected());
    EXPECT_EQ(client.greeting().version.major, 7);
    EXPECT_EQ(client.greeting().capabilities, std::vector<std::string>{"oob"});
    EXPECT_TRUE(client.greeting().oob_enabled);
    EXPECT_EQ(client.address(), fake.address());
    client.disconnect();
    const json negotiation = fake.messages().at(0);
    EXPECT_EQ(negotiation["execute"], "qmp_capabilities");
    EXPECT_EQ(negotiation["arguments"], (json{{"enable", {"oob"}}}));
    EXPECT_TRUE(fake.unexpected().empty());
}

TEST(Client, OobNotRequestedWhenDisabled)
{
    FakeQemu fake;
    auto options = quick_options();
    options.enable_oob = false;
    qmp::Client client(options);
    client.connect(fake.address());
    EXPECT_FALSE(client.greeting().oob_enabled);
    client.disconnect();
    const json negotiation = fake.messages().at(0);
    EXPECT_EQ(negotiation["execute"], "qmp_capabilities");
    EXPECT_FALSE(negotiation.contains("arguments"));
}

TEST(Client, OobNotRequestedWhenNotOffered)
{
    FakeQemu fake;
    fake.set_greeting_message(FakeQemu::qemu_7_2_greeting(json::array()));
    qmp::Client client(quick_options());
    client.connect(fake.address());
    EXPECT_FALSE(client.greeting().oob_enabled);
    client.disconnect();
    const json negotiation = fake.messages().at(0);
    EXPECT_EQ(negotiation["execute"], "qmp_capabilities");
    EXPECT_FALSE(negotiation.contains("arguments"));
}

TEST(Client, ExecuteReturnsTheReturnMember)
{
    FakeQemu fake;
    fake.on("query-status").reply({{"status", "running"}, {"running", true}});
    qmp::Client client(quick_options());
    client.connect(fake.address());
    const json reply = client.execute("query-status");
    EXPECT_EQ(reply["status"], "running");
    client.disconnect();
    const json command = fake.messages().at(1);
    EXPECT_EQ(command["execute"], "query-status");
    EXPECT_FALSE(command.contains("arguments"));
    EXPECT_TRUE(command["id"].is_string());
}

TEST(Client, ArgumentsAreSentAsGiven)
{
    FakeQemu fake;
    fake.on("block_resize").reply();
    qmp::Client client(quick_options());
    client.connect(fake.address());
    client.execute("block_resize", {{"node-name", "disk0"}, {"size", 1 << 30}});
    client.disconnect();
    EXPECT_EQ(
        fake.messages().at(1)["arguments"], (json{{"node-name", "disk0"}, {"size", 1 << 30}}));
}

TEST(Client, NonObjectReturnValues)
{
    FakeQemu fake;
    fake.on("qom-get").reply("a string");
    fake.on("query-fdsets").reply(json::array({1, 2}));
    fake.on("guest-get-time").reply(42);
    qmp::Client client(quick_options());
    client.connect(fake.address());
    EXPECT_EQ(client.execute("qom-get"), "a string");
    EXPECT_EQ(client.execute("query-fdsets"), json::array({1, 2}));
    EXPECT_EQ(client.execute("guest-get-time"), 42);
}

TEST(Client, ErrorReplyThrowsExecuteErrorAndClientStaysUsable)
{
    FakeQemu fake; // no rule for query-statsu: QEMU's CommandNotFound
    fake.on("query-status").reply({{"status", "running"}});
    qmp::Client client(quick_options());
    client.connect(fake.address());
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
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        peer.send_message({{"event", "STOP"},
            {"timestamp", {{"seconds", 1700000000}, {"microseconds", 123456}}}});
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
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        peer.send_message(
            {{"event", "RESET"}, {"timestamp", {{"seconds", -1}, {"microseconds", -1}}}});
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_EQ(client.events().pop().timestamp, std::chrono::system_clock::time_point{});
}

TEST(Client, EventBeforeGreetingIsQueuedNotABadGreeting)
{
    ScriptedQemu server([&](FakeConnection& peer) {
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
    FakeQemu fake;
    for (int i = 0; i < 3; ++i)
        fake.on("echo", {{"n", i}}).emit("STOP").emit("RESUME").reply({{"n", i}});
    qmp::Client client(quick_options());
    client.connect(fake.address());
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(client.execute("echo", {{"n", i}})["n"], i);
    EXPECT_EQ(client.events().size(), 6u);
}

TEST(Client, RepliesOutOfOrderReachTheirOwnCallers)
{
    constexpr int calls = 4;
    ScriptedQemu server([&](FakeConnection& peer) {
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
    ScriptedQemu server([&](FakeConnection& peer) {
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
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.send(qmp::test::qemu_greeting().dump(4) + "\n");
        peer.reply(peer.read_message());
        const json command = peer.read_message();
        // The line end goes with the last piece: sent after it, it could meet a client that
        // has its reply (the framer needs no newline) and has closed already (EPIPE).
        const std::string reply =
            json{{"return", {{"big", std::string(100000, 'x')}}}, {"id", command["id"]}}.dump(2) +
            "\n";
        for (std::size_t i = 0; i < reply.size(); i += 7000)
            peer.send(reply.substr(i, 7000));
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_EQ(client.execute("big")["big"].get<std::string>().size(), 100000u);
}

TEST(Client, ReconnectAfterDisconnect)
{
    FakeQemu fake;
    fake.on("query-session").reply({{"session", "any"}});
    qmp::Client client(quick_options());
    for (int i = 0; i < 3; ++i) {
        client.connect(fake.address());
        EXPECT_EQ(client.execute("query-session")["session"], "any");
        client.disconnect();
        EXPECT_FALSE(client.is_connected());
    }
    EXPECT_TRUE(fake.wait_for_disconnect(5s));
    EXPECT_EQ(fake.connections(), 3u);
}

TEST(Client, ReconnectAfterThePeerHungUp)
{
    FakeQemu fake;
    fake.on("qmp_capabilities").times(1).reply().hang_up(); // the first session hangs up at once
    qmp::Client client(quick_options());
    client.connect(fake.address());
    ASSERT_TRUE(fake.wait_for_disconnect(5s));
    EXPECT_THROW(client.events().pop(), qmp::DisconnectedError); // wakes when the session ends
    EXPECT_FALSE(client.is_connected());
    client.connect(fake.address());
    EXPECT_TRUE(client.is_connected());
}

TEST(Client, ConnectTwiceIsAUsageError)
{
    FakeQemu fake;
    qmp::Client client(quick_options());
    client.connect(fake.address());
    EXPECT_THROW(client.connect(fake.address()), qmp::UsageError);
    EXPECT_TRUE(client.is_connected());
}

TEST(Client, ArgumentsMustBeAnObject)
{
    FakeQemu fake;
    fake.on("x").reply();
    qmp::Client client(quick_options());
    client.connect(fake.address());
    EXPECT_THROW(client.execute("x", json::array({1})), qmp::UsageError);
    EXPECT_THROW(client.execute("x", 3), qmp::UsageError);
    EXPECT_NO_THROW(client.execute("x", {})); // {} is null: no arguments
    EXPECT_EQ(fake.messages().back().count("arguments"), 0u);
}

TEST(Client, NoThreadOrFdLeftBehindAfterDisconnect)
{
    ScriptedQemu server([&](FakeConnection& peer) {
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
        ASSERT_TRUE(server.wait_for_scripts(20));
    }
    EXPECT_EQ(qmp::test::thread_count(), threads_before);
    EXPECT_EQ(qmp::test::fd_count(), fds_before);
}

TEST(Client, TrafficIsLoggedAtTraceLevelThroughTheInjectedLogger)
{
    ScriptedQemu server([&](FakeConnection& peer) {
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
    ScriptedQemu server([&](FakeConnection& peer) {
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
