// SPDX-License-Identifier: MIT
// Phase 5: connect + greeting + capabilities negotiation + disconnect, one after another.
#include <vector>

#include <qmp/client.hpp>

#include "baseline_client.hpp"
#include "phases.hpp"
#include "stats.hpp"

namespace bench {

void run_connect(const Peer& peer, const Scale& scale, Report& report)
{
    qmp::Client library; // one Client reconnected each time, as a long-lived program would
    std::vector<double> library_us, baseline_us;
    for (int round = 0; round < scale.rounds; ++round) {
        for (int i = 0; i < scale.connects; ++i) {
            const auto start = Clock::now();
            library.connect(peer.library_socket);
            library.disconnect();
            library_us.push_back(seconds_since(start) * 1e6);
        }
        for (int i = 0; i < scale.connects; ++i) {
            const auto start = Clock::now();
            BaselineClient baseline;
            baseline.connect(peer.baseline_socket);
            baseline.close();
            baseline_us.push_back(seconds_since(start) * 1e6);
        }
    }
    report.add({"5 connect+negotiate+disconnect", peer.name, "us", median(library_us),
        median(baseline_us), peer.is_fake ? Goal::none : Goal::at_most, 1.10,
        "lib wakes its parked reader, waits for it to let go", ""});
}

} // namespace bench
