// SPDX-License-Identifier: MIT
// Passing file descriptors to QEMU (SCM_RIGHTS over the monitor's unix socket): getfd names one
// for later commands, add-fd puts one into an fd set (/dev/fdset/N for file names).
#include <fcntl.h>
#include <iostream>
#include <string>
#include <unistd.h>

#include <qmp/qmp.hpp>

int main()
{
    try {
        qmp::Machine vm;
        qmp::Client& client = vm.start();
        const std::string path = vm.directory() + "/disk.img"; // removed with the machine

        // [snippet pass fd]
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return 1;
        // QEMU gets a duplicate; we keep ours (and close it).
        qmp::json added = client.execute_with_fd("add-fd", {{"fdset-id", 1}}, fd);
        std::cout << "QEMU's fd " << added["fd"] << " in fd set " << added["fdset-id"] << "\n";
        std::cout << client.execute("query-fdsets").dump() << "\n";

        client.execute_with_fd("getfd", {{"fdname", "log"}}, fd); // a named fd, for e.g. migrate
        client.execute("closefd", {{"fdname", "log"}});
        ::close(fd);
        // [end]
        vm.shutdown();
        return 0;
    } catch (const qmp::UsageError& e) { // e.g. fd passing over TCP
        std::cerr << e.what() << "\n";
        return 1;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
