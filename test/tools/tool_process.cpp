// SPDX-License-Identifier: MIT
#include "tool_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <pty.h>
#include <stdexcept>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tools_test {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void exec_child(
    const std::vector<std::string>& argv, const std::map<std::string, std::string>& environment)
{
    for (const auto& [name, value] : environment) {
        if (value.empty())
            ::unsetenv(name.c_str());
        else
            ::setenv(name.c_str(), value.c_str(), 1);
    }
    // The test runner may block or ignore signals; the tool must start with the defaults.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGPIPE, SIG_DFL);
    std::vector<char*> args;
    for (const auto& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
}

std::chrono::milliseconds left_until(Clock::time_point deadline)
{
    return std::max(std::chrono::milliseconds(0),
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}

} // namespace

std::string tool_path(const char* variable)
{
    const char* path = std::getenv(variable);
    if (!path || !*path)
        throw std::runtime_error(std::string("environment variable ") + variable +
            " not set: run the tests with `meson test`");
    return path;
}

ToolProcess::ToolProcess(const std::vector<std::string>& argv, Options options)
{
    if (options.terminal) {
        int master = -1;
        winsize size{};
        size.ws_row = 40;
        size.ws_col = 120;
        pid_ = ::forkpty(&master, nullptr, nullptr, &size);
        if (pid_ < 0)
            throw std::runtime_error("forkpty failed");
        if (pid_ == 0)
            exec_child(argv, options.environment);
        stdin_ = master;
        stdout_ = ::dup(master);
        return;
    }
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
        throw std::runtime_error("pipe2 failed");
    pid_ = ::fork();
    if (pid_ < 0)
        throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        exec_child(argv, options.environment);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    stderr_ = err[0];
}

ToolProcess::~ToolProcess()
{
    if (!status_) {
        ::kill(pid_, SIGKILL);
        reap(true);
    }
    for (int fd : {stdin_, stdout_, stderr_})
        if (fd >= 0)
            ::close(fd);
}

void ToolProcess::write(const std::string& text)
{
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(stdin_, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw std::runtime_error("write to the tool failed");
        done += static_cast<std::size_t>(n);
    }
}

void ToolProcess::close_stdin()
{
    ::close(stdin_);
    stdin_ = -1;
}

void ToolProcess::signal(int signal_number)
{
    ::kill(pid_, signal_number);
}

bool ToolProcess::pump(std::chrono::milliseconds timeout)
{
    pollfd fds[2];
    nfds_t count = 0;
    std::string* targets[2];
    int* owners[2];
    for (auto [fd, target] : {std::pair<int*, std::string*>{&stdout_, &out_}, {&stderr_, &err_}}) {
        if (*fd < 0)
            continue;
        fds[count] = {*fd, POLLIN, 0};
        targets[count] = target;
        owners[count] = fd;
        ++count;
    }
    if (count == 0)
        return false;
    const int ready = ::poll(fds, count, static_cast<int>(timeout.count()));
    if (ready <= 0)
        return true;
    for (nfds_t i = 0; i < count; ++i) {
        if (!fds[i].revents)
            continue;
        char buffer[4096];
        const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
        if (n > 0) {
            targets[i]->append(buffer, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            // End of output (EIO on a pseudo-terminal whose last user has gone).
            ::close(*owners[i]);
            *owners[i] = -1;
        }
    }
    return true;
}

bool ToolProcess::wait_for_output(
    const std::string& needle, std::chrono::milliseconds timeout, std::size_t from)
{
    const auto deadline = Clock::now() + timeout;
    while (out_.find(needle, std::min(from, out_.size())) == std::string::npos) {
        if (Clock::now() >= deadline || !pump(std::min(left_until(deadline), 100ms)))
            return out_.find(needle, std::min(from, out_.size())) != std::string::npos;
    }
    return true;
}

bool ToolProcess::wait_for_error(const std::string& needle, std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    while (err_.find(needle) == std::string::npos) {
        if (Clock::now() >= deadline || !pump(std::min(left_until(deadline), 100ms)))
            return err_.find(needle) != std::string::npos;
    }
    return true;
}

bool ToolProcess::reap(bool block)
{
    int status = 0;
    pid_t got;
    do {
        got = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
    } while (got < 0 && errno == EINTR);
    if (got != pid_)
        return false;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
}

std::optional<int> ToolProcess::wait_exit(std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    if (status_)
        return status_;
    // A pidfd becomes readable when the process exits: poll it with the output pipes.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    while (!reap(false)) {
        if (Clock::now() >= deadline) {
            if (pidfd >= 0)
                ::close(pidfd);
            return std::nullopt;
        }
        const auto slice = std::min(left_until(deadline), 100ms);
        if (!pump(slice) && pidfd >= 0) {
            pollfd fd{pidfd, POLLIN, 0};
            ::poll(&fd, 1, static_cast<int>(slice.count()));
        }
    }
    if (pidfd >= 0)
        ::close(pidfd);
    while (pump(0ms) && (stdout_ >= 0 || stderr_ >= 0)) {
        // drain what the tool wrote before it exited
        pollfd fds[2] = {{stdout_, POLLIN, 0}, {stderr_, POLLIN, 0}};
        if (::poll(fds, 2, 0) <= 0)
            break;
    }
    return status_;
}

Result run_tool(const std::vector<std::string>& argv, const std::string& input,
    std::map<std::string, std::string> environment)
{
    environment.emplace("QMP_SOCKET", "");
    ToolProcess tool(argv, {false, environment});
    if (!input.empty())
        tool.write(input);
    tool.close_stdin();
    Result result;
    const auto status = tool.wait_exit(60s);
    result.status = status ? *status : -1;
    result.out = tool.output();
    result.err = tool.error_output();
    return result;
}

std::vector<pid_t> children_of(pid_t parent)
{
    std::vector<pid_t> children;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::ifstream stat(entry.path() / "stat");
        std::string text;
        std::getline(stat, text);
        // "pid (comm) state ppid ...": comm may contain spaces, so parse after the last ')'.
        const auto close = text.rfind(')');
        if (close == std::string::npos)
            continue;
        char state = 0;
        int ppid = 0;
        if (std::sscanf(text.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
            children.push_back(std::stoi(name));
    }
    return children;
}

std::vector<std::string> command_line_of(pid_t pid)
{
    std::ifstream file("/proc/" + std::to_string(pid) + "/cmdline");
    std::vector<std::string> arguments;
    for (std::string argument; std::getline(file, argument, '\0');)
        arguments.push_back(argument);
    return arguments;
}

bool process_exists(pid_t pid)
{
    return ::kill(pid, 0) == 0 || errno != ESRCH;
}

} // namespace tools_test
