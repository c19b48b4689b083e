// SPDX-License-Identifier: MIT
// qmp-demo: starts a disposable QEMU, runs a few commands on it and prints the replies and the
// events they cause. The quick start's first command runs it.
#include <cstdlib>
#include <iostream>

#include <qmp/qmp.hpp>

namespace {

void show(const std::string& what, const qmp::json& value)
{
    std::cout << "<- " << what << ": " << value.dump() << "\n";
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
        std::cout << "started " << options.binary << " (pid " << vm.pid() << "), monitor at "
                  << vm.socket_path() << "\n";
        show("greeting", client.greeting().raw);
        show("query-version", client.execute("query-version"));
        show("query-status", client.execute("query-status"));
        show("stop", client.execute("stop"));
        std::cout << "event: " << client.events().pop(std::chrono::seconds(5))->raw.dump() << "\n";
        show("cont", client.execute("cont"));
        std::cout << "event: " << client.events().pop(std::chrono::seconds(5))->raw.dump() << "\n";
        try {
            client.execute("query-statsu");
        } catch (const qmp::ExecuteError& e) {
            std::cout << "<- query-statsu: " << e.error_class() << ": " << e.description() << "\n";
        }
        const int status = vm.shutdown();
        std::cout << "quit: QEMU exited with status " << WEXITSTATUS(status) << "\n";
        return EXIT_SUCCESS;
    } catch (const qmp::Error& e) {
        std::cerr << "qmp-demo: " << e.what() << "\n";
        return EXIT_FAILURE;
    }
}
