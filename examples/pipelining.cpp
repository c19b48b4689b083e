// SPDX-License-Identifier: MIT
// Many commands in flight from one thread: execute_async() sends and returns at once, get()
// collects each reply (or throws what execute() would).
#include <chrono>
#include <iostream>
#include <vector>

#include <qmp/qmp.hpp>

int main()
{
    try {
        qmp::Machine vm;
        qmp::Client& client = vm.start();

        // [snippet pipelining]
        std::vector<qmp::PendingReply> replies;
        for (const char* option : {"chardev", "drive", "machine", "no-such-option"})
            replies.push_back(
                client.execute_async("query-command-line-options", {{"option", option}}));
        for (qmp::PendingReply& reply : replies) {
            try {
                qmp::json options = reply.get(); // waits for this reply, within its timeout
                std::cout << options[0]["option"].get<std::string>() << ": "
                          << options[0]["parameters"].size() << " parameters\n";
            } catch (const qmp::ExecuteError& e) { // QEMU said no; the client is still usable
                std::cout << reply.command() << ": " << e.error_class() << ": " << e.description()
                          << "\n";
            }
        }
        qmp::PendingReply abandoned = client.execute_async("query-block");
        abandoned.cancel(); // or let it go out of scope: its late reply is dropped quietly
        // [end]

        // [snippet raw and oob]
        // A whole message as given; the whole reply back, error replies included (not thrown).
        qmp::json reply = client.execute_raw({{"execute", "query-status"}, {"id", "mine"}});
        std::cout << reply.dump() << "\n";

        // Out-of-band: overtakes in-band commands, even while QEMU's main loop is blocked.
        qmp::ExecOptions oob;
        oob.oob = true;
        oob.timeout = std::chrono::seconds(2);
        std::cout << client.execute("query-yank", {}, oob).dump() << "\n";
        // [end]
        vm.shutdown();
        return 0;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
