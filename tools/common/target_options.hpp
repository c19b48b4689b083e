// SPDX-License-Identifier: MIT
// The part of the tools' command lines that says where to connect:
//     [ADDRESS | --listen ADDRESS | --fd N] [--launch] [-- [PROGRAM] [QEMU ARGS...]]
// qmp-shell and qom parse their own options with getopt_long but take these from here, so that
// both accept the same addresses and launch options, check them alike and describe them alike.
#pragma once

#include <getopt.h>
#include <string>
#include <vector>

#include "session.hpp"

namespace qmp_tools {

// Use in a tool's option parser:
//     TargetOptions target(argc, argv);
//     getopt_long(target.argc(), target.argv(), ..., {..., TargetOptions::launch_option, ...});
//     case TargetOptions::launch_code: target.launch = true; break;
//     case TargetOptions::listen_code: target.listen = optarg; break;
//     case TargetOptions::fd_code: target.fd = optarg; break;
//     target.address = ...;  // where the tool finds its positional ADDRESS
//     options.target = target.target();
class TargetOptions {
public:
    // Splits argv at the first "--": the tool's arguments before it, QEMU's after it.
    TargetOptions(int argc, char** argv);

    // The tool's arguments (argv[0] first) for getopt_long, which may permute them.
    int argc() const { return static_cast<int>(tool_.size()) - 1; }
    char** argv() { return tool_.data(); }

    // What getopt_long returns for --launch: above 255 so no short option can clash, and clear
    // of the codes the tools number from 256 for their own long options.
    static constexpr int launch_code = 1024;
    static constexpr option launch_option = {"launch", no_argument, nullptr, launch_code};

    // --listen ADDRESS and --fd N, codes next to launch_code's.
    static constexpr int listen_code = 1025;
    static constexpr option listen_option = {"listen", required_argument, nullptr, listen_code};
    static constexpr int fd_code = 1026;
    static constexpr option fd_option = {"fd", required_argument, nullptr, fd_code};

    std::string address; // ADDRESS, when the tool found one
    bool launch = false; // --launch was given
    std::string listen; // --listen ADDRESS
    std::string fd; // --fd N, as typed (checked by target())

    // True when the command line says where to connect in any way: ADDRESS, --launch, --listen,
    // --fd or "--" (for a tool mode that connects elsewhere, such as qmp-shell --agent).
    bool given() const;

    // The address if given, else --listen, else --fd, else --launch, else $QMP_SOCKET, else a
    // disposable QEMU when \p launch_by_default (an interactive shell, whose banner says so),
    // else a UsageError: a script that forgot its address must not get results from a
    // throwaway QEMU. QEMU arguments (after "--") imply --launch: when the first does not start
    // with '-' it is the program, and any others replace the default arguments (-machine none
    // ...). Target::listen_timeout is left at its default for the tool to set.
    // \throws UsageError for more than one of ADDRESS, --listen, --fd and --launch (or "--"), an
    // --fd that is not a file descriptor number, or no way in at all without launch_by_default.
    Target target(bool launch_by_default = false) const;

    // The error for what getopt_long returned '?' or ':' for: "unknown option or missing
    // value: -x" for a short option, the argument as typed for a long one.
    UsageError unknown_option() const;

private:
    std::vector<char*> tool_; // ends with nullptr: getopt wants argv[argc] == nullptr
    std::vector<std::string> qemu_;
    bool has_qemu_arguments_ = false; // a "--" was present, even with nothing after it
};

// The help text paragraph both tools print about addresses, --listen, --fd and --launch.
extern const char* const target_help;

} // namespace qmp_tools
