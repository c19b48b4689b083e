// SPDX-License-Identifier: MIT
#include "session.hpp"

#include <cstdlib>
#include <cstring>

namespace qmp_tools {

const char* const target_help =
    "Where to connect:\n"
    "  ADDRESS        a unix socket path, unix:PATH, tcp:HOST:PORT or HOST:PORT\n"
    "  $QMP_SOCKET    used when no ADDRESS is given\n"
    "  --launch [-- [PROGRAM] [QEMU ARGS...]]\n"
    "                 start a disposable QEMU (the default when there is no address):\n"
    "                 qemu-system-x86_64 -machine none -nodefaults -display none unless\n"
    "                 PROGRAM or QEMU ARGS are given; it is shut down and its temporary\n"
    "                 directory removed on exit, also after Ctrl-C, SIGTERM or an error\n";

SplitArguments split_at_double_dash(int argc, char** argv)
{
    SplitArguments split;
    int i = 0;
    for (; i < argc; ++i) {
        if (std::strcmp(argv[i], "--") == 0) {
            split.has_qemu_arguments = true;
            ++i;
            break;
        }
        split.tool.push_back(argv[i]);
    }
    for (; i < argc; ++i)
        split.qemu.emplace_back(argv[i]);
    split.tool.push_back(nullptr);  // getopt wants argv[argc] == nullptr
    return split;
}

Target choose_target(const std::string& address, bool launch,
                     const std::vector<std::string>& qemu_arguments, bool has_qemu_arguments)
{
    launch = launch || has_qemu_arguments;
    if (!address.empty() && launch)
        throw UsageError("give either an address or --launch, not both");
    Target target;
    if (!address.empty()) {
        target.address = address;
        return target;
    }
    const char* from_environment = std::getenv("QMP_SOCKET");
    if (!launch && from_environment && *from_environment) {
        target.address = from_environment;
        return target;
    }
    qmp::MachineOptions options;
    auto next = qemu_arguments.begin();
    if (next != qemu_arguments.end() && !next->empty() && next->front() != '-') {
        options.binary = *next++;
        if (options.binary.find("storage-daemon") != std::string::npos)
            options.args = qmp::MachineOptions::storage_daemon().args;
    }
    if (next != qemu_arguments.end())
        options.args.assign(next, qemu_arguments.end());
    target.launch = std::move(options);
    return target;
}

Session::Session(const Target& target, const qmp::ClientOptions& options, Interrupt& interrupt)
    : interrupt_(interrupt)
{
    if (target.launch) {
        qmp::MachineOptions machine_options = *target.launch;
        machine_options.client = options;
        machine_ = std::make_unique<qmp::Machine>(machine_options);
        client_ = &machine_->start();
        description_ = "disposable " + machine_options.binary + " (pid " +
                       std::to_string(machine_->pid()) + ", " + machine_->directory() + ")";
    } else {
        own_client_ = std::make_unique<qmp::Client>(options);
        own_client_->connect(target.address);
        client_ = own_client_.get();
        description_ = client_->address();
    }
    qmp::Client* client = client_;
    interrupt_.on_interrupt([client] { client->disconnect(); });
}

Session::~Session()
{
    close();
}

std::string Session::describe() const
{
    return description_;
}

void Session::close() noexcept
{
    interrupt_.on_interrupt({});
    if (machine_) {
        // quit when still connected (a clean exit); the destructor SIGTERMs/SIGKILLs otherwise.
        if (machine_->client().is_connected()) {
            try {
                machine_->shutdown();
            } catch (...) {
            }
        }
        machine_.reset();
    } else if (own_client_) {
        own_client_->disconnect();
    }
}

}  // namespace qmp_tools
