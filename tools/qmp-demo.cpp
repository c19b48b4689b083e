// SPDX-License-Identifier: MIT
// qmp-demo: starts a disposable QEMU, runs a few commands on it and prints the replies and the
// events they cause. The quick start's first command runs it.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include <sys/wait.h>

#include <qmp/qmp.hpp>

namespace {

void show(const std::string& what, const qmp::json& value)
{
    std::cout << "<- " << what << ": " << value.dump() << "\n";
}

// Prints the next event, or says that none came in time: a QEMU started paused (-S), for
// instance, sends no STOP when asked to stop.
void show_next_event(qmp::Client& client, const std::string& expected)
{
    constexpr std::chrono::seconds timeout{5};
    const std::optional<qmp::Event> event = client.events().pop(timeout);
    if (event)
        std::cout << "event: " << event->raw.dump() << "\n";
    else
        std::cout << "event: none within " << timeout.count() << " s (expected " << expected
                  << ")\n";
}

std::string describe_exit(int status)
{
    if (status == -1)
        return "QEMU could not be reaped in time";
    if (WIFEXITED(status))
        return "QEMU exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "QEMU was killed by signal " + std::to_string(WTERMSIG(status));
    return "QEMU ended with wait status " + std::to_string(status);
}

} // namespace

int main(int argc, char** argv)
{
    qmp::MachineOptions options;
    if (argc > 1)
        options.binary = argv[1];
    try {
        qmp::Machine vm(options);
        qmp::Client& client = vm.start();
        std::cout << "started " << options.binary << " (pid " << vm.pid() << "), monitor on "
                  << client.address() << "\n";
        show("greeting", client.greeting().raw);
        show("query-version", client.execute("query-version"));
        show("query-status", client.execute("query-status"));
        show("stop", client.execute("stop"));
        show_next_event(client, "STOP");
        show("cont", client.execute("cont"));
        show_next_event(client, "RESUME");
        try {
            client.execute("query-statsu");
        } catch (const qmp::ExecuteError& e) {
            std::cout << "<- query-statsu: " << e.error_class() << ": " << e.description() << "\n";
        }
        const int status = vm.shutdown();
        std::cout << "quit: " << describe_exit(status) << "\n";
        return EXIT_SUCCESS;
    } catch (const qmp::Error& e) {
        std::cerr << "qmp-demo: " << e.what() << "\n";
        return EXIT_FAILURE;
    }
}
