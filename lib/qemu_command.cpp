// SPDX-License-Identifier: MIT
#include "qemu_command.hpp"

#include <qmp/error.hpp>
#include <qmp/machine.hpp>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <utility>

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace qmp::detail {

namespace {

bool is_executable_file(const std::string& path)
{
    struct stat info { };
    return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        ::access(path.c_str(), X_OK) == 0;
}

// The Debian package that provides \p program, as a hint for people who lack it.
std::string install_hint(const std::string& program)
{
    static const std::pair<const char*, const char*> packages[] = {
        {"qemu-system-x86_64", "qemu-system-x86"},
        {"qemu-system-i386", "qemu-system-x86"},
        {"qemu-system-aarch64", "qemu-system-arm"},
        {"qemu-system-arm", "qemu-system-arm"},
        {"qemu-storage-daemon", "qemu-system-common"},
        {"qemu-img", "qemu-utils"},
        {"qemu-ga", "qemu-guest-agent"},
    };
    for (const auto& [name, package] : packages)
        if (program == name)
            return std::string("; install Debian's ") + package;
    if (program.rfind("qemu-system-", 0) == 0)
        return "; install Debian's qemu-system package for that architecture";
    return "";
}

std::string basename_of(const std::string& path)
{
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool is_storage_daemon(const std::string& binary)
{
    return basename_of(binary).find("storage-daemon") != std::string::npos;
}

// QEMU's option parser splits on ',' and reads ",," as a literal comma.
std::string escape_qemu_option_value(const std::string& value)
{
    std::string escaped;
    for (const char c : value) {
        escaped += c;
        if (c == ',')
            escaped += ',';
    }
    return escaped;
}

// Quotes an argument so that the command line in an error message can be pasted into a shell.
std::string shell_quote(const std::string& arg)
{
    const bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            std::string_view("_-+=:,./@%").find(c) != std::string_view::npos;
    });
    if (plain)
        return arg;
    std::string quoted = "'";
    for (const char c : arg) {
        if (c == '\'')
            quoted += "'\\''";
        else
            quoted += c;
    }
    return quoted + "'";
}

} // namespace

std::string find_program(const std::string& program)
{
    if (program.empty())
        throw UsageError("qmp: MachineOptions::binary is empty");
    if (program.find('/') != std::string::npos)
        return program;
    const char* path_variable = std::getenv("PATH");
    const std::string search_path = path_variable ? path_variable : "/usr/local/bin:/usr/bin:/bin";
    std::size_t begin = 0;
    for (;;) {
        const std::size_t end = std::min(search_path.find(':', begin), search_path.size());
        std::string directory = search_path.substr(begin, end - begin);
        if (directory.empty())
            directory = "."; // an empty PATH entry means the current directory
        const std::string candidate = directory + "/" + program;
        if (is_executable_file(candidate))
            return candidate;
        if (end == search_path.size())
            break;
        begin = end + 1;
    }
    throw ConnectError("qmp: cannot find '" + program + "' in PATH" + install_hint(program));
}

void require_fits_sun_path(const std::string& socket_path)
{
    constexpr std::size_t capacity = sizeof(sockaddr_un::sun_path);
    if (socket_path.size() >= capacity)
        throw ConnectError("qmp: the monitor socket path '" + socket_path + "' is too long for a " +
            "unix socket (" + std::to_string(socket_path.size()) + " bytes, at most " +
            std::to_string(capacity - 1) + "); set TMPDIR to a shorter directory");
}

std::vector<std::string> qemu_command(
    const std::string& program, const MachineOptions& options, const MonitorEndpoint& monitor)
{
    std::vector<std::string> command{program};
    command.insert(command.end(), options.args.begin(), options.args.end());
    const std::string chardev = monitor.socket_path.empty()
        ? "socket,id=qmp0,fd=" + std::to_string(monitor.fd)
        : "socket,id=qmp0,path=" + escape_qemu_option_value(monitor.socket_path) +
            ",server=on,wait=off";
    if (is_storage_daemon(options.binary)) {
        command.insert(command.end(), {"--chardev", chardev, "--monitor", "chardev=qmp0"});
    } else {
        command.insert(command.end(), {"-chardev", chardev, "-mon", "chardev=qmp0,mode=control"});
    }
    return command;
}

std::string command_line_text(const std::vector<std::string>& command)
{
    std::string text;
    for (const auto& arg : command) {
        if (!text.empty())
            text += ' ';
        text += shell_quote(arg);
    }
    return text;
}

} // namespace qmp::detail
