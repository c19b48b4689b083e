// SPDX-License-Identifier: MIT
// Where the tools' QMP connection comes from: an address or a disposable QEMU started through
// qmp::Machine. qmp-shell and qom share this so that both connect, launch and clean up alike.
#pragma once

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
    std::optional<qmp::MachineOptions> launch; // start this QEMU
};

// A connected client, owning the disposable QEMU if it started one. While it lives, an
// interrupt (Ctrl-C, SIGTERM) disconnects the client so that blocked calls return.
class Session {
public:
    // Connects or launches. \throws qmp::ConnectError (qmp::Error) on failure.
    Session(const Target& target, const qmp::ClientOptions& options, Interrupt& interrupt);
    // Closes as close() does.
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    qmp::Client& client() { return *client_; }
    bool launched() const { return machine_ != nullptr; }
    // "unix:/path" or "disposable qemu-system-x86_64 (pid N)", for messages.
    std::string describe() const;

    // Ends the session: a disposable QEMU is asked to quit and removed with its directory, a
    // QEMU we only connected to is left running. Safe to call more than once.
    void close() noexcept;

private:
    Interrupt& interrupt_;
    std::unique_ptr<qmp::Machine> machine_;
    std::unique_ptr<qmp::Client> own_client_;
    qmp::Client* client_ = nullptr;
    std::string description_;
};

} // namespace qmp_tools
