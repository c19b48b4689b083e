// SPDX-License-Identifier: MIT
// Connecting to a QEMU's monitor socket, running commands, handling QEMU's refusals. The QEMU
// here is a disposable one listening on a unix socket, as a QEMU started by someone else would
// (-qmp unix:PATH,server=on,wait=off).
#include <chrono>
#include <iostream>
#include <string>

#include <qmp/qmp.hpp>

int main()
{
    try {
        qmp::MachineOptions listening;
        listening.monitor = qmp::MachineOptions::Monitor::socket_path;
        qmp::Machine vm{listening};
        vm.start();
        vm.client().disconnect(); // QMP serves one client at a time: make room for ours
        const std::string socket = vm.socket_path();

        // [snippet connect]
        qmp::ClientOptions options;
        options.connect_timeout = std::chrono::seconds(2);
        qmp::Client client{options}; // nonsensical options: UsageError here

        client.connect(socket); // a path, or "unix:/path", "tcp:127.0.0.1:4444", "[::1]:4444"
        qmp::Greeting greeting = client.greeting(); // version, capabilities, oob_enabled, raw
        std::cout << "QEMU " << greeting.version.major << "." << greeting.version.minor << "."
                  << greeting.version.micro << " " << greeting.version.package << "\n";

        qmp::json status = client.execute("query-status"); // the reply's "return" member
        std::cout << "running: " << status["running"] << "\n";
        qmp::json type = client.execute("qom-get", {{"path", "/machine"}, {"property", "type"}},
            std::chrono::seconds(2)); // a timeout of its own; qmp::wait_forever: none
        std::cout << "machine type: " << type.get<std::string>() << "\n";
        try {
            client.execute("query-statsu");
        } catch (const qmp::ExecuteError& e) { // QEMU said no; the client stays usable
            std::cout << e.error_class() << ": " << e.description() << "\n";
        }
        client.disconnect(); // wakes every waiter; connect() may start a new session
        // [end]

        vm.client().connect(socket);
        vm.shutdown();
        return 0;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
