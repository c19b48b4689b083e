// SPDX-License-Identifier: MIT
// Where the tools' QMP connection comes from: an address, a QEMU connecting to us (--listen), an
// inherited socket (--fd) or a disposable QEMU started through qmp::Machine. qmp-shell and qom
// share this so that both connect, launch and clean up alike.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <qmp/qmp.hpp>

#include "interrupt.hpp"

namespace qmp_tools {

// A mistake on the command line; the tools print it with their usage hint and exit with 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// What to connect to; target_options.hpp chooses it from the command line.
struct Target {
    std::string address; // connect here, or else
    std::string listen; // wait for QEMU to connect here (qmp::Server), or else
    std::optional<int> fd; // start the session on this connected socket, or else
    std::optional<qmp::MachineOptions> launch; // start this QEMU
    // The disposable QEMU was started because no address was given (an interactive qmp-shell
    // says so in its banner), not because of --launch.
    bool launch_by_default = false;
    // How long --listen waits for QEMU (connection and greeting); the tools' --timeout.
    std::chrono::milliseconds listen_timeout = default_listen_timeout;

    static constexpr std::chrono::milliseconds default_listen_timeout{std::chrono::seconds(60)};
};

// A connected client, owning the disposable QEMU if it started one. While it lives, an
// interrupt (Ctrl-C, SIGTERM) disconnects the client so that blocked calls return.
class Session {
public:
    // Connects, accepts or launches. With Target::listen it prints "PROGRAM: waiting for QEMU to
    // connect to ADDRESS" on stderr first; an interrupt ends that wait (as any other).
    // \throws qmp::ConnectError (qmp::Error) on failure.
    Session(const Target& target, const qmp::ClientOptions& options, Interrupt& interrupt,
        const std::string& program);
    // Closes as close() does.
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    qmp::Client& client() { return *client_; }
    bool launched() const { return machine_ != nullptr; }
    // "unix:/path", "accepted from unix:/path", "fd:3" or "disposable qemu-system-x86_64 (pid N)",
    // for messages.
    std::string describe() const;

    // Ends the session: a disposable QEMU is asked to quit and removed with its directory, a
    // QEMU we only connected to is left running. Safe to call more than once.
    void close() noexcept;

private:
    void open(const Target& target, const qmp::ClientOptions& options, const std::string& program);

    Interrupt& interrupt_;
    std::unique_ptr<qmp::Server> server_; // --listen: outlives the client it accepted for
    std::unique_ptr<qmp::Machine> machine_;
    std::unique_ptr<qmp::Client> own_client_;
    qmp::Client* client_ = nullptr;
    std::string description_;
};

} // namespace qmp_tools
