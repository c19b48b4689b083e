// SPDX-License-Identifier: MIT
// QEMU's command line for a Machine: the program found in PATH, the monitor's options, and the
// whole line quoted for error messages. Built before fork(), since the child must not allocate.
#pragma once

#include <string>
#include <vector>

namespace qmp {
struct MachineOptions;
}

namespace qmp::detail {

/// Resolves \p program through PATH as execvp() would, but in the parent: execvp() may
/// allocate, and a clear "not found" error is better than a child that exits 127. A name with a
/// '/' is returned as it is.
/// \throws UsageError if \p program is empty, ConnectError (with a hint at the Debian package
/// that provides it) if it is not found.
std::string find_program(const std::string& program);

/// \throws ConnectError if \p socket_path does not fit in a unix socket address.
void require_fits_sun_path(const std::string& socket_path);

/// Where QEMU's monitor is: a unix socket QEMU listens on, or a connected socket it inherits.
struct MonitorEndpoint {
    std::string socket_path; ///< `path=...,server=on,wait=off` when not empty
    int fd = -1; ///< else `fd=N`
};

/// \p program, MachineOptions::args, then a QMP monitor on \p monitor: `-chardev ... -mon`
/// for qemu-system-*, `--chardev ... --monitor` for a binary named like qemu-storage-daemon.
std::vector<std::string> qemu_command(
    const std::string& program, const MachineOptions& options, const MonitorEndpoint& monitor);

/// \p command as text that can be pasted into a shell.
std::string command_line_text(const std::vector<std::string>& command);

} // namespace qmp::detail
