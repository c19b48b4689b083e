// SPDX-License-Identifier: MIT
// Logging: qmp logs only into the spdlog logger you give it. At trace level that is all traffic,
// with secrets redacted. The program keeps a copy of the log to check both.
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <qmp/qmp.hpp>

int main()
{
    try {
        qmp::MachineOptions machine;
        qmp::ClientOptions& options = machine.client; // the options of the machine's client

        // [snippet logging]
        auto logger = spdlog::stderr_color_mt("qmp");
        logger->set_level(spdlog::level::trace);
        options.logger = logger;
        // [end]
        // A second sink, before any thread logs: the copy of the log this program checks.
        std::ostringstream copy;
        logger->sinks().push_back(std::make_shared<spdlog::sinks::ostream_sink_mt>(copy));

        qmp::Machine vm{machine};
        qmp::Client& client = vm.start();
        client.execute("query-status");
        client.execute("object-add", {{"qom-type", "secret"}, {"id", "sec0"}, {"data", "hunter2"}});
        vm.shutdown();

        const std::string log = copy.str();
        if (log.find(R"(--> {"execute":"query-status")") == std::string::npos ||
            log.find(R"("data":"<redacted>")") == std::string::npos ||
            log.find("hunter2") != std::string::npos) {
            std::cerr << "the log lacks the traffic, or shows the secret\n";
            return 1;
        }
        std::cout << "the log shows the traffic, and no secret\n";
        return 0;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
