// SPDX-License-Identifier: MIT
// qmp::testing::FakeQemu with a real qmp::Client: rules (order, argument subsets, uses, events,
// delays, silence, errors with and without id, garbage, hang-ups and resets at each point),
// QEMU's own answers (negotiation, unknown commands, malformed input), the greeting, what is
// recorded, bounded waits, reconnection and a prompt destructor.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <future>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>

#include "fake_options.hpp"
#include "process_probe.hpp"
#include "unix_socket.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::ms_since;
using qmp::test::quick_options;
using qmp::testing::FakeQemu;
using Clock = std::chrono::steady_clock;

namespace {

// A list of one JSON value (braces alone would build a JSON array instead).
std::vector<json> one(json value)
{
    std::vector<json> list;
    list.push_back(std::move(value));
    return list;
}

// A bare unix-socket client, for what qmp::Client never does.
class RawClient {
public:
    explicit RawClient(const std::string& address)
        : fd_(qmp::test::connect_unix(address.substr(5))) // "unix:"
    {
    }
    ~RawClient() { ::close(fd_); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    void send(const std::string& text)
    {
        if (::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(text.size()))
            throw std::runtime_error("raw client: send failed");
    }

    // The next line, parsed; throws after 5 s.
    json read_line()
    {
        for (;;) {
            const auto end = buffer_.find('\n');
            if (end != std::string::npos) {
                const std::string line = buffer_.substr(0, end);
                buffer_.erase(0, end + 1);
                return json::parse(line);
            }
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 5000) != 1)
                throw std::runtime_error("raw client: nothing to read");
            char chunk[4096];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0)
                throw std::runtime_error("raw client: connection closed");
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

private:
    int fd_;
    std::string buffer_;
};

} // namespace

TEST(FakeQemu, GreetsLikeQemu72AndNegotiatesOob)
{
    FakeQemu fake;
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    const qmp::Greeting greeting = client.greeting();
    EXPECT_EQ(greeting.version.major, 7);
    EXPECT_EQ(greeting.version.minor, 2);
    EXPECT_EQ(greeting.version.micro, 22);
    EXPECT_TRUE(greeting.oob_enabled);
    EXPECT_EQ(fake.received("qmp_capabilities"), one({{"enable", {"oob"}}}));
    EXPECT_TRUE(fake.unexpected().empty());
    EXPECT_EQ(fake.connections(), 1u);
}

TEST(FakeQemu, RepliesErrorsAndEventsAsScripted)
{
    FakeQemu fake;
    fake.on("query-status").reply({{"status", "running"}, {"running", true}});
    fake.on("blockdev-add").error("GenericError", "Duplicate nodes");
    fake.on("stop").emit("STOP").reply(json::object());
    qmp::Client client{quick_options()};
    client.connect(fake.address());

    EXPECT_EQ(client.execute("query-status"), json({{"status", "running"}, {"running", true}}));
    try {
        client.execute("blockdev-add", {{"node-name", "disk0"}, {"driver", "null-co"}});
        FAIL() << "no ExecuteError";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.error_class(), "GenericError");
        EXPECT_EQ(e.description(), "Duplicate nodes");
    }
    const qmp::Event stopped = client.execute_and_wait("stop", {}, "STOP", 5s);
    EXPECT_EQ(stopped.name, "STOP");
    EXPECT_EQ(fake.received("blockdev-add"), one({{"node-name", "disk0"}, {"driver", "null-co"}}));
    EXPECT_EQ(fake.received("stop"), one(json::object()));
    EXPECT_TRUE(fake.unexpected().empty());
}

TEST(FakeQemu, EventArrivesBeforeTheReplyOfItsCommand)
{
    FakeQemu fake;
    fake.on("stop").emit("STOP", {{"why", "test"}}).reply();
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    client.execute("stop");
    // The event was read before the reply, so it is queued already.
    const auto event = client.events().try_pop();
    ASSERT_TRUE(event);
    EXPECT_EQ(event->name, "STOP");
    EXPECT_EQ(event->data, json({{"why", "test"}}));
}

TEST(FakeQemu, RulesApplyInOrderWithUsesAndArgumentSubsets)
{
    FakeQemu fake;
    fake.on("query-status").times(2).reply({{"status", "paused"}});
    fake.on("query-status").reply({{"status", "running"}});
    fake.on("qom-get", {{"property", "type"}}).reply("pc-machine");
    fake.on("qom-get", {{"path", "/machine"}}).reply(42);
    auto once = fake.on("cont").times(1).reply();
    qmp::Client client{quick_options()};
    client.connect(fake.address());

    EXPECT_EQ(client.execute("query-status")["status"], "paused");
    EXPECT_EQ(client.execute("query-status")["status"], "paused");
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    EXPECT_EQ(
        client.execute("qom-get", {{"path", "/machine"}, {"property", "type"}}), "pc-machine");
    EXPECT_EQ(client.execute("qom-get", {{"path", "/machine"}, {"property", "x"}}), 42);
    EXPECT_THROW(
        client.execute("qom-get", {{"path", "/other"}, {"property", "x"}}), qmp::ExecuteError);
    client.execute("cont");
    EXPECT_EQ(once.uses(), 1u);
    EXPECT_THROW(client.execute("cont"), qmp::ExecuteError) << "its one use is spent";
    EXPECT_EQ(fake.unexpected().size(), 2u);
}

TEST(FakeQemu, ArgumentSubsetMustBeAnObject)
{
    FakeQemu fake;
    EXPECT_THROW(fake.on("stop", json::array()), qmp::UsageError);
}

TEST(FakeQemu, UnmatchedCommandGetsCommandNotFoundAndIsRecorded)
{
    FakeQemu fake;
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    try {
        client.execute("query-statsu", {{"x", 1}});
        FAIL() << "no ExecuteError";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.error_class(), "CommandNotFound");
        EXPECT_EQ(e.description(), "The command query-statsu has not been found");
    }
    const auto odd = fake.unexpected();
    ASSERT_EQ(odd.size(), 1u);
    EXPECT_EQ(odd[0]["message"]["execute"], "query-statsu");
    EXPECT_EQ(odd[0]["message"]["arguments"], json({{"x", 1}}));
    EXPECT_EQ(odd[0]["error"]["class"], "CommandNotFound");
    EXPECT_EQ(fake.received("query-statsu"), one({{"x", 1}}));
}

TEST(FakeQemu, NoReplyMakesTheClientTimeOutAndStayUsable)
{
    FakeQemu fake;
    fake.on("cont").no_reply();
    fake.on("query-status").reply({{"status", "running"}});
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    EXPECT_THROW(client.execute("cont", {}, 300ms), qmp::TimeoutError);
    EXPECT_TRUE(fake.wait_for("cont", 0ms)) << "received before the timeout";
    EXPECT_EQ(client.execute("query-status")["status"], "running");
}

TEST(FakeQemu, DelayComesBeforeTheReply)
{
    FakeQemu fake;
    fake.on("query-block").delay(300ms).reply(json::array());
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    const auto start = Clock::now();
    EXPECT_EQ(client.execute("query-block"), json::array());
    EXPECT_GE(ms_since(start), 300);
    // A shorter client timeout than the delay: TimeoutError.
    EXPECT_THROW(client.execute("query-block", {}, 50ms), qmp::TimeoutError);
}

TEST(FakeQemu, WaitForTheClientToSendACommandIsBounded)
{
    FakeQemu fake;
    fake.on("stop").reply();
    EXPECT_FALSE(fake.wait_for("stop", 50ms)) << "nothing was sent";
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    auto pending = client.execute_async("stop");
    EXPECT_TRUE(fake.wait_for("stop", 5s));
    pending.get();
    EXPECT_FALSE(fake.wait_for("stop", 50ms, 2));
    const auto start = Clock::now();
    EXPECT_FALSE(fake.wait_for("never", 100ms));
    EXPECT_LT(ms_since(start), 2000);
}

TEST(FakeQemu, EmitSendsAnEventNow)
{
    FakeQemu fake;
    EXPECT_FALSE(fake.emit("SHUTDOWN")) << "no client yet";
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    EXPECT_TRUE(fake.emit("SHUTDOWN", {{"guest", false}, {"reason", "host-qmp-quit"}}));
    const auto event = client.events().pop(5s);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->name, "SHUTDOWN");
    EXPECT_EQ(event->data["reason"], "host-qmp-quit");
}

TEST(FakeQemu, EmitFromManyThreadsKeepsMessagesWhole)
{
    FakeQemu fake;
    fake.on("query-status").reply({{"status", "running"}});
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    std::vector<std::thread> emitters;
    for (int t = 0; t < 4; ++t)
        emitters.emplace_back([&fake, t] {
            for (int i = 0; i < 50; ++i)
                fake.emit("TICK", {{"thread", t}, {"i", i}});
        });
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(client.execute("query-status")["status"], "running");
    for (auto& emitter : emitters)
        emitter.join();
    for (int i = 0; i < 200; ++i)
        ASSERT_TRUE(client.events().pop(5s)) << i;
    EXPECT_TRUE(client.is_connected());
}

TEST(FakeQemu, HangUpNowEndsTheSessionAndTheNextClientIsServed)
{
    FakeQemu fake;
    fake.on("query-status").reply({{"status", "running"}});
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    fake.hang_up();
    EXPECT_FALSE(fake.is_connected());
    EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);
    client.disconnect();
    client.connect(fake.address());
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    EXPECT_EQ(fake.connections(), 2u);
    fake.hang_up();
    fake.hang_up(); // nobody connected: nothing to do
}

TEST(FakeQemu, HangUpAfterTheGreeting)
{
    FakeQemu fake;
    fake.on_connect().times(1).hang_up();
    qmp::Client client{quick_options()};
    EXPECT_THROW(client.connect(fake.address()), qmp::ConnectError);
    client.connect(fake.address()); // the rule's one use is spent
    EXPECT_TRUE(client.is_connected());
}

TEST(FakeQemu, HangUpBeforeAReply)
{
    FakeQemu fake;
    fake.on("system_reset").hang_up();
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    EXPECT_THROW(client.execute("system_reset"), qmp::DisconnectedError);
    EXPECT_TRUE(fake.wait_for_disconnect(5s));
}

TEST(FakeQemu, HangUpInTheMiddleOfAMessage)
{
    FakeQemu fake;
    fake.on("query-status").raw("{\"return\": {\"status\": \"runn").hang_up();
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);
}

TEST(FakeQemu, ResetBeforeAReply)
{
    FakeQemu fake;
    fake.on("query-status").reset();
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);
    EXPECT_TRUE(fake.wait_for_disconnect(5s));
    client.disconnect();
    client.connect(fake.address());
    fake.reset();
    EXPECT_FALSE(fake.is_connected());
}

TEST(FakeQemu, GarbageIsAProtocolError)
{
    FakeQemu fake;
    fake.on("query-status").raw("this is not JSON\r\n");
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    EXPECT_THROW(client.execute("query-status"), qmp::ProtocolError);
}

TEST(FakeQemu, ErrorWithoutIdIsAProtocolError)
{
    FakeQemu fake;
    fake.on("query-status").error_without_id("GenericError", "JSON parse error, stray '}'");
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    EXPECT_THROW(client.execute("query-status"), qmp::ProtocolError);
}

TEST(FakeQemu, GreetingVersionAndCapabilitiesAreConfigurable)
{
    FakeQemu fake;
    qmp::Version version;
    version.major = 8;
    version.minor = 1;
    version.micro = 3;
    version.package = "v8.1.3";
    fake.set_greeting(version, json::array());
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    EXPECT_EQ(client.greeting().version.major, 8);
    EXPECT_EQ(client.greeting().version.package, "v8.1.3");
    EXPECT_FALSE(client.greeting().oob_enabled);
    EXPECT_EQ(fake.received("qmp_capabilities"), one(json::object()));
    qmp::ExecOptions oob;
    oob.oob = true;
    EXPECT_THROW(client.execute("query-yank", {}, oob), qmp::UsageError);
}

TEST(FakeQemu, NoGreetingMakesConnectTimeOut)
{
    FakeQemu fake;
    fake.disable_greeting();
    qmp::ClientOptions options = quick_options();
    options.connect_timeout = 300ms;
    qmp::Client client{options};
    EXPECT_THROW(client.connect(fake.address()), qmp::ConnectError);
}

TEST(FakeQemu, MalformedGreetingIsRefused)
{
    FakeQemu fake;
    fake.set_greeting_message({{"hello", "world"}});
    qmp::Client client{quick_options()};
    EXPECT_THROW(client.connect(fake.address()), qmp::ConnectError);
}

TEST(FakeQemu, RefusedNegotiation)
{
    FakeQemu fake;
    fake.on("qmp_capabilities").error("GenericError", "no");
    qmp::Client client{quick_options()};
    EXPECT_THROW(client.connect(fake.address()), qmp::ConnectError);
}

TEST(FakeQemu, EventsBeforeNegotiationOnConnect)
{
    FakeQemu fake;
    fake.on_connect().emit("RESUME");
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    const auto event = client.events().pop(5s);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->name, "RESUME");
}

TEST(FakeQemu, AnswersLikeQemuBeforeAndAfterNegotiation)
{
    FakeQemu fake;
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    const json again = client.execute_raw({{"execute", "qmp_capabilities"}, {"id", "x"}});
    EXPECT_EQ(
        again["error"]["desc"], "Capabilities negotiation is already complete, command ignored");
    const json unknown_member = client.execute_raw({{"execute", "stop"}, {"id", "y"}, {"foo", 1}});
    EXPECT_EQ(unknown_member["error"]["desc"], "QMP input member 'foo' is unexpected");
    const json bad_arguments =
        client.execute_raw({{"execute", "stop"}, {"id", "z"}, {"arguments", json::array()}});
    EXPECT_EQ(bad_arguments["error"]["desc"], "QMP input member 'arguments' must be an object");
    EXPECT_EQ(fake.unexpected().size(), 3u);
}

TEST(FakeQemu, CommandBeforeNegotiationIsRefusedAsQemuDoes)
{
    FakeQemu fake;
    RawClient raw(fake.address());
    EXPECT_TRUE(raw.read_line().count("QMP"));
    raw.send("{\"execute\": \"stop\", \"id\": 1}");
    EXPECT_EQ(raw.read_line(),
        json({{"id", 1},
            {"error",
                {{"class", "CommandNotFound"},
                    {"desc",
                        "Expecting capabilities negotiation with "
                        "'qmp_capabilities'"}}}}));
    raw.send("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"x\"]}}");
    EXPECT_EQ(raw.read_line()["error"]["desc"], "Parameter 'null' does not accept value 'x'");
    raw.send("[1]");
    const json not_an_object = raw.read_line();
    EXPECT_EQ(not_an_object.count("id"), 0u);
    EXPECT_EQ(not_an_object["error"]["desc"], "QMP input must be a JSON object");
    raw.send("nonsense\n");
    const json garbage = raw.read_line();
    EXPECT_EQ(garbage.count("id"), 0u);
    EXPECT_EQ(garbage["error"]["desc"].get<std::string>().rfind("JSON parse error, ", 0), 0u)
        << garbage.dump();
    EXPECT_EQ(fake.unexpected().size(), 4u);
    EXPECT_EQ(fake.unexpected().back()["message"], "nonsense\n");
}

TEST(FakeQemu, DestructorIsPromptWithAClientThatDoesNotRead)
{
    auto fake = std::make_unique<FakeQemu>();
    fake->on_connect().raw(std::string(16 << 20, ' ')); // far more than a socket buffer holds
    RawClient raw(fake->address()); // never reads
    ASSERT_TRUE(fake->wait_for_connections(1, 5s));
    const auto start = Clock::now();
    fake.reset();
    EXPECT_LT(ms_since(start), 2000);
}

TEST(FakeQemu, ExecOobIsMatchedLikeExecute)
{
    FakeQemu fake;
    fake.on("query-yank").reply(json::array());
    qmp::Client client{quick_options()};
    client.connect(fake.address());
    qmp::ExecOptions oob;
    oob.oob = true;
    EXPECT_EQ(client.execute("query-yank", {}, oob), json::array());
    EXPECT_EQ(fake.messages().back().count("exec-oob"), 1u);
    EXPECT_EQ(fake.received("query-yank").size(), 1u);
}

TEST(FakeQemu, OneClientAtATimeTheNextAfterTheFirstLeaves)
{
    FakeQemu fake;
    fake.on("query-status").reply({{"status", "running"}});
    qmp::Client first{quick_options()};
    first.connect(fake.address());
    qmp::ClientOptions options = quick_options();
    options.connect_timeout = 10s;
    qmp::Client second{options};
    auto connecting = std::async(std::launch::async, [&] { second.connect(fake.address()); });
    EXPECT_EQ(connecting.wait_for(200ms), std::future_status::timeout) << "no greeting yet";
    first.disconnect();
    connecting.get();
    EXPECT_EQ(second.execute("query-status")["status"], "running");
    EXPECT_TRUE(fake.wait_for_connections(2, 5s));
}

TEST(FakeQemu, ReconnectingClientIsServedAgain)
{
    FakeQemu fake;
    fake.on("query-status").reply({{"status", "running"}});
    qmp::ClientOptions options = quick_options();
    options.reconnect = true;
    options.reconnect_delay = 10ms;
    options.reconnect_max_delay = 100ms;
    qmp::Client client{options};
    client.connect(fake.address());
    fake.hang_up();
    EXPECT_TRUE(fake.wait_for_connections(2, 5s));
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    EXPECT_EQ(fake.received("qmp_capabilities").size(), 2u);
}

TEST(FakeQemu, DestructorIsPromptInADelay)
{
    auto fake = std::make_unique<FakeQemu>();
    fake->on("query-status").delay(60s).reply();
    qmp::Client client{quick_options(60s)};
    client.connect(fake->address());
    auto pending = client.execute_async("query-status");
    ASSERT_TRUE(fake->wait_for("query-status", 5s));
    const auto start = Clock::now();
    fake.reset();
    EXPECT_LT(ms_since(start), 2000);
    EXPECT_THROW(pending.get(), qmp::DisconnectedError);
}

TEST(FakeQemu, DestructorIsPromptWithNoClientAndWithAnIdleClient)
{
    {
        const auto start = Clock::now();
        {
            FakeQemu fake;
        }
        EXPECT_LT(ms_since(start), 2000);
    }
    auto fake = std::make_unique<FakeQemu>();
    qmp::Client client{quick_options()};
    client.connect(fake->address());
    const auto start = Clock::now();
    fake.reset();
    EXPECT_LT(ms_since(start), 2000);
    EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);
}

TEST(FakeQemu, RuleHandlesOutliveTheFake)
{
    qmp::testing::Rule rule = [] {
        FakeQemu fake;
        return fake.on("stop").times(3);
    }();
    rule.reply();
    EXPECT_EQ(rule.uses(), 0u);
}

TEST(FakeQemu, AddressIsAPrivateUnixSocket)
{
    FakeQemu a;
    FakeQemu b;
    EXPECT_EQ(a.address().rfind("unix:", 0), 0u);
    EXPECT_NE(a.address(), b.address());
}
