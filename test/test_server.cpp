// SPDX-License-Identifier: MIT
// qmp::Server, Client::accept() and Client::connect_fd(), against the scripted fake peer playing
// QEMU's side on a socket this test connects (or creates) itself.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <qmp/qmp.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "scripted_fake.hpp"
#include "temp_dir.hpp"
#include "unix_socket.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::FakeConnection;
using qmp::test::quick_options;
using qmp::test::ScriptedQemu;
using TempDir = qmp::test::TemporaryDirectory;

using qmp::test::ms_since;

namespace {

using Clock = std::chrono::steady_clock;

// A connected socket to \p address ("unix:/path" or "tcp:HOST:PORT"), as QEMU's client side
// opens it. The connection completes into the listener's backlog before anyone accepts.
int connect_to(const std::string& address)
{
    if (address.rfind("unix:", 0) == 0)
        return qmp::test::connect_unix(address.substr(5));
    if (address.rfind("tcp:", 0) == 0) {
        const std::string rest = address.substr(4);
        const auto colon = rest.rfind(':');
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(std::stoi(rest.substr(colon + 1))));
        if (::inet_pton(AF_INET, rest.substr(0, colon).c_str(), &addr.sin_addr) != 1)
            throw std::runtime_error("not an IPv4 address: " + address);
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            const int error = errno;
            if (fd >= 0)
                ::close(fd);
            throw std::runtime_error("connect " + address + ": " + std::strerror(error));
        }
        return fd;
    }
    throw std::runtime_error("unsupported address " + address);
}

// Plays QEMU's side on \p fd (owned from here on): qmp::testing's fake serves it with \p script
// on its own thread; a failure of the script fails the test. join() and the destructor wait
// (bounded) for the script to end.
class PeerThread {
public:
    PeerThread(int fd, qmp::testing::FakeEndpoint::Script script) : fake_(std::move(script))
    {
        fake_.serve_connection(fd);
    }
    ~PeerThread() { join(); }
    PeerThread(const PeerThread&) = delete;
    PeerThread& operator=(const PeerThread&) = delete;

    void join() { EXPECT_TRUE(fake_.wait_for_scripts(1, 20s)) << "the fake's script still runs"; }

private:
    ScriptedQemu fake_;
};

// The common script: handshake, answer query-status, wait for the client to close.
void serve_query_status(FakeConnection& peer)
{
    peer.handshake();
    const json command = peer.answer({{"status", "running"}, {"running", true}});
    EXPECT_EQ(command.value("execute", ""), "query-status");
    EXPECT_TRUE(peer.wait_for_close());
}

// Whether \p fd is closed (no longer a descriptor of this process).
bool is_closed(int fd)
{
    errno = 0;
    return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

// The command the client sent on \p fd together with the descriptor that came with it
// (SCM_RIGHTS), read with recvmsg() because FakeConnection's recv() discards ancillary data.
struct CommandWithFd {
    json command;
    int fd = -1;
};

CommandWithFd read_command_with_fd(int socket, std::chrono::milliseconds timeout)
{
    CommandWithFd result;
    std::string text;
    const auto deadline = Clock::now() + timeout;
    while (text.empty() || !json::accept(text)) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0)
            throw std::runtime_error("no command with an fd in time; got: " + text);
        pollfd wait{socket, POLLIN, 0};
        if (::poll(&wait, 1, static_cast<int>(left.count())) <= 0)
            continue;
        char buffer[4096];
        iovec iov{buffer, sizeof buffer};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr message{};
        message.msg_iov = &iov;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
        if (n == 0)
            throw std::runtime_error("the client closed the connection");
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw std::runtime_error(std::string("recvmsg: ") + std::strerror(errno));
        }
        for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
             header = CMSG_NXTHDR(&message, header))
            if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS)
                std::memcpy(&result.fd, CMSG_DATA(header), sizeof(int));
        text.append(buffer, static_cast<std::size_t>(n));
    }
    result.command = json::parse(text);
    return result;
}

// A logger writing into \p out, for checking what was logged.
std::shared_ptr<spdlog::logger> logger_into(std::ostringstream& out)
{
    auto logger = std::make_shared<spdlog::logger>(
        "server-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    logger->set_level(spdlog::level::debug);
    return logger;
}

} // namespace

// ---- accept ----------------------------------------------------------------------------------

TEST(Server, AcceptOverUnixHandshakesAndExecutes)
{
    TempDir dir;
    const std::string path = dir.file("qmp.sock");
    qmp::Server server("unix:" + path);
    EXPECT_EQ(server.address(), "unix:" + path);
    PeerThread peer(connect_to(server.address()), serve_query_status);

    qmp::Client client(quick_options());
    client.accept(server);
    EXPECT_TRUE(client.is_connected());
    EXPECT_EQ(client.address(), "accepted from unix:" + path);
    EXPECT_EQ(client.greeting().version.major, 7);
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    client.disconnect();
}

TEST(Server, AcceptOverTcpWithPortZeroResolvesThePort)
{
    qmp::Server server("tcp:127.0.0.1:0");
    const std::string prefix = "tcp:127.0.0.1:";
    ASSERT_EQ(server.address().rfind(prefix, 0), 0u) << server.address();
    const int port = std::atoi(server.address().substr(prefix.size()).c_str());
    EXPECT_GT(port, 0) << server.address();
    EXPECT_LT(port, 65536) << server.address();
    PeerThread peer(connect_to(server.address()), serve_query_status);

    qmp::Client client(quick_options());
    client.accept(server);
    EXPECT_EQ(client.address(), "accepted from " + server.address());
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    client.disconnect();
}

TEST(Server, ExecuteWithFdOnAcceptedTcpConnectionIsUsageError)
{
    qmp::Server server("tcp:127.0.0.1:0");
    PeerThread peer(connect_to(server.address()), [](FakeConnection& p) {
        p.handshake();
        EXPECT_TRUE(p.wait_for_close());
    });
    qmp::Client client(quick_options());
    client.accept(server);
    EXPECT_THROW(client.execute_with_fd("getfd", {{"fdname", "x"}}, STDIN_FILENO), qmp::UsageError);
    EXPECT_TRUE(client.is_connected());
    client.disconnect();
}

TEST(Server, AcceptTimesOutWhenNobodyConnects)
{
    TempDir dir;
    qmp::Server server("unix:" + dir.file("qmp.sock"));
    qmp::Client client(quick_options());
    const auto start = Clock::now();
    try {
        client.accept(server, 300ms);
        FAIL() << "accept() returned without a peer";
    } catch (const qmp::ConnectError& e) {
        EXPECT_NE(std::string(e.what()).find(server.address()), std::string::npos) << e.what();
    }
    const long long elapsed = ms_since(start);
    EXPECT_GE(elapsed, 300);
    EXPECT_LT(elapsed, 300 + 3000);
    EXPECT_FALSE(client.is_connected());
}

TEST(Server, AcceptWithSilentPeerFailsWithinBoundAndClosesTheConnection)
{
    TempDir dir;
    qmp::Server server("unix:" + dir.file("qmp.sock"));
    std::atomic<bool> closed{false};
    // Connected, never sends a greeting.
    PeerThread silent(connect_to(server.address()),
        [&](FakeConnection& peer) { closed = peer.wait_for_close(5s); });
    qmp::Client client(quick_options());
    const auto start = Clock::now();
    EXPECT_THROW(client.accept(server, 300ms), qmp::ConnectError);
    const long long elapsed = ms_since(start);
    EXPECT_GE(elapsed, 300);
    EXPECT_LT(elapsed, 300 + 3000);
    EXPECT_FALSE(client.is_connected());
    silent.join();
    EXPECT_TRUE(closed) << "the client kept the silent connection open";
}

TEST(Server, DisconnectFromAnotherThreadEndsAWaitingAccept)
{
    TempDir dir;
    qmp::Server server("unix:" + dir.file("qmp.sock"));
    qmp::Client client(quick_options());
    std::atomic<bool> done{false};
    std::string error;
    const auto start = Clock::now();
    std::thread waiter([&] {
        try {
            client.accept(server, 60s);
            error = "accept() returned without a peer";
        } catch (const qmp::ConnectError& e) {
            error = e.what();
        } catch (const std::exception& e) {
            error = std::string("unexpected: ") + e.what();
        }
        done = true;
    });
    // No notification says "accept() is waiting now": disconnect() until it ends (a disconnect()
    // before accept() began has nothing to cancel), bounded far below accept()'s 60 s.
    while (!done && ms_since(start) < 10000) {
        client.disconnect();
        std::this_thread::sleep_for(10ms);
    }
    waiter.join();
    EXPECT_LT(ms_since(start), 10000);
    EXPECT_NE(error.find("cancelled"), std::string::npos) << error;
    EXPECT_FALSE(client.is_connected());
}

TEST(Server, TwoClientsAcceptFromOneServerInTurn)
{
    TempDir dir;
    qmp::Server server("unix:" + dir.file("qmp.sock"));
    PeerThread first(connect_to(server.address()), [](FakeConnection& peer) {
        peer.handshake();
        peer.answer({{"who", "first"}});
        EXPECT_TRUE(peer.wait_for_close());
    });
    qmp::Client one(quick_options());
    one.accept(server);

    PeerThread second(connect_to(server.address()), [](FakeConnection& peer) {
        peer.handshake();
        peer.answer({{"who", "second"}});
        EXPECT_TRUE(peer.wait_for_close());
    });
    qmp::Client two(quick_options());
    two.accept(server);

    EXPECT_EQ(one.execute("whoami")["who"], "first");
    EXPECT_EQ(two.execute("whoami")["who"], "second");
    EXPECT_TRUE(one.is_connected());
    EXPECT_TRUE(two.is_connected());
    one.disconnect();
    two.disconnect();
}

TEST(Server, SameClientAcceptsTheNextConnectionAfterThePeerHangsUp)
{
    TempDir dir;
    qmp::Server server("unix:" + dir.file("qmp.sock"));
    qmp::Client client(quick_options());
    {
        PeerThread first(connect_to(server.address()), [](FakeConnection& peer) {
            peer.handshake(json::array({"oob"}));
            peer.hang_up(); // QEMU went away (or reconnects)
        });
        client.accept(server);
        EXPECT_TRUE(client.greeting().oob_enabled);
        // The events queue closes when the session ends.
        EXPECT_THROW(client.events().pop(5s), qmp::DisconnectedError);
        EXPECT_FALSE(client.is_connected());
    }
    PeerThread second(connect_to(server.address()), [](FakeConnection& peer) {
        peer.handshake(json::array()); // a different greeting: no oob
        peer.answer({{"status", "paused"}});
        EXPECT_TRUE(peer.wait_for_close());
    });
    client.accept(server);
    EXPECT_FALSE(client.greeting().oob_enabled);
    EXPECT_EQ(client.execute("query-status")["status"], "paused");
    client.disconnect();
}

TEST(Server, AcceptWhileConnectedIsUsageError)
{
    TempDir dir;
    qmp::Server server("unix:" + dir.file("qmp.sock"));
    PeerThread peer(connect_to(server.address()), [](FakeConnection& p) {
        p.handshake();
        EXPECT_TRUE(p.wait_for_close());
    });
    qmp::Client client(quick_options());
    client.accept(server);
    EXPECT_THROW(client.accept(server, 100ms), qmp::UsageError);
    EXPECT_TRUE(client.is_connected());
    client.disconnect();
}

TEST(Server, ConnectionClosedBeforeAcceptIsSkipped)
{
    TempDir dir;
    qmp::Server server("unix:" + dir.file("qmp.sock"));
    ::close(connect_to(server.address())); // waits in the backlog, already hung up
    PeerThread peer(connect_to(server.address()), serve_query_status);
    qmp::Client client(quick_options());
    client.accept(server);
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    client.disconnect();
}

// ---- the socket file -------------------------------------------------------------------------

TEST(Server, SocketFileHasMode0600AndTheDestructorRemovesIt)
{
    TempDir dir;
    const std::string path = dir.file("qmp.sock");
    {
        qmp::Server server("unix:" + path);
        struct stat st { };
        ASSERT_EQ(::lstat(path.c_str(), &st), 0) << std::strerror(errno);
        EXPECT_TRUE(S_ISSOCK(st.st_mode));
        EXPECT_EQ(st.st_mode & 07777, 0600u) << std::oct << (st.st_mode & 07777);
        // Only the socket itself: no temporary name left behind.
        int entries = 0;
        for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
            EXPECT_EQ(entry.path().string(), path);
            ++entries;
        }
        EXPECT_EQ(entries, 1);
    }
    struct stat st { };
    EXPECT_NE(::lstat(path.c_str(), &st), 0);
    EXPECT_EQ(errno, ENOENT);
}

TEST(Server, PlainPathIsAUnixSocket)
{
    TempDir dir;
    const std::string path = dir.file("qmp.sock");
    qmp::Server server(path);
    EXPECT_EQ(server.address(), "unix:" + path);
    PeerThread peer(connect_to(server.address()), serve_query_status);
    qmp::Client client(quick_options());
    client.accept(server);
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    client.disconnect();
}

TEST(Server, StaleSocketFileIsReplaced)
{
    TempDir dir;
    const std::string path = dir.file("qmp.sock");
    {
        // A socket file whose listener is gone (closed without unlinking, as after a crash).
        const int stale = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const sockaddr_un addr = qmp::test::unix_address(path);
        ASSERT_EQ(::bind(stale, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
        ASSERT_EQ(::listen(stale, 1), 0);
        ::close(stale);
        ASSERT_THROW(::close(connect_to("unix:" + path)), std::runtime_error); // refused
    }
    qmp::Server server("unix:" + path);
    PeerThread peer(connect_to(server.address()), serve_query_status);
    qmp::Client client(quick_options());
    client.accept(server);
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    client.disconnect();
}

TEST(Server, LiveListenerAtThePathIsConnectErrorNamingIt)
{
    TempDir dir;
    const std::string path = dir.file("qmp.sock");
    qmp::Server first("unix:" + path);
    try {
        qmp::Server second("unix:" + path);
        FAIL() << "a second Server took over a live listener's path";
    } catch (const qmp::ConnectError& e) {
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    // The first one still listens there.
    PeerThread peer(connect_to(first.address()), serve_query_status);
    qmp::Client client(quick_options());
    client.accept(first);
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    client.disconnect();
}

TEST(Server, RegularFileAtThePathIsConnectErrorAndKept)
{
    TempDir dir;
    const std::string path = dir.file("qmp.sock");
    {
        std::ofstream(path) << "not a socket";
    }
    EXPECT_THROW(qmp::Server("unix:" + path), qmp::ConnectError);
    struct stat st { };
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(Server, LongestUnixSocketPathIsAccepted)
{
    TempDir dir;
    const std::size_t longest = sizeof(sockaddr_un::sun_path) - 1;
    ASSERT_LT(dir.path().size() + 2, longest);
    const std::string path = dir.file(std::string(longest - dir.path().size() - 1, 's'));
    ASSERT_EQ(path.size(), longest);
    qmp::Server server("unix:" + path);
    EXPECT_EQ(server.address(), "unix:" + path);
    PeerThread peer(connect_to(server.address()), serve_query_status);
    qmp::Client client(quick_options());
    client.accept(server);
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    client.disconnect();
}

TEST(Server, TooLongUnixSocketPathIsConnectErrorNamingIt)
{
    TempDir dir;
    const std::size_t longest = sizeof(sockaddr_un::sun_path) - 1;
    const std::string path = dir.file(std::string(longest - dir.path().size(), 's'));
    ASSERT_EQ(path.size(), longest + 1);
    try {
        qmp::Server server("unix:" + path);
        FAIL() << "a Server listens at a path too long for a socket";
    } catch (const qmp::ConnectError& e) {
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
}

// ---- who may connect -------------------------------------------------------------------------

TEST(Server, PeerPidOfAnotherProcessRefusesOurConnection)
{
    TempDir dir;
    std::ostringstream log;
    qmp::ServerOptions options;
    options.peer_pid = ::getppid(); // not us
    options.logger = logger_into(log);
    qmp::Server server("unix:" + dir.file("qmp.sock"), options);
    std::atomic<bool> closed{false};
    PeerThread stranger(connect_to(server.address()), [&](FakeConnection& peer) {
        try {
            peer.send_greeting(); // even a greeting does not get it in
        } catch (const qmp::Error&) {
            // Refused before the greeting went out: the send fails, which is fine too.
        }
        closed = peer.wait_for_close(5s);
    });

    qmp::Client client(quick_options());
    EXPECT_THROW(client.accept(server, 300ms), qmp::ConnectError);
    EXPECT_FALSE(client.is_connected());
    stranger.join();
    EXPECT_TRUE(closed) << "the refused connection was not closed";
    EXPECT_NE(log.str().find("refused a connection from pid " + std::to_string(::getpid())),
        std::string::npos)
        << log.str();
}

TEST(Server, PeerUidOfOurUserIsAccepted)
{
    TempDir dir;
    qmp::ServerOptions options;
    options.peer_uid = ::getuid();
    qmp::Server server("unix:" + dir.file("qmp.sock"), options);
    PeerThread peer(connect_to(server.address()), serve_query_status);
    qmp::Client client(quick_options());
    client.accept(server, 5s);
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    client.disconnect();
}

// ---- connect_fd ------------------------------------------------------------------------------

TEST(ConnectFd, SocketpairEndHandshakesAndExecutes)
{
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    PeerThread peer(pair[1], serve_query_status);
    qmp::Client client(quick_options());
    client.connect_fd(pair[0]);
    EXPECT_TRUE(client.is_connected());
    EXPECT_EQ(client.address(), "fd:" + std::to_string(pair[0]));
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    client.disconnect();
}

TEST(ConnectFd, ExecuteWithFdPassesTheDescriptor)
{
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    struct stat passed { };
    ASSERT_EQ(::fstat(pipe_fds[1], &passed), 0);

    CommandWithFd received;
    PeerThread peer(pair[1], [&](FakeConnection& p) {
        p.handshake();
        received = read_command_with_fd(p.fd(), 5s);
        p.reply(received.command);
        EXPECT_TRUE(p.wait_for_close());
    });
    qmp::Client client(quick_options());
    client.connect_fd(pair[0]);
    client.execute_with_fd("getfd", {{"fdname", "x"}}, pipe_fds[1]);
    client.disconnect();
    peer.join();

    EXPECT_EQ(received.command.value("execute", ""), "getfd");
    EXPECT_EQ(received.command["arguments"], (json{{"fdname", "x"}}));
    ASSERT_GE(received.fd, 0) << "no descriptor came with the command (SCM_RIGHTS)";
    struct stat got { };
    ASSERT_EQ(::fstat(received.fd, &got), 0);
    EXPECT_EQ(got.st_dev, passed.st_dev);
    EXPECT_EQ(got.st_ino, passed.st_ino);
    EXPECT_FALSE(is_closed(pipe_fds[1])) << "the caller keeps its descriptor";
    ::close(received.fd);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
}

TEST(ConnectFd, PipeIsConnectErrorAndTheFdIsClosed)
{
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    qmp::Client client(quick_options());
    EXPECT_THROW(client.connect_fd(pipe_fds[0]), qmp::ConnectError);
    EXPECT_TRUE(is_closed(pipe_fds[0]));
    EXPECT_FALSE(client.is_connected());
    ::close(pipe_fds[1]);
}

TEST(ConnectFd, RegularFileIsConnectErrorAndTheFdIsClosed)
{
    TempDir dir;
    const int fd = ::open(dir.file("plain").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    qmp::Client client(quick_options());
    EXPECT_THROW(client.connect_fd(fd), qmp::ConnectError);
    EXPECT_TRUE(is_closed(fd));
}

TEST(ConnectFd, UnconnectedSocketIsConnectErrorAndTheFdIsClosed)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    qmp::Client client(quick_options());
    try {
        client.connect_fd(fd);
        FAIL() << "connect_fd() accepted an unconnected socket";
    } catch (const qmp::ConnectError& e) {
        EXPECT_NE(std::string(e.what()).find("not connected"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(is_closed(fd));
}

TEST(ConnectFd, DatagramSocketIsConnectErrorAndTheFdIsClosed)
{
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair), 0);
    qmp::Client client(quick_options());
    EXPECT_THROW(client.connect_fd(pair[0]), qmp::ConnectError);
    EXPECT_TRUE(is_closed(pair[0]));
    ::close(pair[1]);
}

TEST(ConnectFd, SilentPeerIsConnectErrorAndTheFdIsClosed)
{
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    std::atomic<bool> closed{false};
    PeerThread silent(pair[1], [&](FakeConnection& peer) { closed = peer.wait_for_close(5s); });
    auto options = quick_options();
    options.connect_timeout = 300ms;
    qmp::Client client(options);
    const auto start = Clock::now();
    EXPECT_THROW(client.connect_fd(pair[0]), qmp::ConnectError);
    EXPECT_LT(ms_since(start), 300 + 3000);
    silent.join();
    EXPECT_TRUE(closed);
    EXPECT_TRUE(is_closed(pair[0]));
}

TEST(ConnectFd, DisconnectClosesTheFd)
{
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    std::atomic<bool> closed{false};
    PeerThread peer(pair[1], [&](FakeConnection& connection) {
        connection.handshake();
        closed = connection.wait_for_close(5s);
    });
    qmp::Client client(quick_options());
    client.connect_fd(pair[0]);
    EXPECT_FALSE(is_closed(pair[0]));
    client.disconnect();
    peer.join();
    EXPECT_TRUE(closed);
    EXPECT_TRUE(is_closed(pair[0]));
}

// TCP carries no peer credentials: a check that would refuse every peer is refused up front.
TEST(Server, PeerChecksOnTcpAreAUsageError)
{
    qmp::ServerOptions uid;
    uid.peer_uid = ::getuid();
    EXPECT_THROW(qmp::Server("tcp:127.0.0.1:0", uid), qmp::UsageError);
    qmp::ServerOptions pid;
    pid.peer_pid = ::getpid();
    EXPECT_THROW(qmp::Server("tcp:127.0.0.1:0", pid), qmp::UsageError);
    EXPECT_NO_THROW(qmp::Server("tcp:127.0.0.1:0"));
}
