// SPDX-License-Identifier: MIT
// Uses qmp-testing (dependency('qmp-testing') or pkg-config qmp-testing): a scripted fake QEMU
// answers a qmp::Client, and refuses what QEMU 7.2's schema would.
#include <iostream>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>

int main()
{
    try {
        qmp::testing::FakeQemu fake;
        fake.on("query-status").reply({{"status", "running"}, {"running", true}});
        fake.on("stop").emit("STOP").reply(qmp::json::object());
        qmp::Client client;
        client.connect(fake.address());
        const qmp::json status = client.execute("query-status");
        client.execute_and_wait("stop", {}, "STOP", std::chrono::seconds(5));
        if (status.at("status") != "running" || fake.received("stop").size() != 1 ||
            !fake.unexpected().empty()) {
            std::cerr << "consumer: the fake did not answer as scripted\n";
            return 1;
        }
        std::cout << "consumer: fake QEMU status " << status.at("status").get<std::string>()
                  << "\n";
        return 0;
    } catch (const qmp::Error& e) {
        std::cerr << "consumer: " << e.what() << "\n";
        return 1;
    }
}
