// SPDX-License-Identifier: MIT
// qmp::testing's scripted connections (FakeEndpoint::serve_with(), FakeConnection) and handed-over
// sockets (serve_connection()), through the public API only: replies out of order, what a
// script's failure leaves, interruptions by hang_up() and stop(), recording, and rules or
// scripts serving a socketpair or a connection to a qmp::Server.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>

#include "call_outcome.hpp"
#include "fake_options.hpp"
#include "process_probe.hpp"
#include "unix_socket.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::connect_unix;
using qmp::test::contains;
using qmp::test::ms_since;
using qmp::test::quick_options;
using qmp::testing::FakeConnection;
using qmp::testing::FakeQemu;
using Clock = std::chrono::steady_clock;

namespace {

// Whether the peer of \p fd has closed its end (end of file within 5 s).
bool sees_end_of_file(int fd)
{
    pollfd readable{fd, POLLIN, 0};
    char byte;
    return ::poll(&readable, 1, 5000) > 0 && ::recv(fd, &byte, 1, MSG_DONTWAIT) == 0;
}

} // namespace

TEST(FakeScript, ServesTheConnectionAndRepliesOutOfOrder)
{
    FakeQemu fake;
    fake.serve_with([](FakeConnection& client) {
        client.handshake();
        const json first = client.read_message();
        const json second = client.read_message();
        client.reply(second, "second");
        client.reply(first, "first");
        client.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(fake.address());
    auto first = client.execute_async("query-status");
    auto second = client.execute_async("query-name");
    EXPECT_EQ(second.get(), "second");
    EXPECT_EQ(first.get(), "first");
    client.disconnect();
    ASSERT_TRUE(fake.wait_for_scripts(1, 5s));
    EXPECT_TRUE(fake.script_failures().empty());
    // What the script read is recorded like what the rules see.
    EXPECT_EQ(fake.received("query-name").size(), 1u);
    EXPECT_EQ(fake.messages().size(), 3u); // qmp_capabilities, query-status, query-name
    EXPECT_TRUE(fake.wait_for("query-status", 1s));
}

TEST(FakeScript, FailuresAreRecordedInOrder)
{
    FakeQemu fake;
    std::atomic<int> runs{0};
    fake.serve_with([&](FakeConnection& client) {
        client.handshake();
        throw std::runtime_error("script failure " + std::to_string(++runs));
    });
    qmp::Client client(quick_options());
    for (int i = 0; i < 2; ++i) {
        client.connect(fake.address());
        ASSERT_TRUE(fake.wait_for_scripts(static_cast<std::size_t>(i + 1), 5s));
        client.disconnect();
    }
    EXPECT_EQ(
        fake.script_failures(), (std::vector<std::string>{"script failure 1", "script failure 2"}));
}

TEST(FakeScript, ReadingTimesOutWithAQmpErrorSayingSo)
{
    FakeQemu fake;
    std::string what;
    fake.serve_with([&](FakeConnection& client) {
        client.handshake();
        try {
            client.read_message(100ms);
        } catch (const qmp::Error& e) {
            what = e.what();
        }
    });
    qmp::Client client(quick_options());
    client.connect(fake.address()); // and then sends nothing
    ASSERT_TRUE(fake.wait_for_scripts(1, 5s));
    EXPECT_EQ(what, "qmp: fake: no message from the client within 100 ms");
    EXPECT_TRUE(fake.script_failures().empty());
}

TEST(FakeScript, ClosingEndsTheConnectionAndLaterCallsThrow)
{
    FakeQemu fake;
    std::string what;
    int fd_after = 0;
    fake.serve_with([&](FakeConnection& client) {
        client.handshake();
        client.hang_up();
        fd_after = client.fd();
        try {
            client.send_event("STOP");
        } catch (const qmp::Error& e) {
            what = e.what();
        }
    });
    qmp::Client client(quick_options());
    client.connect(fake.address());
    ASSERT_TRUE(fake.wait_for_scripts(1, 5s));
    EXPECT_TRUE(fake.wait_for_disconnect(5s));
    EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);
    EXPECT_EQ(fd_after, -1);
    EXPECT_EQ(what, "qmp: fake: the script already closed the connection");
}

TEST(FakeScript, HangUpFromAnotherThreadInterruptsTheScript)
{
    FakeQemu fake;
    fake.serve_with([](FakeConnection& client) {
        client.handshake();
        client.read_message(60s);
    });
    qmp::Client client(quick_options());
    client.connect(fake.address());
    const auto begin = Clock::now();
    fake.hang_up();
    EXPECT_LT(ms_since(begin), 5000);
    ASSERT_TRUE(fake.wait_for_scripts(1, 5s));
    EXPECT_TRUE(fake.script_failures().empty()) << "an interruption is not a failure";
    EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);
}

TEST(FakeScript, StopInterruptsTheScriptAndKeepsTheRecords)
{
    FakeQemu fake;
    fake.serve_with([](FakeConnection& client) {
        client.handshake();
        client.answer();
        client.read_message(60s);
    });
    qmp::Client client(quick_options());
    client.connect(fake.address());
    client.execute("query-status");
    const auto begin = Clock::now();
    fake.stop();
    EXPECT_LT(ms_since(begin), 5000);
    fake.stop(); // idempotent
    EXPECT_TRUE(fake.script_failures().empty());
    EXPECT_EQ(fake.received("query-status").size(), 1u);
    EXPECT_FALSE(fake.is_connected());
    EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);
}

TEST(FakeScript, AnEmptyScriptGivesTheConnectionsBackToTheRules)
{
    FakeQemu fake;
    fake.on("query-status").reply({{"status", "running"}});
    fake.serve_with([](FakeConnection& client) {
        client.handshake();
        client.answer({{"status", "scripted"}});
        client.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(fake.address());
    EXPECT_EQ(client.execute("query-status")["status"], "scripted");
    client.disconnect();
    fake.serve_with(nullptr);
    client.connect(fake.address());
    EXPECT_EQ(client.execute("query-status")["status"], "running");
}

TEST(FakeScript, GuestAgentMessagesEndInANewline)
{
    qmp::testing::FakeGuestAgent fake;
    fake.serve_with([](FakeConnection& client) { client.send_message({{"return", 1}}); });
    const int fd = connect_unix(fake.address().substr(5));
    std::string bytes;
    char chunk[256];
    pollfd readable{fd, POLLIN, 0};
    ssize_t n;
    while (::poll(&readable, 1, 5000) > 0 && (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0)
        bytes.append(chunk, static_cast<std::size_t>(n));
    ::close(fd);
    EXPECT_EQ(bytes, "{\"return\":1}\n");
}

TEST(FakeScript, GuestAgentScriptsReadPastTheSynchronisationByte)
{
    qmp::testing::FakeGuestAgent fake;
    fake.serve_with([](FakeConnection& client) {
        // qmp::GuestAgent sends 0xFF, then guest-sync-delimited; qemu-ga answers with its own
        // 0xFF and the id.
        const json sync = client.read_message();
        if (sync.value("execute", "") != "guest-sync-delimited")
            throw std::runtime_error("expected guest-sync-delimited, got " + sync.dump());
        client.send("\xff");
        client.reply(sync, sync["arguments"]["id"]);
        client.reply(client.read_message(), {{"version", "7.2.22"}});
        client.wait_for_close();
    });
    qmp::GuestAgent agent;
    agent.connect(fake.address());
    EXPECT_EQ(agent.execute("guest-info")["version"], "7.2.22");
    agent.disconnect();
    ASSERT_TRUE(fake.wait_for_scripts(1, 5s));
    EXPECT_TRUE(fake.script_failures().empty()) << fake.script_failures().at(0);
    EXPECT_EQ(fake.received("guest-info").size(), 1u);
}

TEST(FakeServeConnection, RulesServeASocketpairForConnectFd)
{
    FakeQemu fake;
    fake.on("query-status").reply({{"status", "running"}});
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    fake.serve_connection(pair[1]);
    qmp::Client client(quick_options());
    client.connect_fd(pair[0]);
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    EXPECT_EQ(fake.connections(), 1u);
    EXPECT_TRUE(fake.unexpected().empty());
}

TEST(FakeServeConnection, PlaysQemuConnectingToAServer)
{
    const std::string directory = ::testing::TempDir() + "qmp-serve-connection-XXXXXX";
    std::string path = directory;
    ASSERT_NE(::mkdtemp(path.data()), nullptr);
    qmp::Server server("unix:" + path + "/qmp.sock");
    FakeQemu fake;
    fake.on("query-name").reply({{"name", "guest"}});
    fake.serve_connection(connect_unix(path + "/qmp.sock")); // as QEMU's -qmp unix:PATH does
    qmp::Client client(quick_options());
    client.accept(server, 5s);
    EXPECT_EQ(client.execute("query-name")["name"], "guest");
    client.disconnect();
    std::filesystem::remove_all(path);
}

TEST(FakeServeConnection, ASocketHandedOverAfterStopIsClosed)
{
    FakeQemu fake;
    fake.stop();
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    fake.serve_connection(pair[1]);
    EXPECT_TRUE(sees_end_of_file(pair[0]));
    ::close(pair[0]);
}

TEST(FakeServeConnection, NoSocketIsAUsageError)
{
    FakeQemu fake;
    try {
        fake.serve_connection(-1);
        FAIL() << "no exception";
    } catch (const qmp::UsageError& e) {
        EXPECT_TRUE(contains(e.what(), "serve_connection")) << e.what();
    }
}
