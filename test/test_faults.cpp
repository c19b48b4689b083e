// SPDX-License-Identifier: MIT
// The fault catalogue: each fault is injected by the scripted fake peer (or the environment) and
// the outcome asserted. Every case must end in a typed qmp error or the right result, promptly:
// a hang shows up as a call still blocked after a bound far below the timeouts in play.
//
// Faults: the peer closes or resets at every byte offset of a greeting and of a reply; the peer
// half-closes while a call waits; signals without SA_RESTART hit every thread during connect,
// execute and pop; the socket path is deleted or replaced between sessions; the process runs
// out of file descriptors.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <qmp/qmp.hpp>

#include "scripted_fake.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::FakeConnection;
using qmp::test::MissingSocket;
using qmp::test::ScriptedQemu;
using Clock = std::chrono::steady_clock;

namespace {

// Far below every timeout in play (5 s and more): a case that takes this long waited for a
// timeout instead of noticing the fault.
constexpr auto prompt = 3s;

qmp::ClientOptions options_with_timeouts(
    std::chrono::milliseconds connect, std::chrono::milliseconds command)
{
    qmp::ClientOptions options;
    options.connect_timeout = connect;
    options.command_timeout = command;
    return options;
}

// The class of the qmp exception \p call threw, or "returned".
template <typename Call> std::string outcome(Call&& call)
{
    try {
        call();
        return "returned";
    } catch (const qmp::ProtocolError&) {
        return "ProtocolError";
    } catch (const qmp::DisconnectedError&) {
        return "DisconnectedError";
    } catch (const qmp::TimeoutError&) {
        return "TimeoutError";
    } catch (const qmp::ExecuteError&) {
        return "ExecuteError";
    } catch (const qmp::ConnectError&) {
        return "ConnectError";
    } catch (const qmp::Error& e) {
        return std::string("other qmp::Error: ") + e.what();
    } catch (const std::exception& e) {
        return std::string("not a qmp::Error: ") + e.what();
    }
}

std::string greeting_text()
{
    return qmp::test::qemu_greeting().dump() + "\r\n";
}

// QEMU's spacing, as 7.2 sends it.
std::string reply_text(const json& id)
{
    return R"({"return": {"status": "running", "singlestep": false, "running": true}, "id": )" +
        id.dump() + "}\r\n";
}

void end_connection(FakeConnection& peer, bool reset)
{
    if (reset)
        peer.reset();
    else
        peer.hang_up();
}

} // namespace

// ---- hang-ups at every byte offset ---------------------------------------------------------

class CutAtEveryOffset : public ::testing::TestWithParam<bool> { }; // param: reset, not close

TEST_P(CutAtEveryOffset, GreetingCutAnywhereIsAConnectError)
{
    const bool reset = GetParam();
    const std::string greeting = greeting_text();
    std::atomic<std::size_t> next_offset{0};
    // Offsets 0..size: the whole greeting followed by a hang-up too (negotiation then fails).
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.send(greeting.substr(0, next_offset++));
        end_connection(peer, reset);
    });
    qmp::Client client(options_with_timeouts(5s, 5s));
    for (std::size_t offset = 0; offset <= greeting.size(); ++offset) {
        const auto begin = Clock::now();
        EXPECT_EQ(outcome([&] { client.connect(server.address()); }), "ConnectError")
            << "offset " << offset;
        EXPECT_LT(Clock::now() - begin, prompt) << "offset " << offset;
        EXPECT_FALSE(client.is_connected());
    }
    EXPECT_TRUE(server.wait_for_scripts(static_cast<int>(greeting.size()) + 1));
}

TEST_P(CutAtEveryOffset, ReplyCutAnywhereIsADisconnectedErrorAndWholeRepliesArrive)
{
    const bool reset = GetParam();
    const std::size_t json_size = reply_text("2").size() - 2; // without "\r\n"
    std::atomic<std::size_t> next_offset{0};
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        const json command = peer.read_message();
        peer.send(reply_text(command["id"]).substr(0, next_offset++));
        end_connection(peer, reset);
    });
    for (std::size_t offset = 0; offset <= json_size + 2; ++offset) {
        // A new client each time: its request ids start at "1" again, so the reply keeps its
        // length (a client's ids are unique for its whole life).
        qmp::Client client(options_with_timeouts(5s, 5s));
        ASSERT_EQ(outcome([&] { client.connect(server.address()); }), "returned");
        const auto begin = Clock::now();
        const std::string result = outcome([&] { client.execute("query-status"); });
        // A reply that arrived whole was delivered even if the hang-up followed at once; a reset
        // may discard it in the kernel before it is read, so then either outcome is right.
        if (offset < json_size)
            EXPECT_EQ(result, "DisconnectedError") << "offset " << offset;
        else if (!reset)
            EXPECT_EQ(result, "returned") << "offset " << offset;
        else
            EXPECT_TRUE(result == "returned" || result == "DisconnectedError")
                << "offset " << offset << ": " << result;
        EXPECT_LT(Clock::now() - begin, prompt) << "offset " << offset;
        client.disconnect();
    }
}

INSTANTIATE_TEST_SUITE_P(Faults, CutAtEveryOffset, ::testing::Values(false, true),
    [](const auto& info) { return info.param ? "Reset" : "Close"; });

// ---- half-close ------------------------------------------------------------------------------

TEST(Faults, HalfCloseByThePeerWhileACallWaitsIsADisconnectedError)
{
    std::promise<void> finished;
    auto finished_future = finished.get_future();
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        peer.read_message();
        ::shutdown(peer.fd(), SHUT_WR); // EOF for the client; we could still read
        finished_future.wait_for(20s); // keep the socket open until the test is done
    });
    qmp::Client client(options_with_timeouts(5s, 20s));
    client.connect(server.address());
    const auto begin = Clock::now();
    EXPECT_EQ(outcome([&] { client.execute("query-status"); }), "DisconnectedError");
    EXPECT_LT(Clock::now() - begin, prompt);
    EXPECT_FALSE(client.is_connected());
    EXPECT_EQ(outcome([&] { client.events().pop(); }), "DisconnectedError");
    finished.set_value();
}

// ---- signals ---------------------------------------------------------------------------------

namespace {

std::atomic<int> signals_handled{0};

extern "C" void count_signal(int)
{
    signals_handled.fetch_add(1, std::memory_order_relaxed);
}

// Sends SIGUSR1 to every thread of the process, again and again, until stopped. Threads that
// block SIGUSR1 (the fake server's, which is not under test) just keep it pending.
class SignalStorm {
public:
    SignalStorm()
    {
        thread_ = std::thread([this] {
            sigset_t usr1;
            sigemptyset(&usr1);
            sigaddset(&usr1, SIGUSR1);
            pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
            try {
                while (!stop_) {
                    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task"))
                        ::syscall(SYS_tgkill, ::getpid(),
                            std::stoi(task.path().filename().string()), SIGUSR1);
                    std::this_thread::yield();
                }
            } catch (const std::exception& e) {
                std::fprintf(stderr, "signal storm: %s\n", e.what());
            }
        });
    }
    ~SignalStorm()
    {
        stop_ = true;
        thread_.join();
    }

private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace

TEST(Faults, SignalsWithoutSaRestartDoNotDisturbConnectExecuteOrPop)
{
    struct sigaction action { };
    struct sigaction previous { };
    action.sa_handler = count_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART: blocking system calls fail with EINTR
    ASSERT_EQ(::sigaction(SIGUSR1, &action, &previous), 0);

    // The fake server's thread inherits a mask that blocks SIGUSR1: its waits are not under test.
    sigset_t usr1, old_mask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &usr1, &old_mask), 0);
    std::promise<void> go;
    std::shared_future<void> go_ahead = go.get_future().share();
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        json status, version;
        for (int i = 0; i < 2; ++i) {
            json command = peer.read_message(20s);
            (command["execute"] == "query-status" ? status : version) = std::move(command);
        }
        if (go_ahead.wait_for(20s) != std::future_status::ready)
            throw std::runtime_error("no go-ahead");
        peer.reply(status, {{"status", "running"}});
        peer.send_event("STOP");
        peer.wait_for_close(20s); // 'version' is never answered: its call times out
    });
    ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &old_mask, nullptr), 0);

    std::optional<SignalStorm> storm;
    storm.emplace();
    qmp::Client client(options_with_timeouts(10s, 20s));
    ASSERT_EQ(outcome([&] { client.connect(server.address()); }), "returned");

    auto status = std::async(std::launch::async, [&] {
        json result;
        const std::string how = outcome([&] { result = client.execute("query-status"); });
        return how == "returned" ? result.dump() : how;
    });
    auto version = std::async(std::launch::async, [&] {
        const auto begin = Clock::now();
        const std::string how = outcome([&] { client.execute("query-version", {}, 300ms); });
        return std::make_pair(how, Clock::now() - begin);
    });
    auto event = std::async(std::launch::async, [&] {
        std::string name;
        const std::string how = outcome([&] { name = client.events().pop().name; });
        return how == "returned" ? name : how;
    });
    // Let the blocked calls take a good number of signals before the replies come.
    const int before = signals_handled.load();
    const auto deadline = Clock::now() + 20s;
    while (signals_handled.load() < before + 2000 && Clock::now() < deadline)
        std::this_thread::yield();
    EXPECT_GE(signals_handled.load(), before + 2000) << "the storm did not reach the threads";
    ASSERT_EQ(version.wait_for(20s), std::future_status::ready);
    go.set_value();

    ASSERT_EQ(status.wait_for(20s), std::future_status::ready);
    ASSERT_EQ(event.wait_for(20s), std::future_status::ready);
    EXPECT_EQ(status.get(), R"({"status":"running"})");
    EXPECT_EQ(event.get(), "STOP");
    const auto [how, elapsed] = version.get();
    EXPECT_EQ(how, "TimeoutError");
    EXPECT_GE(elapsed, 300ms) << "a signal cut the timeout short";
    EXPECT_TRUE(client.is_connected());
    storm.reset();
    client.disconnect();
    ::sigaction(SIGUSR1, &previous, nullptr);
}

// ---- the socket path -------------------------------------------------------------------------

TEST(Faults, DeletedSocketPathMakesReconnectAConnectErrorNamingThePath)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        peer.wait_for_close(20s);
    });
    qmp::Client client(options_with_timeouts(5s, 5s));
    client.connect(server.address());
    client.disconnect();
    ASSERT_EQ(::unlink(server.path().c_str()), 0);
    try {
        client.connect(server.address());
        FAIL() << "connected to a deleted path";
    } catch (const qmp::ConnectError& e) {
        EXPECT_NE(std::string(e.what()).find(server.path()), std::string::npos) << e.what();
    }
}

TEST(Faults, SocketPathReplacedByAnotherServerReachesTheNewServer)
{
    ScriptedQemu old_server([](FakeConnection& peer) {
        peer.handshake();
        peer.hang_up(); // the old monitor goes away
    });
    ScriptedQemu new_server([](FakeConnection& peer) {
        peer.handshake(json::array({"new"}));
        peer.answer({{"server", "new"}});
        peer.wait_for_close(20s);
    });
    qmp::Client client(options_with_timeouts(5s, 5s));
    client.connect(old_server.address());
    EXPECT_EQ(outcome([&] { client.execute("query-status"); }), "DisconnectedError");
    // The new server's socket takes the old path (as a restarted QEMU's would).
    ASSERT_EQ(::rename(new_server.path().c_str(), old_server.path().c_str()), 0);
    client.connect(old_server.address());
    EXPECT_EQ(client.greeting().capabilities, std::vector<std::string>{"new"});
    EXPECT_EQ(client.execute("query-status")["server"], "new");
}

TEST(Faults, SocketPathReplacedByARegularFileIsAConnectError)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        peer.wait_for_close(20s);
    });
    qmp::Client client(options_with_timeouts(5s, 5s));
    client.connect(server.address());
    client.disconnect();
    ASSERT_EQ(::unlink(server.path().c_str()), 0);
    std::ofstream(server.path()) << "not a socket";
    EXPECT_EQ(outcome([&] { client.connect(server.address()); }), "ConnectError");
    EXPECT_FALSE(client.is_connected());
}

// ---- descriptor exhaustion -------------------------------------------------------------------

// Runs in a forked child (the limit must not touch the test process): with every descriptor in
// use, connect() is a ConnectError that says why; with one free again, it works. Exit codes
// tell the parent which step failed.
TEST(Faults, DescriptorExhaustionIsAConnectErrorAndRecoverable)
{
    // The fake (and its thread) starts only after the fork, at the path the child connects to:
    // a child forked from a multi-threaded process may not start threads under ThreadSanitizer
    // (and the Client starts a reader).
    const MissingSocket missing;
    const std::string address = missing.address();
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    std::optional<ScriptedQemu> server;
    if (child != 0) {
        server.emplace([](FakeConnection& peer) {
            peer.handshake();
            peer.answer({{"status", "running"}});
            peer.wait_for_close(20s);
        });
        missing.move_here(*server);
    }
    if (child == 0) {
        // Only async-signal-safe work would be strictly allowed after fork() in a threaded
        // process; glibc makes malloc safe here, and the child never touches the fake server's
        // objects. It ends with _exit so that no destructor of the parent's objects runs.
        int code = 0;
        {
            // Only the soft limit is lowered: valgrind refuses (EPERM) any change to the hard
            // limit of RLIMIT_NOFILE, and the soft limit alone is what makes dup() fail.
            rlimit limit{};
            if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
                ::_exit(20);
            limit.rlim_cur = 64;
            if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
                ::_exit(20);
            std::vector<int> fds;
            for (int fd; (fd = ::dup(STDERR_FILENO)) >= 0;)
                fds.push_back(fd);
            if (errno != EMFILE)
                ::_exit(21);
            // Retrying covers a parent that is not listening yet; running out of descriptors
            // (EMFILE) is not a reason to retry, so the first connect still fails at once.
            qmp::ClientOptions options = options_with_timeouts(10s, 2s);
            options.retry_connect = true;
            qmp::Client client(options);
            try {
                client.connect(address);
                code = 22; // connected without a descriptor?
            } catch (const qmp::ConnectError& e) {
                if (std::string(e.what()).find("Too many open files") == std::string::npos) {
                    std::fprintf(stderr, "unexpected message: %s\n", e.what());
                    code = 23;
                }
            } catch (...) {
                code = 24;
            }
            // A connection needs three descriptors while connecting (the socket, a wake-up
            // eventfd of the session, one to cancel the attempt) and two afterwards.
            for (int i = 0; i < 3; ++i) {
                ::close(fds.back());
                fds.pop_back();
            }
            if (code == 0) {
                try {
                    client.connect(address);
                    if (client.execute("query-status")["status"] != "running")
                        code = 25;
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "after freeing a descriptor: %s\n", e.what());
                    code = 26;
                }
            }
        }
        ::_exit(code);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "the child crashed: status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0) << "see the exit codes in the test";
}
