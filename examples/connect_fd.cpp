// SPDX-License-Identifier: MIT
// A socket you connected yourself, handed to the client with connect_fd(): one end of a socket
// pair. A real QEMU would inherit the other end as its monitor (qmp::Machine does just that);
// here a fake QEMU (qmp::testing::FakeQemu) serves it, so that the program can check what
// arrived.
#include <fcntl.h>
#include <iostream>
#include <sys/socket.h>
#include <unistd.h>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>

int main()
{
    try {
        qmp::testing::FakeQemu fake;
        fake.on("query-status").reply({{"status", "running"}, {"running", true}});
        fake.on("getfd", {{"fdname", "x"}}).reply(qmp::json::object());
        qmp::Client client;
        int some_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC); // any descriptor to pass
        if (some_fd < 0)
            return 1;

        // [snippet connect fd]
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            return 1;
        // A real QEMU would inherit sv[1] (FD_CLOEXEC cleared in the child; qmp::Machine marks
        // inherited descriptors close-on-exec), and the parent close(sv[1]) once it is started:
        //   qemu-system-x86_64 ... -chardev socket,id=mon0,fd=<sv[1]>
        //                          -mon chardev=mon0,mode=control
        fake.serve_connection(sv[1]); // here the fake QEMU serves it, and owns it from now on
        client.connect_fd(sv[0]); // the client owns sv[0] from here on, even if this throws
        std::cout << client.address() << ": " << client.execute("query-status")["status"] << "\n";
        client.execute_with_fd("getfd", {{"fdname", "x"}}, some_fd); // fd passing: unix sockets
        // [end]
        ::close(some_fd); // QEMU got a duplicate
        client.disconnect(); // closes sv[0]

        if (fake.received("getfd").size() != 1 || !fake.unexpected().empty()) {
            std::cerr << "the fake QEMU did not get what was sent: "
                      << qmp::json(fake.unexpected()).dump() << "\n";
            return 1;
        }
        return 0;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
