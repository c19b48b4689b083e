// SPDX-License-Identifier: MIT
// ClientOptions::reconnect: when QEMU goes away and comes back on the same socket, the client
// reconnects by itself. A fake QEMU (qmp::testing::FakeQemu) plays that QEMU: it hangs up on
// demand and, like a restarted QEMU, accepts the next connection.
#include <atomic>
#include <chrono>
#include <iostream>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>

int main()
{
    try {
        qmp::testing::FakeQemu fake;
        fake.on("query-status").reply({{"status", "running"}, {"running", true}});
        std::atomic<int> reconnections{0}; // outlives the client, whose thread counts

        // [snippet reconnect]
        qmp::ClientOptions options;
        options.reconnect = true; // after an unexpected end, reconnect by itself
        options.reconnect_delay = std::chrono::milliseconds(100); // first pause, doubled after
        options.reconnect_max_delay = std::chrono::seconds(5); // each failure, up to this
        options.on_state_change = [&reconnections](qmp::ConnectionState state) { // every change
            if (state == qmp::ConnectionState::reconnecting) {
                std::cerr << "QEMU went away; reconnecting\n";
                ++reconnections;
            }
        };
        qmp::Client client{options};
        client.connect(fake.address());

        fake.hang_up(); // QEMU goes away; the fake, like a restarted QEMU, takes the next client
        // Wait until the client is back, so that the next call is not one in flight when the
        // session ended (that would fail with DisconnectedError: whether it ran is unknown).
        fake.wait_for_connections(2, std::chrono::seconds(5));
        client.execute("query-status"); // waits for the new session (negotiation) if need be
        // state(): disconnected, connecting, connected or reconnecting
        bool connected = client.state() == qmp::ConnectionState::connected;
        client.disconnect(); // stops reconnecting
        // [end]

        if (!connected || reconnections != 1 || fake.connections() != 2) {
            std::cerr << "expected one reconnection, got " << reconnections << " and "
                      << fake.connections() << " connections\n";
            return 1;
        }
        std::cout << "reconnected once\n";
        return 0;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
