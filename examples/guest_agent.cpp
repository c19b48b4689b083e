// SPDX-License-Identifier: MIT
// Talking to the QEMU guest agent. In a VM the agent listens on the host side of the guest's
// virtio-serial channel; here, so that the program runs without a guest, Debian's qemu-ga runs
// on this host in a private directory (`qemu-ga --method=unix-listen`), and only harmless
// commands are sent to it: nothing that shuts down, freezes or writes.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <qmp/qmp.hpp>

namespace {

// Starts qemu-ga listening on DIR/qga.sock; \returns its pid, or -1.
pid_t start_qemu_ga(const std::string& dir, const std::string& socket)
{
    const pid_t pid = ::fork();
    if (pid == 0) {
        const std::string path = "--path=" + socket, state = "--statedir=" + dir;
        ::execl("/usr/sbin/qemu-ga", "qemu-ga", "--method=unix-listen", path.c_str(), state.c_str(),
            static_cast<char*>(nullptr));
        ::_exit(127); // not installed: Debian's package is qemu-guest-agent
    }
    return pid;
}

} // namespace

int main()
{
    char dir_template[] = "/tmp/qmp-example-XXXXXX";
    const char* dir = ::mkdtemp(dir_template);
    if (dir == nullptr)
        return 1;
    const std::string socket = std::string(dir) + "/qga.sock";
    const pid_t qemu_ga = start_qemu_ga(dir, socket);
    int status = 1;
    for (int i = 0; i < 1000 && !std::filesystem::exists(socket); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10)); // qemu-ga creates it
    try {
        // [snippet guest agent]
        qmp::GuestAgentOptions options;
        options.connect_timeout = std::chrono::seconds(5); // reach it and synchronise
        qmp::GuestAgent agent{options};
        agent.connect("unix:" + socket); // synchronised (0xFF, guest-sync-delimited) on return

        qmp::json info = agent.execute("guest-info");
        std::cout << "qemu-ga " << info["version"].get<std::string>() << ", "
                  << info["supported_commands"].size() << " commands\n";
        qmp::json host = agent.execute("guest-get-host-name");
        std::cout << "host name: " << host["host-name"].get<std::string>() << "\n";
        std::cout << "answering: " << std::boolalpha << agent.ping(std::chrono::seconds(1))
                  << "\n"; // false, never an exception, when no agent answers
        try {
            agent.execute("guest-no-such-command");
        } catch (const qmp::ExecuteError& e) { // the agent said no; the client stays usable
            std::cout << e.error_class() << ": " << e.description() << "\n";
        }
        agent.disconnect();
        // [end]
        status = 0;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
    }
    if (qemu_ga > 0) {
        ::kill(qemu_ga, SIGTERM); // only the qemu-ga this program started
        ::waitpid(qemu_ga, nullptr, 0);
    }
    std::filesystem::remove_all(dir);
    return status;
}
