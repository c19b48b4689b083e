// SPDX-License-Identifier: MIT
// qmp::Machine: starts a disposable QEMU with a QMP monitor on a socket pair (or a unix socket
// in a private directory), connects a Client to it, and always kills, reaps and cleans up after
// it. The parts are in
// qemu_command.hpp (the command line), temporary_directory.hpp and child_process.hpp.

#include <qmp/error.hpp>
#include <qmp/machine.hpp>

#include <algorithm>
#include <csignal>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <sys/stat.h>

#include "child_process.hpp"
#include "deadline.hpp"
#include "fd.hpp"
#include "log.hpp"
#include "qemu_command.hpp"
#include "temporary_directory.hpp"
#include "text.hpp"

namespace qmp {

using detail::ChildProcess;
using detail::Clock;
using detail::command_line_text;
using detail::deadline_after;
using detail::describe_wait_status;
using detail::Fd;
using detail::find_program;
using detail::make_socket_pair;
using detail::MonitorEndpoint;
using detail::ms_text;
using detail::open_standard_streams;
using detail::pause_until_next_poll;
using detail::qemu_command;
using detail::read_whole_file;
using detail::require_fits_sun_path;
using detail::SocketPair;
using detail::spawn;
using detail::StandardStreams;
using detail::tail_of_output;
using detail::TemporaryDirectory;
using detail::time_left;

namespace {

using std::chrono::milliseconds;

// How often start() looks for the monitor socket: QEMU gives no notification we could block on.
constexpr milliseconds start_poll_interval{10};

// How long start() waits for the exit status of a QEMU that hung up its end of the socket pair
// before the greeting. A QEMU that fails to start closes it only as it exits; the wait is there
// for the exit status and QEMU's last words, and the status makes the better error.
constexpr milliseconds exit_after_hangup_wait{2000};

// How much of QEMU's output a start-up error quotes: enough for any error QEMU prints, small
// enough for a log line.
constexpr std::size_t stderr_tail_bytes = 4096;

// What is left of start_timeout bounds the connect(); Machine retries itself (see below).
ClientOptions client_options(const MachineOptions& options, Clock::time_point deadline)
{
    ClientOptions client = options.client;
    client.retry_connect = false;
    client.connect_timeout = std::max(time_left(deadline), milliseconds(1));
    return client;
}

std::string exited_early(const std::string& program_name, const ChildProcess& child)
{
    return program_name + " " + describe_wait_status(child.status()) +
        " before its monitor was ready";
}

std::string no_answer(const std::string& program_name, const MachineOptions& options,
    const std::string& connect_error)
{
    return program_name + "'s monitor did not answer within " + ms_text(options.start_timeout) +
        " (" + connect_error + ")";
}

bool socket_exists(const std::string& path)
{
    struct stat info { };
    return ::stat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode);
}

// Waits for the monitor socket, then connects. Returns the connected client, or null with the
// reason in \p failure (the process exited, or the deadline passed).
//
// The client's own retry (ClientOptions::retry_connect) is not used: a QEMU that fails after
// creating its socket (a bad -device, for instance) leaves the socket file behind, and the client
// would retry the refused connection until the deadline. Retrying here checks the process
// between attempts, so such a failure is reported at once, with its exit status.
std::unique_ptr<Client> connect_when_ready(ChildProcess& child, const std::string& program_name,
    const std::string& socket_path, const MachineOptions& options, Clock::time_point deadline,
    std::string& failure)
{
    std::string last_connect_error;
    for (;;) {
        if (child.poll_exit()) {
            failure = exited_early(program_name, child);
            return nullptr;
        }
        if (socket_exists(socket_path)) {
            auto client = std::make_unique<Client>(client_options(options, deadline));
            try {
                client->connect("unix:" + socket_path);
                return client;
            } catch (const ConnectError& e) {
                last_connect_error = e.what();
            }
        }
        if (Clock::now() >= deadline) {
            failure = last_connect_error.empty()
                ? program_name + " did not create its monitor socket within " +
                    ms_text(options.start_timeout)
                : no_answer(program_name, options, last_connect_error);
            return nullptr;
        }
        pause_until_next_poll(start_poll_interval, deadline);
    }
}

// Reads the greeting and negotiates on \p socket, QEMU's peer in a socket pair. Returns the
// connected client, or null with the reason in \p failure. A QEMU that fails to start (a bad
// argument, a bad -device) ends the connection before the greeting by exiting; that is reported
// as the exit, with its status.
std::unique_ptr<Client> connect_socket_pair(ChildProcess& child, const std::string& program_name,
    Fd socket, const MachineOptions& options, Clock::time_point deadline, std::string& failure)
{
    auto client = std::make_unique<Client>(client_options(options, deadline));
    try {
        client->connect_fd(socket.release());
        return client;
    } catch (const ConnectError& e) {
        if (child.wait_exit(std::min(time_left(deadline), exit_after_hangup_wait)))
            failure = exited_early(program_name, child);
        else if (time_left(deadline) == milliseconds(0)) // less than a millisecond left
            failure = no_answer(program_name, options, e.what());
        else
            failure = program_name + "'s monitor failed before the greeting (" + e.what() + ")";
        return nullptr;
    }
}

ConnectError start_failure(
    const std::string& reason, const std::vector<std::string>& command, const Fd& log)
{
    return ConnectError("qmp: " + reason + "; command: " + command_line_text(command) +
        "; stderr: " + tail_of_output(log, stderr_tail_bytes));
}

} // namespace

MachineOptions MachineOptions::storage_daemon()
{
    MachineOptions options;
    options.binary = "qemu-storage-daemon";
    options.args.clear();
    return options;
}

class QMP_NO_EXPORT Machine::Impl {
public:
    explicit Impl(MachineOptions options)
        : options_(std::move(options)), logger_(detail::logger_or_null(options_.client.logger))
    {
    }

    // Bounded by twice shutdown_timeout: SIGTERM, then SIGKILL (see terminate()).
    ~Impl()
    {
        if (client_)
            client_->disconnect();
        if (process_.pid() > 0 && !process_.poll_exit())
            terminate();
        directory_.remove();
    }

    Client& start()
    {
        if (client_)
            throw UsageError("qmp: Machine::start(): already started (a Machine starts its "
                             "process once; create another Machine)");
        const auto deadline = deadline_after(options_.start_timeout);
        const std::string program = find_program(options_.binary);
        TemporaryDirectory directory = TemporaryDirectory::create();
        const bool by_path = options_.monitor == MachineOptions::Monitor::socket_path;
        MonitorEndpoint monitor;
        SocketPair pair;
        std::vector<int> inherited;
        if (by_path) {
            monitor.socket_path = directory.path() + "/qmp.sock";
            require_fits_sun_path(monitor.socket_path);
        } else {
            pair = make_socket_pair();
            monitor.fd = pair.child.get();
            inherited.push_back(monitor.fd);
        }
        const auto command = qemu_command(program, options_, monitor);
        StandardStreams streams = open_standard_streams(directory.path() + "/qemu.log");

        std::string failure;
        ChildProcess child = spawn(command, streams, inherited, options_.kill_with_parent,
            options_.shutdown_timeout, deadline, failure);
        // QEMU has its own copy now; ours would keep its end open after QEMU exited, and the
        // client would see no end of the connection.
        pair.child.reset();
        if (failure.empty() && logger_->should_log(spdlog::level::debug))
            logger_->debug("qmp: started {} (pid {}): {}", options_.binary, child.pid(),
                command_line_text(command));
        std::unique_ptr<Client> client;
        if (failure.empty())
            client = by_path ? connect_when_ready(child, options_.binary, monitor.socket_path,
                                   options_, deadline, failure)
                             : connect_socket_pair(child, options_.binary, std::move(pair.parent),
                                   options_, deadline, failure);
        if (!client) {
            // Kill before quoting stderr, so the quote holds everything QEMU wrote; the
            // directory goes when `directory` goes out of scope.
            kill_and_reap(child);
            throw start_failure(failure, command, streams.log_reader);
        }

        directory_ = std::move(directory);
        socket_path_ = std::move(monitor.socket_path);
        log_ = std::move(streams.log_reader);
        process_ = std::move(child);
        client_ = std::move(client);
        return *client_;
    }

    // The Client is created by start(), because its connect_timeout is what is left of
    // start_timeout at that moment (ClientOptions are fixed at construction). Before start()
    // there is no client to return: handing out a placeholder would leave references to it
    // dangling once start() replaced it.
    Client& client()
    {
        if (!client_)
            throw UsageError("qmp: Machine::client(): call start() first");
        return *client_;
    }

    // Three stages of at most shutdown_timeout each: `quit` and the wait for the exit, then
    // SIGTERM and a wait, then SIGKILL and a wait (see terminate()).
    int shutdown()
    {
        if (process_.pid() > 0) {
            const auto deadline = deadline_after(options_.shutdown_timeout);
            // Without a connected client nobody can ask for `quit`: SIGTERM at once (QEMU shuts
            // down as cleanly on it) rather than waiting shutdown_timeout for nothing.
            const bool asked = request_quit(deadline);
            if (client_)
                client_->disconnect();
            if ((asked && process_.wait_exit(time_left(deadline))) || terminate())
                logger_->debug(
                    "qmp: {} {}", options_.binary, describe_wait_status(process_.status()));
            directory_.remove();
            return process_.status(); // -1 if abandoned: it was never reaped
        }
        if (client_)
            client_->disconnect();
        directory_.remove();
        return -1;
    }

    void kill(int signal_number)
    {
        if (process_.signal(signal_number) == EINVAL)
            throw UsageError(
                "qmp: Machine::kill(): invalid signal " + std::to_string(signal_number));
    }

    bool wait_exit(milliseconds timeout) { return process_.wait_exit(timeout); }
    pid_t pid() const { return process_.pid(); }
    bool running() { return !process_.poll_exit(); }
    const std::string& directory() const { return directory_.path(); }
    const std::string& socket_path() const { return socket_path_; }
    std::string stderr_output() const { return read_whole_file(log_); }

private:
    // SIGTERM and a wait of at most shutdown_timeout; then SIGKILL to the process and its group
    // and another such wait. A process that even then cannot be reaped (stuck in uninterruptible
    // sleep, or held as a zombie by a ptrace tracer) is abandoned with a warning rather than
    // waited for. \returns true if the process was reaped.
    bool terminate()
    {
        process_.signal(SIGTERM);
        if (process_.wait_exit(options_.shutdown_timeout))
            return true;
        return kill_and_reap(process_);
    }

    // ChildProcess::kill_and_reap(), bounded by shutdown_timeout, with a warning when the
    // process had to be abandoned.
    bool kill_and_reap(ChildProcess& process)
    {
        const pid_t pid = process.pid();
        if (process.kill_and_reap())
            return true;
        logger_->warn("qmp: {} (pid {}) was not reaped within {} of SIGKILL; abandoned",
            options_.binary, pid, ms_text(options_.shutdown_timeout));
        return false;
    }

    // QEMU may close the connection before it replies to `quit` (DisconnectedError), so any
    // qmp::Error here is expected; the caller checks for the exit itself. \returns whether
    // `quit` could be sent (the client was connected).
    bool request_quit(Clock::time_point deadline)
    {
        if (!client_ || !client_->is_connected())
            return false;
        try {
            client_->execute("quit", json::object(), time_left(deadline));
        } catch (const Error&) {
        }
        return true;
    }

    MachineOptions options_;
    std::shared_ptr<spdlog::logger> logger_;
    // Declared before process_, hence destroyed after it: the process dies before its directory
    // goes.
    TemporaryDirectory directory_;
    std::string socket_path_;
    Fd log_;
    ChildProcess process_;
    std::unique_ptr<Client> client_;
};

Machine::Machine() : Machine(MachineOptions{})
{
}

Machine::Machine(MachineOptions options) : impl_(std::make_unique<Impl>(std::move(options)))
{
}

Machine::~Machine() = default;

Client& Machine::start()
{
    return impl_->start();
}

Client& Machine::client()
{
    return impl_->client();
}

int Machine::shutdown()
{
    return impl_->shutdown();
}

void Machine::kill(int signal)
{
    impl_->kill(signal);
}

bool Machine::wait_exit(std::chrono::milliseconds timeout)
{
    return impl_->wait_exit(timeout);
}

pid_t Machine::pid() const
{
    return impl_->pid();
}

bool Machine::running()
{
    return impl_->running();
}

const std::string& Machine::directory() const
{
    return impl_->directory();
}

const std::string& Machine::socket_path() const
{
    return impl_->socket_path();
}

std::string Machine::stderr_output() const
{
    return impl_->stderr_output();
}

} // namespace qmp
