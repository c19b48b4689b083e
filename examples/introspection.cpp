// SPDX-License-Identifier: MIT
// Introspection: what the QEMU at the other end understands (query-qmp-schema, as a qmp::Schema),
// and ClientOptions::check_commands, which refuses unknown command names without a round trip.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <qmp/qmp.hpp>

int main()
{
    try {
        qmp::MachineOptions machine;
        qmp::ClientOptions& options = machine.client; // the options of the machine's client

        // [snippet introspection]
        options.check_commands = true; // unknown names fail at once, no round trip
        qmp::Machine vm{machine};
        qmp::Client& client = vm.start();

        std::shared_ptr<const qmp::Schema> schema = client.schema(); // fetched once per connection
        std::cout << "blockdev-add: " << schema->has_command("blockdev-add") << "\n";
        std::vector<std::string> arguments = schema->command_arguments("qom-get"); // path, property
        std::cout << schema->commands().size() << " commands, " << schema->events().size()
                  << " events\n"; // sorted names: {"ACPI_DEVICE_OST", ...}
        try {
            client.execute("query-statsu");
        } catch (const qmp::ExecuteError& e) {
            // CommandNotFound: unknown command 'query-statsu'; did you mean 'query-status'?
            std::cout << e.error_class() << ": " << e.description() << "\n";
        }
        // [end]

        const std::vector<std::string> expected{"path", "property"};
        if (!schema->has_command("blockdev-add") || arguments != expected ||
            !schema->has_event("STOP")) {
            std::cerr << "unexpected schema\n";
            return 1;
        }
        try { // the refusal above, checked: CommandNotFound, with the suggestion
            client.execute("query-statsu");
            std::cerr << "query-statsu was not refused\n";
            return 1;
        } catch (const qmp::ExecuteError& e) {
            if (e.error_class() != "CommandNotFound" ||
                e.description().find("did you mean 'query-status'") == std::string::npos) {
                std::cerr << "unexpected refusal: " << e.what() << "\n";
                return 1;
            }
        }
        vm.shutdown();
        return 0;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
