// SPDX-License-Identifier: MIT
// Where the tools' QMP connection comes from: an address (positional argument or $QMP_SOCKET)
// or a disposable QEMU started through qmp::Machine. qmp-shell and qom share this so that both
// accept exactly the same addresses and launch options.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <qmp/qmp.hpp>

#include "interrupt.hpp"

namespace qmp_tools {

// A mistake on the command line; the tools print it with their usage hint and exit with 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// argv split at the first "--": the tool's own arguments (argv[0] included) and QEMU's.
struct SplitArguments {
    std::vector<char*> tool;
    std::vector<std::string> qemu;
    bool has_qemu_arguments = false;  // a "--" was present
};
SplitArguments split_at_double_dash(int argc, char** argv);

// What to connect to.
struct Target {
    std::string address;                        // connect here, or else
    std::optional<qmp::MachineOptions> launch;  // start this QEMU
};

// Chooses the target: \p address if given, else --launch, else $QMP_SOCKET, else a disposable
// QEMU. \p qemu_arguments (after "--") imply --launch: when the first does not start with '-'
// it is the program, and any others replace the default arguments (-machine none ...).
// \throws UsageError for an address together with --launch.
Target choose_target(const std::string& address, bool launch,
                     const std::vector<std::string>& qemu_arguments, bool has_qemu_arguments);

// The help text paragraph both tools print about addresses and --launch.
extern const char* const target_help;

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

}  // namespace qmp_tools
