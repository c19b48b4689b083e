// SPDX-License-Identifier: MIT
#include "target_options.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace qmp_tools {

const char* const target_help =
    "Where to connect:\n"
    "  ADDRESS        a unix socket path, unix:PATH, tcp:HOST:PORT or HOST:PORT\n"
    "  $QMP_SOCKET    used when no ADDRESS is given\n"
    "  --listen ADDRESS\n"
    "                 listen at ADDRESS and wait for QEMU to connect, for a QEMU started\n"
    "                 with -chardev socket,id=mon0,path=PATH,server=off[,reconnect=1]\n"
    "                 -mon chardev=mon0,mode=control (ADDRESS unix:PATH); the wait is\n"
    "                 bounded by --timeout (default 60 s here) and ended by Ctrl-C\n"
    "  --fd N         use file descriptor N, a connected stream socket inherited from\n"
    "                 the parent process (e.g. QEMU's -chardev socket,id=mon0,fd=M peer)\n"
    "  --launch [-- [PROGRAM] [QEMU ARGS...]]\n"
    "                 start a disposable QEMU (needed when there is no address, except\n"
    "                 for an interactive qmp-shell, whose banner then says so):\n"
    "                 qemu-system-x86_64 -machine none -nodefaults -display none unless\n"
    "                 PROGRAM or QEMU ARGS are given; it is shut down and its temporary\n"
    "                 directory removed on exit, also after Ctrl-C, SIGTERM or an error\n";

TargetOptions::TargetOptions(int argc, char** argv)
{
    int i = 0;
    for (; i < argc; ++i) {
        if (std::strcmp(argv[i], "--") == 0) {
            has_qemu_arguments_ = true;
            ++i;
            break;
        }
        tool_.push_back(argv[i]);
    }
    for (; i < argc; ++i)
        qemu_.emplace_back(argv[i]);
    tool_.push_back(nullptr);
}

bool TargetOptions::given() const
{
    return !address.empty() || launch || !listen.empty() || !fd.empty() || has_qemu_arguments_;
}

Target TargetOptions::target(bool launch_by_default) const
{
    const bool launching = launch || has_qemu_arguments_;
    const int ways =
        int(!address.empty()) + int(launching) + int(!listen.empty()) + int(!fd.empty());
    if (ways > 1) {
        if (ways == 2 && !address.empty() && launching)
            throw UsageError("give either an address or --launch, not both");
        throw UsageError("give only one of ADDRESS, --listen, --fd and --launch");
    }
    Target target;
    if (!address.empty()) {
        target.address = address;
        return target;
    }
    if (!listen.empty()) {
        target.listen = listen;
        return target;
    }
    if (!fd.empty()) {
        char* end = nullptr;
        errno = 0;
        const long number = std::strtol(fd.c_str(), &end, 10);
        if (errno != 0 || end == fd.c_str() || *end != '\0' || number < 0 || number > INT_MAX)
            throw UsageError("--fd: not a file descriptor number: " + fd);
        target.fd = static_cast<int>(number);
        return target;
    }
    const char* from_environment = std::getenv("QMP_SOCKET");
    if (!launching && from_environment && *from_environment) {
        target.address = from_environment;
        return target;
    }
    if (!launching && !launch_by_default)
        throw UsageError("no address: give ADDRESS, set QMP_SOCKET, or use --launch for a "
                         "disposable QEMU");
    target.launch_by_default = !launching;
    qmp::MachineOptions options;
    // A unix socket in the machine's directory rather than a socket pair: the monitor stays
    // reachable at a path (the tool's tests find the directory from QEMU's command line).
    options.monitor = qmp::MachineOptions::Monitor::socket_path;
    auto next = qemu_.begin();
    if (next != qemu_.end() && !next->empty() && next->front() != '-') {
        options.binary = *next++;
        if (options.binary.find("storage-daemon") != std::string::npos)
            options.args = qmp::MachineOptions::storage_daemon().args;
    }
    if (next != qemu_.end())
        options.args.assign(next, qemu_.end());
    target.launch = std::move(options);
    return target;
}

UsageError TargetOptions::unknown_option() const
{
    // getopt_long leaves a short option's letter in optopt; for a long option it leaves its
    // code (256 and above) or 0, and optind just past the argument as typed.
    if (optopt > 0 && optopt < 256)
        return UsageError(std::string("unknown option or missing value: -") + char(optopt));
    return UsageError(std::string("unknown option or missing value: ") + tool_[optind - 1]);
}

} // namespace qmp_tools
