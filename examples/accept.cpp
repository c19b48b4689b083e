// SPDX-License-Identifier: MIT
// QEMU connecting to you: its monitor is the connecting side of a socket (server=off), and this
// program listens with a qmp::Server and accept()s. With reconnect=1 QEMU connects again about a
// second after the connection ends, so a later accept() gets it back.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <unistd.h>

#include <qmp/qmp.hpp>

int main()
{
    // A private directory for the socket: the Server removes its socket file, we the directory.
    char dir[] = "/tmp/qmp-accept-XXXXXX";
    if (!::mkdtemp(dir)) {
        std::perror("mkdtemp");
        return 1;
    }
    const std::string path = std::string(dir) + "/qmp.sock";
    int result = 0;
    try {
        // [snippet accept]
        qmp::ServerOptions who;
        who.peer_uid = getuid(); // optional: refuse other users (or peer_pid)
        qmp::Server server{"unix:" + path, who}; // listens now; file mode 0600, ~Server removes it

        // A disposable QEMU with a second monitor (beside the machine's own) that connects to us:
        qmp::MachineOptions qemu;
        qemu.args.insert(qemu.args.end(),
            {"-chardev", "socket,id=mon0,path=" + path + ",server=off,reconnect=1", "-mon",
                "chardev=mon0,mode=control"});
        qmp::Machine vm{qemu};
        vm.start();

        qmp::Client client;
        client.accept(server, std::chrono::seconds(10)); // QEMU connects; greeting, negotiation
        std::cout << client.address() << ": " << client.execute("query-status")["status"] << "\n";
        client.disconnect();
        client.accept(server, std::chrono::seconds(10)); // QEMU's reconnect=1 comes back after ~1 s
        // [end]
        if (client.execute("query-status")["status"] != "running") {
            std::cerr << "QEMU is not running after it connected again\n";
            result = 1;
        }
        vm.shutdown(); // through the machine's own monitor
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
        result = 1;
    }
    ::rmdir(dir);
    return result;
}
