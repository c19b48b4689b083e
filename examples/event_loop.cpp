// SPDX-License-Identifier: MIT
// An event loop that polls Client::events(): every event, in order, with a timeout so the loop
// can do other work between events.
#include <chrono>
#include <iostream>
#include <optional>

#include <qmp/qmp.hpp>

int main()
{
    try {
        qmp::Machine vm;
        qmp::Client& client = vm.start();
        client.execute("stop");
        client.execute("cont");
        client.execute("stop");

        // [snippet event loop]
        int stops = 0;
        while (stops < 2) {
            // Waits at most 200 ms; pop() without a timeout blocks, try_pop() never does.
            std::optional<qmp::Event> event = client.events().pop(std::chrono::milliseconds(200));
            if (!event) {
                std::cout << "no event for 200 ms; doing other work\n";
                continue;
            }
            // name, data (null when absent), timestamp (system_clock), raw (the whole message)
            std::cout << event->name << " " << event->data.dump() << "\n";
            if (event->name == "STOP")
                ++stops;
        }
        std::cout << client.events().dropped() << " events dropped (queue full)\n";
        // [end]
        vm.shutdown();
        return 0;
    } catch (const qmp::DisconnectedError& e) {
        // The connection ended: pop() returned every event received before, then threw.
        std::cerr << e.what() << "\n";
        return 1;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
