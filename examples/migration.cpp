// SPDX-License-Identifier: MIT
// A live migration between two disposable QEMUs over a unix socket, waited for on both sides
// by the status in the MIGRATION event.
//
//     ./example_migration
#include <qmp/qmp.hpp>

#include <chrono>
#include <iostream>
#include <string>

using namespace std::chrono_literals;
using qmp::json;

int main()
{
    try {
        qmp::Machine source_vm; // qemu-system-x86_64 -machine none: no guest, TCG
        qmp::MachineOptions incoming;
        incoming.args.insert(incoming.args.end(), {"-incoming", "defer"});
        qmp::Machine destination_vm(incoming);
        qmp::Client& source = source_vm.start();
        qmp::Client& destination = destination_vm.start();

        // MIGRATION events on both sides.
        const json events = {{"capabilities", {{{"capability", "events"}, {"state", true}}}}};
        source.execute("migrate-set-capabilities", events);
        destination.execute("migrate-set-capabilities", events);

        // [snippet migration]
        const qmp::EventMatch completed{"MIGRATION", {{"status", "completed"}}};
        const std::string uri = "unix:" + destination_vm.directory() + "/migration.sock";
        // The destination's listener exists before anything can happen: nothing is missed.
        qmp::EventQueue arrived = destination.listen(completed);
        destination.execute("migrate-incoming", {{"uri", uri}});

        // Sends "migrate" and waits for MIGRATION with status "completed" (setup, active and
        // any other status are skipped), all within 60 s.
        const qmp::Event sent = source.execute_and_wait("migrate", {{"uri", uri}}, completed, 60s);
        std::cout << "source: migration " << sent.data["status"].get<std::string>() << '\n';
        // [end]

        const auto received = arrived.pop(60s);
        if (!received) {
            std::cerr << "the destination reported no completed migration within 60 s\n";
            return 1;
        }
        std::cout << "destination: migration " << received->data["status"].get<std::string>()
                  << ", now " << destination.execute("query-status")["status"].get<std::string>()
                  << '\n';
        destination_vm.shutdown();
        source_vm.shutdown();
        return 0;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << '\n';
    }
    return 1;
}
