// SPDX-License-Identifier: MIT
// A disposable QEMU with qmp::Machine: start it, talk to it, shut it down. Nothing is left
// behind, however the program ends: no process, no socket, no temporary directory.
#include <cstdlib>
#include <iostream>
#include <sys/wait.h>

#include <qmp/qmp.hpp>

int main()
{
    try {
        // [snippet machine]
        qmp::Machine vm; // qemu-system-x86_64 -machine none -nodefaults -display none
        qmp::Client& client = vm.start(); // monitor on a socket pair, in a private 0700 directory
        qmp::json version = client.execute("query-version");
        std::cout << "QEMU " << version["qemu"]["major"] << "." << version["qemu"]["minor"]
                  << " (pid " << vm.pid() << ", files in " << vm.directory() << ")\n";
        client.execute("stop");
        std::cout << "status: " << client.execute("query-status")["status"].get<std::string>()
                  << "\n";
        int status =
            vm.shutdown(); // quit, then SIGTERM, then SIGKILL; reaps, removes the directory
        // [end]
        std::cout << "QEMU exited with status " << WEXITSTATUS(status) << "\n";

        // [snippet storage daemon]
        qmp::Machine daemon{qmp::MachineOptions::storage_daemon()}; // qemu-storage-daemon
        daemon.start().execute(
            "blockdev-add", {{"driver", "null-co"}, {"node-name", "null0"}, {"size", 1 << 20}});
        std::cout << daemon.client().execute("query-named-block-nodes").size()
                  << " block node(s)\n";
        // [end]
        return 0;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
