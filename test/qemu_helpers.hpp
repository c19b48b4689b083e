// SPDX-License-Identifier: MIT
// Helpers shared by the tests against real QEMU and qemu-ga (test_qemu*.cpp): durations, threads
// whose exceptions fail the test, gates and counters to wait on, the FIFO that blocks QEMU's
// main loop, /proc readers, a private temporary directory, and the processes a test starts
// itself (found on PATH, ended and reaped with a bound). Public API only. Everything here is
// bounded: a helper that waits takes a timeout.
#pragma once

#include <qmp/qmp.hpp>

#include "process_probe.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace qmp_test {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

inline qmp::MachineOptions options_with_oob(bool enable_oob)
{
    qmp::MachineOptions options;
    options.client.enable_oob = enable_oob;
    return options;
}

// A machine whose monitor is a unix socket (Machine::socket_path()): for tests that connect
// another client to it or reconnect. The default socket pair serves one connection only.
inline qmp::MachineOptions socket_path_monitor()
{
    qmp::MachineOptions options;
    options.monitor = qmp::MachineOptions::Monitor::socket_path;
    return options;
}

inline qmp::ExecOptions exec(std::chrono::milliseconds timeout, bool oob = false)
{
    qmp::ExecOptions options;
    options.timeout = timeout;
    options.oob = oob;
    return options;
}

// Durations as milliseconds, for comparisons whose failure messages people can read.
template <typename Rep, typename Period> long long ms(std::chrono::duration<Rep, Period> duration)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
}

using qmp::test::ms_since;

// For "waited at least the timeout": milliseconds rounded down would turn 300.0 into 299.
inline long long us_since(SteadyClock::time_point start)
{
    return std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - start)
        .count();
}

using qmp::test::env_or;

// Runs \p body on a thread; any exception becomes a test failure instead of std::terminate.
inline std::thread spawn_checked(const std::string& what, std::function<void()> body)
{
    return std::thread([what, body = std::move(body)] {
        try {
            body();
        } catch (const std::exception& e) {
            ADD_FAILURE() << what << ": unexpected exception: " << e.what();
        } catch (...) {
            ADD_FAILURE() << what << ": unexpected non-standard exception";
        }
    });
}

// A countdown that threads arrive at and the test waits on (std::latch is C++20).
class Counter {
public:
    void arrive()
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            ++count_;
        }
        changed_.notify_all();
    }

    bool wait_for(int target, std::chrono::milliseconds timeout)
    {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return count_ >= target; });
    }

    bool wait_until(int target, SteadyClock::time_point deadline)
    {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_until(lock, deadline, [&] { return count_ >= target; });
    }

    int count()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return count_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    int count_ = 0;
};

// A gate all worker threads wait at, so that they start issuing calls together.
class Gate {
public:
    void open()
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            open_ = true;
        }
        opened_.notify_all();
    }

    void wait()
    {
        std::unique_lock<std::mutex> lock(mutex_);
        opened_.wait(lock, [&] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable opened_;
    bool open_ = false;
};

// Pops events until \p name arrives; fails the test when the queue closes or nothing arrives
// within \p timeout.
inline std::optional<qmp::Event> pop_until(
    qmp::EventQueue& events, const std::string& name, std::chrono::milliseconds timeout = 5s)
{
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
        std::optional<qmp::Event> event;
        try {
            event = events.pop(std::max(left, 0ms));
        } catch (const qmp::DisconnectedError& e) {
            ADD_FAILURE() << "event queue closed while waiting for " << name << ": " << e.what();
            return std::nullopt;
        }
        if (!event) {
            ADD_FAILURE() << "no " << name << " event within " << timeout.count() << " ms";
            return std::nullopt;
        }
        if (event->name == name)
            return event;
    }
}

// Expects the event queue to be closed: pop() yields what was already received, then throws
// DisconnectedError (a plain one: a normal end, not a protocol error). \returns the events
// popped before that.
inline std::vector<qmp::Event> drain_until_closed(
    qmp::EventQueue& events, std::chrono::milliseconds timeout = 5s)
{
    std::vector<qmp::Event> received;
    const auto deadline = SteadyClock::now() + timeout;
    for (int i = 0; i < 1000; ++i) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
        try {
            auto event = events.pop(std::max(left, 0ms));
            if (!event) {
                ADD_FAILURE() << "the event queue was not closed within " << timeout.count()
                              << " ms";
                return received;
            }
            received.push_back(std::move(*event));
        } catch (const qmp::ProtocolError& e) {
            ADD_FAILURE() << "the session ended with a protocol error: " << e.what();
            return received;
        } catch (const qmp::DisconnectedError&) {
            return received;
        }
    }
    ADD_FAILURE() << "the event queue never closed (1000 events popped)";
    return received;
}

// A FIFO in the machine's directory, used to block QEMU's main loop (QMP-NOTES: an object-add
// of a "secret" whose file is a FIFO reads it until EOF, holding the main loop, so every in-band
// command of every monitor waits meanwhile, while out-of-band commands, run by the monitor's I/O
// thread, still run).
//
// block() issues the object-add from a thread and returns once QEMU has the FIFO open for
// reading (a non-blocking open for writing succeeds only then), keeping the write end open:
// QEMU is then stuck in read() until release() writes a byte and closes it. A test that kills
// QEMU calls abandon() instead (writing to a FIFO without a reader would raise SIGPIPE). The
// destructor releases QEMU if the test did neither, and SIGKILLs it if it never got as far as
// blocking, so a failing test cannot hang.
//
// outcome() is "returned", "DisconnectedError", or the exception's class followed by ": " and
// its message ("ExecuteError: ...", "ProtocolError: ...", "TimeoutError: ...").
class BlockedMainLoop {
public:
    BlockedMainLoop(qmp::Machine& vm, qmp::Client& client)
        : vm_(vm), client_(client), path_(vm.directory() + "/block.fifo")
    {
        if (::mkfifo(path_.c_str(), 0600) != 0)
            throw std::runtime_error("mkfifo " + path_ + ": " + std::strerror(errno));
    }

    ~BlockedMainLoop()
    {
        if (writer_ >= 0)
            release();
        else if (thread_.joinable())
            vm_.kill(SIGKILL); // never blocked: whatever QEMU does, the object-add ends
        if (thread_.joinable())
            thread_.join();
    }

    BlockedMainLoop(const BlockedMainLoop&) = delete;
    BlockedMainLoop& operator=(const BlockedMainLoop&) = delete;

    // \returns true once QEMU's main loop is blocked on the FIFO.
    bool block()
    {
        thread_ = spawn_checked("object-add", [this] {
            const qmp::json arguments = {{"qom-type", "secret"}, {"id", "s0"}, {"file", path_}};
            std::string outcome;
            try {
                client_.execute("object-add", arguments, 30s);
                outcome = "returned";
            } catch (const qmp::ExecuteError& e) {
                outcome = std::string("ExecuteError: ") + e.what();
            } catch (const qmp::ProtocolError& e) {
                outcome = std::string("ProtocolError: ") + e.what();
            } catch (const qmp::DisconnectedError&) {
                outcome = "DisconnectedError";
            } catch (const qmp::TimeoutError& e) {
                outcome = std::string("TimeoutError: ") + e.what();
            }
            std::lock_guard<std::mutex> lock(mutex_);
            outcome_ = outcome;
            finished_at_ = SteadyClock::now();
        });

        // A bounded poll: the kernel gives no notification of a FIFO gaining a reader.
        const auto deadline = SteadyClock::now() + 10s;
        while (SteadyClock::now() < deadline) {
            writer_ = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            if (writer_ >= 0)
                return true;
            if (errno != ENXIO) {
                ADD_FAILURE() << "open " << path_ << ": " << std::strerror(errno);
                return false;
            }
            if (finished()) {
                ADD_FAILURE() << "object-add ended without blocking QEMU: " << outcome();
                return false;
            }
            std::this_thread::sleep_for(1ms);
        }
        ADD_FAILURE() << "QEMU did not open " << path_ << " within 10 s";
        return false;
    }

    // Lets QEMU's read() see one byte and then EOF.
    void release()
    {
        if (writer_ < 0)
            return;
        if (::write(writer_, "x", 1) != 1)
            ADD_FAILURE() << "write to " << path_ << ": " << std::strerror(errno);
        ::close(writer_);
        writer_ = -1;
    }

    // Closes the write end without writing: for a QEMU that is gone.
    void abandon()
    {
        if (writer_ >= 0)
            ::close(writer_);
        writer_ = -1;
    }

    // Joins the object-add thread; \returns how it ended.
    std::string join()
    {
        if (thread_.joinable())
            thread_.join();
        return outcome();
    }

    bool finished()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return !outcome_.empty();
    }

    std::string outcome()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return outcome_;
    }

    SteadyClock::time_point finished_at()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return finished_at_;
    }

private:
    qmp::Machine& vm_;
    qmp::Client& client_;
    const std::string path_;
    int writer_ = -1;
    std::thread thread_;
    std::mutex mutex_;
    std::string outcome_;
    SteadyClock::time_point finished_at_;
};

using qmp::test::process_state;
using qmp::test::thread_state;

// Polls (bounded) until process \p pid is in \p state (e.g. 'T' after SIGSTOP: the signal is
// delivered asynchronously and the kernel offers no notification a non-tracer can wait on).
inline bool wait_for_process_state(pid_t pid, char state, std::chrono::milliseconds timeout)
{
    const auto deadline = SteadyClock::now() + timeout;
    while (process_state(pid) != state) {
        if (SteadyClock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// Polls (bounded) until every thread in \p tids sleeps at the same moment.
inline bool wait_until_all_asleep(
    const std::vector<std::atomic<pid_t>>& tids, std::chrono::milliseconds timeout)
{
    const auto deadline = SteadyClock::now() + timeout;
    while (SteadyClock::now() < deadline) {
        const bool all = std::all_of(tids.begin(), tids.end(),
            [](const std::atomic<pid_t>& tid) { return thread_state(tid.load()) == 'S'; });
        if (all)
            return true;
        std::this_thread::sleep_for(1ms);
    }
    return false;
}

// A TCP port on the loopback interface that was free a moment ago. Another process could take
// it before QEMU binds it; QEMU would then fail to start and the test would say so.
inline int free_loopback_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t size = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
        const int error = errno;
        ::close(fd);
        throw std::runtime_error(std::string("bind 127.0.0.1:0: ") + std::strerror(error));
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

// Adds a second QMP monitor on a free loopback TCP port to \p options; returns its address,
// "127.0.0.1:PORT", for Client::connect().
inline std::string add_tcp_monitor(qmp::MachineOptions& options)
{
    const std::string address = "127.0.0.1:" + std::to_string(free_loopback_port());
    options.args.insert(options.args.end(), {"-qmp", "tcp:" + address + ",server=on,wait=off"});
    return address;
}

// ---- processes this test starts itself (qemu-ga, QEMU on an inherited socket) -------------

// The first executable \p name in $PATH (an empty entry is the current directory), or "" if
// there is none. Resolve before fork(): the child must not allocate.
inline std::string find_in_path(const std::string& name)
{
    const char* path = std::getenv("PATH");
    const std::string directories = path ? path : "/usr/bin:/bin";
    std::size_t start = 0;
    for (;;) {
        const auto end = directories.find(':', start);
        const std::string directory = directories.substr(start, end - start);
        const std::string candidate = (directory.empty() ? "." : directory) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0)
            return candidate;
        if (end == std::string::npos)
            return {};
        start = end + 1;
    }
}

// Waits at most \p timeout for child \p pid to exit and reaps it; \returns true once it has
// (or it is not our child any more), with its wait status in \p status.
inline bool reap_child(pid_t pid, std::chrono::milliseconds timeout, int* status = nullptr)
{
    const auto deadline = SteadyClock::now() + timeout;
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    bool reaped = false;
    for (;;) {
        int wait_status = 0;
        const pid_t done = ::waitpid(pid, &wait_status, WNOHANG);
        if (done == pid || (done < 0 && errno == ECHILD)) {
            if (status)
                *status = wait_status;
            reaped = true;
            break;
        }
        const auto left = ms(deadline - SteadyClock::now());
        if (left <= 0)
            break;
        if (pidfd >= 0) {
            pollfd exited{pidfd, POLLIN, 0};
            ::poll(&exited, 1, static_cast<int>(left)); // readable once the process exits
        } else {
            std::this_thread::sleep_for(10ms); // no pidfd: a bounded poll
        }
    }
    if (pidfd >= 0)
        ::close(pidfd);
    return reaped;
}

// Ends child \p pid (and no other process): SIGTERM, SIGKILL if it is still there after 5 s,
// and reaps it.
inline void terminate_child(pid_t pid)
{
    if (pid <= 0)
        return;
    ::kill(pid, SIGTERM);
    if (!reap_child(pid, 5s)) {
        ::kill(pid, SIGKILL);
        reap_child(pid, 5s);
    }
}

// The whole content of the file at \p path (a child's log), "" if it cannot be read.
inline std::string file_contents(const std::string& path)
{
    std::ifstream file(path);
    return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

using qmp::test::TemporaryDirectory;

} // namespace qmp_test
