// SPDX-License-Identifier: MIT
// Real QEMU as the connecting side (-chardev socket,server=off,reconnect=1 to a qmp::Server)
// and on a handed-over socket (-chardev socket,fd=N, the other end of a socketpair given to
// Client::connect_fd()). QEMU is started here directly, not by qmp::Machine: the Machine adds a
// monitor of its own and marks inherited descriptors close-on-exec, and fd=N needs one inherited.
#include "qemu_helpers.hpp"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>

#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

namespace {

using namespace qmp_test;

// The states a Client went through (ClientOptions::on_state_change), to wait on.
class StateLog {
public:
    std::function<void(qmp::ConnectionState)> recorder()
    {
        return [this](qmp::ConnectionState state) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                states_.push_back(state);
            }
            changed_.notify_all();
        };
    }
    /// Whether \p state was reached, waiting for it up to \p timeout.
    bool wait_for(qmp::ConnectionState state, std::chrono::milliseconds timeout)
    {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_for(lock, timeout,
            [&] { return std::find(states_.begin(), states_.end(), state) != states_.end(); });
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<qmp::ConnectionState> states_;
};

// A qemu-system-x86_64 -machine none started by this test, its output in a file of a private
// temporary directory. \p inherit_fd (if >= 0) stays open across exec in QEMU, at the same
// number; every other descriptor of ours is close-on-exec. The destructor sends SIGTERM to this
// pid (SIGKILL after 5 s) and reaps it; PR_SET_PDEATHSIG kills QEMU if the test dies first.
class Qemu {
public:
    Qemu(const TemporaryDirectory& dir, const std::vector<std::string>& monitor_args,
        int inherit_fd = -1)
        : log_path_(dir.path() + "/qemu.log")
    {
        const std::string program = find_in_path("qemu-system-x86_64");
        if (program.empty())
            throw std::runtime_error("qemu-system-x86_64 not found in PATH");
        std::vector<std::string> args = {
            program, "-machine", "none", "-nodefaults", "-display", "none"};
        args.insert(args.end(), monitor_args.begin(), monitor_args.end());
        std::vector<char*> argv;
        for (auto& arg : args)
            argv.push_back(arg.data());
        argv.push_back(nullptr);
        const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        const int log_fd =
            ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (null_fd < 0 || log_fd < 0)
            throw std::runtime_error(std::string("open: ") + std::strerror(errno));
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ == 0) {
            // The child of a multi-threaded process: async-signal-safe calls only.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(126);
            if (::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(log_fd, STDOUT_FILENO) < 0 ||
                ::dup2(log_fd, STDERR_FILENO) < 0)
                ::_exit(126);
            if (inherit_fd >= 0 && ::fcntl(inherit_fd, F_SETFD, 0) != 0)
                ::_exit(126);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        const int fork_error = errno;
        ::close(null_fd);
        ::close(log_fd);
        if (pid_ < 0)
            throw std::runtime_error(std::string("fork: ") + std::strerror(fork_error));
    }

    ~Qemu() { terminate_child(pid_); }

    Qemu(const Qemu&) = delete;
    Qemu& operator=(const Qemu&) = delete;

    pid_t pid() const { return pid_; }

    // Waits at most \p timeout for QEMU to exit and reaps it; \returns true once it has.
    bool wait_exit(std::chrono::milliseconds timeout)
    {
        if (pid_ > 0 && reap_child(pid_, timeout, &status_))
            pid_ = 0;
        return pid_ <= 0;
    }

    int status() const { return status_; }

    std::string output() const { return file_contents(log_path_); }

private:
    std::string log_path_;
    pid_t pid_ = -1;
    int status_ = -1;
};

qmp::ClientOptions client_options()
{
    qmp::ClientOptions options;
    options.connect_timeout = 10s;
    options.command_timeout = 10s;
    return options;
}

// Asks QEMU to quit and expects it to exit cleanly.
void quit(qmp::Client& client, Qemu& qemu)
{
    client.execute("quit");
    EXPECT_TRUE(qemu.wait_exit(10s)) << qemu.output();
    EXPECT_TRUE(WIFEXITED(qemu.status()) && WEXITSTATUS(qemu.status()) == 0)
        << "status " << qemu.status() << "\n"
        << qemu.output();
}

} // namespace

TEST(QemuPeers, QemuConnectsToServerAndReconnectsAfterDisconnect)
{
    TemporaryDirectory dir;
    const std::string path = dir.path() + "/qmp.sock";
    qmp::ServerOptions server_options;
    server_options.peer_uid = ::getuid();
    qmp::Server server("unix:" + path, server_options);
    Qemu qemu(dir,
        {"-chardev", "socket,id=mon0,path=" + path + ",server=off,reconnect=1", "-mon",
            "chardev=mon0,mode=control"});

    qmp::Client client(client_options());
    try {
        client.accept(server, 10s);
    } catch (const qmp::ConnectError& e) {
        FAIL() << e.what() << "\nQEMU's output:\n" << qemu.output();
    }
    EXPECT_EQ(client.address(), "accepted from unix:" + path);
    EXPECT_EQ(client.greeting().version.major, 7);
    EXPECT_TRUE(client.execute("query-status").contains("status"));

    // QEMU sees the hang-up and connects again after reconnect=1 (about a second).
    client.disconnect();
    const auto start = SteadyClock::now();
    try {
        client.accept(server, 10s);
    } catch (const qmp::ConnectError& e) {
        FAIL() << "QEMU did not reconnect: " << e.what() << "\nQEMU's output:\n" << qemu.output();
    }
    EXPECT_LT(ms_since(start), 10000);
    EXPECT_TRUE(client.is_connected());
    EXPECT_TRUE(client.execute("query-status").contains("status"));
    quit(client, qemu);
}

TEST(QemuPeers, SocketpairHandedToQemuAndConnectFd)
{
    TemporaryDirectory dir;
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    const int ours = pair[0];
    const int theirs = pair[1];
    std::optional<Qemu> qemu;
    try {
        qemu.emplace(dir,
            std::vector<std::string>{"-chardev", "socket,id=mon0,fd=" + std::to_string(theirs),
                "-mon", "chardev=mon0,mode=control"},
            theirs);
    } catch (...) {
        ::close(ours);
        ::close(theirs);
        throw;
    }
    ::close(theirs); // QEMU has its copy; ours alone would keep the connection from ending

    qmp::Client client(client_options());
    try {
        client.connect_fd(ours); // the client owns it from here on
    } catch (const qmp::ConnectError& e) {
        FAIL() << e.what() << "\nQEMU's output:\n" << qemu->output();
    }
    EXPECT_EQ(client.address(), "fd:" + std::to_string(ours));
    EXPECT_EQ(client.greeting().version.major, 7);
    EXPECT_TRUE(client.execute("query-status").contains("status"));

    const qmp::Event stop = client.execute_and_wait("stop", nullptr, "STOP", 5s);
    EXPECT_EQ(stop.name, "STOP");
    EXPECT_EQ(client.execute("query-status")["status"], "paused");

    // fd passing over the handed-over unix socket: QEMU gets the descriptor and can close it.
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    EXPECT_NO_THROW(client.execute_with_fd("getfd", {{"fdname", "x"}}, pipe_fds[1]));
    EXPECT_NO_THROW(client.execute("closefd", {{"fdname", "x"}}));
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);

    quit(client, *qemu);
}

// ClientOptions::reconnect against real QEMU: the QEMU behind a socket path is killed and a new
// one is started on the same path; the client reconnects by itself, its events() queue stays
// open across the gap, and commands work again on the new QEMU.
TEST(QemuPeers, ReconnectsToANewQemuOnTheSamePath)
{
    TemporaryDirectory dir;
    const std::string path = dir.path() + "/qmp.sock";
    const std::vector<std::string> monitor = {"-chardev",
        "socket,id=mon0,path=" + path + ",server=on,wait=off", "-mon", "chardev=mon0,mode=control"};
    auto first = std::make_unique<Qemu>(dir, monitor);
    auto options = client_options();
    options.retry_connect = true;
    options.reconnect = true;
    options.reconnect_delay = 50ms;
    options.reconnect_max_delay = 200ms;
    StateLog states;
    options.on_state_change = states.recorder();
    qmp::Client client(options);
    client.connect("unix:" + path);
    const pid_t first_pid = first->pid();
    EXPECT_EQ(client.execute("query-status")["status"], "running");

    ::kill(first_pid, SIGKILL); // only the QEMU this test started
    ASSERT_TRUE(first->wait_exit(10s));
    first.reset();
    // Until the client has seen the end, a command would still go out on the dead session (and
    // fail: whether it ran cannot be known), which is not what this test is about.
    ASSERT_TRUE(states.wait_for(qmp::ConnectionState::reconnecting, 10s));
    ::unlink(path.c_str()); // the dead QEMU's socket file; the new one binds the path again
    Qemu second(dir, monitor);

    // The call waits for the new session (bounded by its timeout) instead of failing.
    const qmp::json status = client.execute("query-status", qmp::json::object(), 15s);
    EXPECT_EQ(status["status"], "running");
    EXPECT_TRUE(client.is_connected());
    // The queue stayed open: an event of the new QEMU arrives in it.
    client.execute("stop");
    const auto event = client.events().pop(10s);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->name, "STOP");
    EXPECT_TRUE(states.wait_for(qmp::ConnectionState::reconnecting, 0ms));
    quit(client, second);
}

// QEMU as the client, and ClientOptions::reconnect on our side: when the QEMU that connected
// to our Server dies, the client accepts the next QEMU's connection by itself.
TEST(QemuPeers, AcceptingClientReconnectsWhenQemuConnectsAgain)
{
    TemporaryDirectory dir;
    const std::string path = dir.path() + "/qmp.sock";
    qmp::Server server("unix:" + path);
    const std::vector<std::string> monitor = {"-chardev",
        "socket,id=mon0,path=" + path + ",server=off,reconnect=1", "-mon",
        "chardev=mon0,mode=control"};
    auto first = std::make_unique<Qemu>(dir, monitor);
    auto options = client_options();
    options.reconnect = true;
    options.reconnect_delay = 50ms;
    options.reconnect_max_delay = 200ms;
    StateLog states;
    options.on_state_change = states.recorder();
    qmp::Client client(options);
    client.accept(server, 10s);
    EXPECT_EQ(client.execute("query-status")["status"], "running");

    // The QEMU on the other end dies; a new one connects to the same Server.
    ::kill(first->pid(), SIGKILL);
    ASSERT_TRUE(first->wait_exit(10s));
    first.reset();
    // As above: a command sent before the client has seen the end would fail on the dead session.
    ASSERT_TRUE(states.wait_for(qmp::ConnectionState::reconnecting, 10s));
    Qemu second(dir, monitor);
    const qmp::json status = client.execute("query-status", qmp::json::object(), 15s);
    EXPECT_EQ(status["status"], "running");
    quit(client, second);
}
