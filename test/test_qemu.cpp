// SPDX-License-Identifier: MIT
// qmp::Client against real QEMU 7.2 (qemu-system-x86_64 -machine none, qemu-storage-daemon),
// started through qmp::Machine. Public API only. A missing QEMU makes these tests fail, never
// skip: Machine::start() then throws ConnectError, which fails the test.
//
// Every test has its own Machine (private directory, killed and removed by its destructor even
// when the test fails). Nothing synchronises by sleeping: waits are on replies, events, process
// exit, or bounded polls of a condition (a FIFO gaining a reader).

#include <qmp/qmp.hpp>

#include "qemu_helpers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using namespace qmp_test;

// ---- greeting and negotiation ----------------------------------------------------------------

TEST(Qemu, GreetingReportsVersion7AndOobIsNegotiated)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();

    const qmp::Greeting& greeting = client.greeting();
    EXPECT_EQ(greeting.version.major, 7) << greeting.raw.dump();
    EXPECT_EQ(greeting.version.minor, 2) << greeting.raw.dump();
    EXPECT_FALSE(greeting.version.package.empty());
    EXPECT_THAT(greeting.capabilities, ::testing::Contains("oob"));
    EXPECT_TRUE(greeting.oob_enabled);
    EXPECT_TRUE(greeting.raw.contains("QMP"));
}

TEST(Qemu, OobCanBeDeclinedAndCommandsStillWork)
{
    qmp::Machine vm(options_with_oob(false));
    qmp::Client& client = vm.start();

    EXPECT_THAT(client.greeting().capabilities, ::testing::Contains("oob")); // offered...
    EXPECT_FALSE(client.greeting().oob_enabled); // ...not taken
    const qmp::json status = client.execute("query-status");
    EXPECT_TRUE(status.contains("status")) << status.dump();
}

// ---- replies and errors ----------------------------------------------------------------------

TEST(Qemu, QueryStatusReturnsStatusAndRunning)
{
    qmp::Machine vm;
    const qmp::json status = vm.start().execute("query-status");

    ASSERT_TRUE(status.is_object()) << status.dump();
    EXPECT_TRUE(status.contains("status")) << status.dump();
    EXPECT_TRUE(status.contains("running")) << status.dump();
    EXPECT_EQ(status["status"], "running") << status.dump(); // -machine none runs at once
    EXPECT_EQ(status["running"], true);
}

TEST(Qemu, UnknownCommandIsCommandNotFoundAndClientStaysUsable)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();

    try {
        client.execute("query-statsu");
        ADD_FAILURE() << "query-statsu did not throw";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.error_class(), "CommandNotFound");
        EXPECT_EQ(e.command(), "query-statsu");
        EXPECT_THAT(e.description(), HasSubstr("query-statsu"));
        EXPECT_THAT(e.what(), HasSubstr("query-statsu"));
    }

    EXPECT_TRUE(client.is_connected());
    EXPECT_TRUE(client.execute("query-status").contains("status"));
}

TEST(Qemu, BadArgumentIsGenericErrorWithDescription)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();

    try {
        client.execute("qom-get", {{"path", "/machine"}, {"property", "no-such-property"}});
        ADD_FAILURE() << "qom-get of a missing property did not throw";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.error_class(), "GenericError");
        EXPECT_EQ(e.command(), "qom-get");
        EXPECT_FALSE(e.description().empty());
        EXPECT_THAT(e.description(), HasSubstr("no-such-property"));
    }
    EXPECT_TRUE(client.execute("query-status").contains("status"));
}

// QEMU 7.2 reports a missing QOM path with class DeviceNotFound, not GenericError: classes
// beyond the two common ones reach the caller unchanged.
TEST(Qemu, MissingQomPathIsDeviceNotFound)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();

    try {
        client.execute("qom-get", {{"path", "/no/such/path"}, {"property", "type"}});
        ADD_FAILURE() << "qom-get of a missing path did not throw";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.error_class(), "DeviceNotFound");
        EXPECT_THAT(e.description(), HasSubstr("/no/such/path"));
    }
    EXPECT_TRUE(client.execute("query-status").contains("status"));
}

TEST(Qemu, QueryQmpSchemaIsLargeAndListsQueryStatus)
{
    qmp::Machine vm;
    const qmp::json schema = vm.start().execute("query-qmp-schema");

    ASSERT_TRUE(schema.is_array());
    EXPECT_GT(schema.size(), 100u);
    EXPECT_GT(schema.dump().size(), 100'000u); // about 207 KB on 7.2: more than one read
    const bool found = std::any_of(schema.begin(), schema.end(), [](const qmp::json& entry) {
        return entry.value("name", "") == "query-status" &&
            entry.value("meta-type", "") == "command";
    });
    EXPECT_TRUE(found) << "no command entry named query-status";
}

// ---- events ----------------------------------------------------------------------------------

TEST(Qemu, StopAndContEmitStopAndResume)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    // A client that connects while QEMU starts may receive the start-up RESUME (QMP-NOTES);
    // forget it so that the next event is the one stop causes.
    client.events().clear();

    client.execute("stop");
    // QEMU sends STOP before the reply to stop, so it is already queued; the bound is only a
    // guard.
    const auto stop = client.events().pop(5s);
    ASSERT_TRUE(stop) << "no event within 5 s of stop";
    EXPECT_EQ(stop->name, "STOP") << stop->raw.dump();
    const auto age = std::chrono::system_clock::now() - stop->timestamp;
    EXPECT_LT(std::abs(ms(age)), 60'000) << stop->raw.dump();
    EXPECT_EQ(client.execute("query-status")["status"], "paused");

    client.execute("cont");
    const auto resume = client.events().pop(5s);
    ASSERT_TRUE(resume) << "no event within 5 s of cont";
    EXPECT_EQ(resume->name, "RESUME") << resume->raw.dump();
    EXPECT_LT(std::abs(ms(std::chrono::system_clock::now() - resume->timestamp)), 60'000)
        << resume->raw.dump();
    EXPECT_TRUE(resume->timestamp >= stop->timestamp);
    EXPECT_EQ(client.execute("query-status")["status"], "running");
}

// ---- concurrency -----------------------------------------------------------------------------

// Many threads share one client; every reply must reach the call that asked for it. The command
// is query-command-line-options, whose reply names the option asked for: even calls ask for a
// real option (the reply is [{"option": NAME, ...}]), odd calls for a name unique to the thread
// and call (QEMU answers "invalid option name: NAME"). A reply routed to the wrong call shows as
// a different name.
void expect_concurrent_calls_answered_correctly(qmp::Client& client)
{
    constexpr int threads = 16;
    constexpr int calls_per_thread = 500;
    static const std::vector<std::string> options = {"chardev", "drive", "machine", "netdev",
        "object", "mon", "name", "msg", "rtc", "numa", "accel", "trace", "icount", "overcommit",
        "sandbox", "smp-opts", "boot-opts", "memory", "global", "device"};

    std::atomic<int> answered{0};
    Gate gate;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.push_back(spawn_checked("worker " + std::to_string(t), [&, t] {
            gate.wait();
            int wrong = 0;
            std::string first_wrong;
            for (int k = 0; k < calls_per_thread; ++k) {
                if (k % 2 == 0) {
                    const std::string& name = options[(t + k / 2) % options.size()];
                    const qmp::json reply =
                        client.execute("query-command-line-options", {{"option", name}});
                    if (!reply.is_array() || reply.size() != 1 ||
                        reply[0].value("option", "") != name) {
                        if (wrong++ == 0)
                            first_wrong =
                                "asked for " + name + ", got " + reply.dump().substr(0, 200);
                        continue;
                    }
                } else {
                    const std::string name =
                        "qmp-test-t" + std::to_string(t) + "-c" + std::to_string(k);
                    try {
                        const qmp::json reply =
                            client.execute("query-command-line-options", {{"option", name}});
                        if (wrong++ == 0)
                            first_wrong = "asked for " + name + ", got a return value " +
                                reply.dump().substr(0, 200);
                        continue;
                    } catch (const qmp::ExecuteError& e) {
                        if (e.error_class() != "GenericError" ||
                            e.description() != "invalid option name: " + name) {
                            if (wrong++ == 0)
                                first_wrong = "asked for " + name + ", got error " +
                                    e.error_class() + ": " + e.description();
                            continue;
                        }
                    }
                }
                ++answered;
            }
            EXPECT_EQ(wrong, 0) << "thread " << t << ": " << wrong
                                << " replies did not match their call; first: " << first_wrong;
        }));
    }
    const auto started = SteadyClock::now();
    gate.open();
    for (auto& worker : workers)
        worker.join();

    EXPECT_EQ(answered.load(), threads * calls_per_thread);
    EXPECT_EQ(client.dropped_replies(), 0u);
    EXPECT_TRUE(client.is_connected());
    ::testing::Test::RecordProperty("concurrent_calls_ms", std::to_string(ms_since(started)));
}

TEST(Qemu, ConcurrentCallsFromManyThreadsGetTheirOwnReplies)
{
    qmp::Machine vm;
    expect_concurrent_calls_answered_correctly(vm.start());
}

TEST(Qemu, ConcurrentCallsFromManyThreadsGetTheirOwnRepliesWithoutOob)
{
    qmp::Machine vm(options_with_oob(false));
    qmp::Client& client = vm.start();
    ASSERT_FALSE(client.greeting().oob_enabled);
    expect_concurrent_calls_answered_correctly(client);
}

// ---- the end of a session --------------------------------------------------------------------

// quit: QEMU sends SHUTDOWN, maybe the reply, then closes (with OOB off 7.2 often resets the
// connection). All of it is a normal end: execute() returns, SHUTDOWN is delivered, then the
// event queue closes with a plain DisconnectedError and the process exits.
void expect_quit_ends_session_normally(qmp::Machine& vm, qmp::Client& client)
{
    client.events().clear(); // a possible start-up RESUME

    EXPECT_NO_THROW(client.execute("quit"));

    const std::vector<qmp::Event> events = drain_until_closed(client.events());
    const auto shutdown = std::find_if(
        events.begin(), events.end(), [](const qmp::Event& e) { return e.name == "SHUTDOWN"; });
    ASSERT_NE(shutdown, events.end()) << "no SHUTDOWN event before the connection closed";
    EXPECT_EQ(shutdown->data.value("reason", ""), "host-qmp-quit") << shutdown->raw.dump();
    EXPECT_FALSE(client.is_connected());
    EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);
    EXPECT_TRUE(vm.wait_exit(5s)) << "QEMU did not exit within 5 s of quit";
}

TEST(Qemu, QuitDeliversShutdownThenEndsTheSession)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    expect_quit_ends_session_normally(vm, client);
}

TEST(Qemu, QuitDeliversShutdownThenEndsTheSessionWithoutOob)
{
    qmp::Machine vm(options_with_oob(false));
    qmp::Client& client = vm.start();
    ASSERT_FALSE(client.greeting().oob_enabled);
    expect_quit_ends_session_normally(vm, client);
}

// QEMU dies (SIGKILL) while calls wait for replies that will never come, because its main loop
// is blocked: every waiter is woken with DisconnectedError promptly, not at its 30 s timeout.
TEST(Qemu, KilledQemuWakesEveryPendingCallWithDisconnectedError)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    BlockedMainLoop blocked(vm, client);
    ASSERT_TRUE(blocked.block());

    constexpr int callers = 8;
    struct Result {
        std::string outcome;
        SteadyClock::time_point at;
    };
    std::vector<Result> results(callers);
    std::vector<std::atomic<pid_t>> tids(callers);
    Counter calling;
    std::vector<std::thread> threads;
    for (int i = 0; i < callers; ++i) {
        threads.push_back(spawn_checked("caller " + std::to_string(i), [&, i] {
            tids[i] = ::gettid();
            calling.arrive();
            std::string outcome;
            try {
                client.execute("query-status", qmp::json::object(), 30s);
                outcome = "returned";
            } catch (const qmp::ProtocolError& e) {
                outcome = std::string("ProtocolError: ") + e.what();
            } catch (const qmp::DisconnectedError&) {
                outcome = "DisconnectedError";
            } catch (const qmp::Error& e) {
                outcome = std::string("other error: ") + e.what();
            }
            results[i] = {outcome, SteadyClock::now()};
        }));
    }
    // Each caller arrives just before execute(). Once all of them sleep at the same moment,
    // none is sending (a request is a few bytes: send() never blocks), so each sleeps waiting
    // for its reply. Were one still about to send, it would have to fail at once all the same,
    // so the checks below hold either way; the wait only makes sure they test pending calls.
    EXPECT_TRUE(calling.wait_for(callers, 10s));
    EXPECT_TRUE(wait_until_all_asleep(tids, 5s)) << "the callers never all waited at once";

    const auto killed_at = SteadyClock::now();
    vm.kill(SIGKILL);
    for (auto& thread : threads)
        thread.join();
    blocked.abandon();
    EXPECT_EQ(blocked.join(), "DisconnectedError");

    for (int i = 0; i < callers; ++i) {
        EXPECT_EQ(results[i].outcome, "DisconnectedError") << "caller " << i;
        EXPECT_TRUE(results[i].at >= killed_at) << "caller " << i << " ended before the kill";
        EXPECT_LT(ms(results[i].at - killed_at), 1000) << "caller " << i << " woken late";
    }
    EXPECT_LT(ms(blocked.finished_at() - killed_at), 1000) << "object-add woken late";
    EXPECT_FALSE(client.is_connected());
    drain_until_closed(client.events(), 1s);
    EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);
    EXPECT_TRUE(vm.wait_exit(5s));
}

// A call that times out on a QEMU that answers late leaves the client usable; the late reply is
// dropped and counted.
TEST(Qemu, TimeoutOnBlockedQemuLeavesClientUsableAndDropsTheLateReply)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    BlockedMainLoop blocked(vm, client);
    ASSERT_TRUE(blocked.block());

    const auto started = SteadyClock::now();
    EXPECT_THROW(client.execute("query-status", qmp::json::object(), 300ms), qmp::TimeoutError);
    const long long waited = ms_since(started);
    EXPECT_GE(waited, 300);
    EXPECT_LT(waited, 1500);
    EXPECT_TRUE(client.is_connected());
    EXPECT_EQ(client.dropped_replies(), 0u);

    const auto released_at = SteadyClock::now();
    blocked.release();
    const std::string outcome = blocked.join();
    EXPECT_TRUE(outcome == "returned" || outcome.rfind("ExecuteError", 0) == 0) << outcome;
    EXPECT_LT(ms(blocked.finished_at() - released_at), 5000);

    // In-band replies come in order: by the time this one arrives the late query-status reply
    // (sent before it) has been read and dropped.
    const qmp::json status = client.execute("query-status");
    EXPECT_TRUE(status.contains("status")) << status.dump();
    EXPECT_EQ(client.dropped_replies(), 1u);
    EXPECT_TRUE(client.is_connected());
}

// ---- more clients ----------------------------------------------------------------------------

// QEMU accepts a second connection on a monitor in use but sends it no greeting: connect() must
// give up after connect_timeout with an error that says why.
TEST(Qemu, SecondClientOnBusyMonitorGetsConnectErrorAndFirstKeepsWorking)
{
    qmp::Machine vm(socket_path_monitor());
    qmp::Client& first = vm.start();

    qmp::ClientOptions options;
    options.connect_timeout = 500ms;
    qmp::Client second(options);
    const auto started = SteadyClock::now();
    try {
        second.connect(vm.socket_path());
        ADD_FAILURE() << "the second client connected to a busy monitor";
    } catch (const qmp::ConnectError& e) {
        EXPECT_THAT(e.what(), HasSubstr("another client"));
    }
    EXPECT_LT(ms_since(started), 3000);
    EXPECT_FALSE(second.is_connected());

    EXPECT_TRUE(first.is_connected());
    EXPECT_TRUE(first.execute("query-status").contains("status"));
}

TEST(Qemu, ClientReconnectsAfterDisconnect)
{
    qmp::Machine vm(socket_path_monitor());
    qmp::Client& client = vm.start();
    EXPECT_TRUE(client.execute("query-status").contains("status"));

    client.disconnect();
    EXPECT_FALSE(client.is_connected());
    EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);

    client.connect(vm.socket_path());
    EXPECT_TRUE(client.is_connected());
    EXPECT_EQ(client.greeting().version.major, 7);
    EXPECT_TRUE(client.execute("query-status").contains("status"));
    EXPECT_EQ(client.dropped_replies(), 0u);
}

TEST(Qemu, SecondMonitorOverTcp)
{
    qmp::MachineOptions machine_options;
    const std::string address = add_tcp_monitor(machine_options);
    qmp::Machine vm(machine_options);
    qmp::Client& unix_client = vm.start();
    unix_client.events().clear(); // a possible start-up RESUME

    qmp::ClientOptions options;
    options.retry_connect = true;
    qmp::Client tcp_client(options);
    tcp_client.connect(address);
    EXPECT_EQ(tcp_client.address(), "tcp:" + address);
    EXPECT_EQ(tcp_client.greeting().version.major, 7);
    EXPECT_TRUE(tcp_client.execute("query-status").contains("status"));
    tcp_client.events().clear();

    // Events go to every negotiated monitor.
    tcp_client.execute("stop");
    EXPECT_TRUE(pop_until(tcp_client.events(), "STOP"));
    EXPECT_TRUE(pop_until(unix_client.events(), "STOP"));
    EXPECT_EQ(unix_client.execute("query-status")["status"], "paused");
}

// ---- qemu-storage-daemon ---------------------------------------------------------------------

TEST(Qemu, StorageDaemonCreatesNullBlockNodeAndQuits)
{
    qmp::Machine vm(qmp::MachineOptions::storage_daemon());
    qmp::Client& client = vm.start();

    const qmp::json version = client.execute("query-version");
    EXPECT_EQ(version["qemu"]["major"], 7) << version.dump();

    client.execute(
        "blockdev-add", {{"driver", "null-co"}, {"node-name", "null0"}, {"size", 1048576}});
    const qmp::json nodes = client.execute("query-named-block-nodes");
    ASSERT_TRUE(nodes.is_array()) << nodes.dump();
    const auto node = std::find_if(nodes.begin(), nodes.end(),
        [](const qmp::json& n) { return n.value("node-name", "") == "null0"; });
    ASSERT_NE(node, nodes.end()) << nodes.dump();
    EXPECT_EQ(node->value("drv", ""), "null-co");

    // The storage daemon answers quit, then closes; it sends no SHUTDOWN.
    EXPECT_NO_THROW(client.execute("quit"));
    drain_until_closed(client.events());
    EXPECT_FALSE(client.is_connected());
    EXPECT_TRUE(vm.wait_exit(5s));
}

} // namespace
