// SPDX-License-Identifier: MIT
// Phase 3: query-qmp-schema (about 207 KB from QEMU 7.2), received and parsed, against
// nlohmann::json::parse of the very same bytes alone.
#include <string>
#include <vector>

#include <qmp/client.hpp>

#include "baseline_client.hpp"
#include "phases.hpp"
#include "stats.hpp"

namespace bench {

void run_schema(const Peer& peer, const Scale& scale, Report& report)
{
    qmp::Client library;
    library.connect(peer.library_socket);
    BaselineClient baseline;
    baseline.connect(peer.baseline_socket);

    // The bytes both clients receive, kept for the parse-alone figure.
    baseline.send("query-qmp-schema");
    const std::string bytes(baseline.read_raw_message());
    library.execute("query-qmp-schema");

    std::vector<double> library_ms, baseline_ms, parse_ms;
    long library_faults = 0, baseline_faults = 0, library_switches = 0, baseline_switches = 0;
    // Each side's reply is freed (untimed) before the next side runs, so that each starts from
    // a heap that has just taken back a tree of the same size, and none runs while another
    // side's 100,000-node tree is still alive.
    const auto timed = [](auto&& receive, std::vector<double>& ms, long& faults, long& switches) {
        const long faults_before = minor_faults(), switches_before = context_switches();
        const auto start = Clock::now();
        const qmp::json tree = receive();
        ms.push_back(seconds_since(start) * 1e3);
        faults += minor_faults() - faults_before;
        switches += context_switches() - switches_before;
    };
    long parse_faults = 0, parse_switches = 0;
    for (int round = 0; round < scale.rounds; ++round) {
        for (int i = 0; i < scale.schema_calls; ++i) {
            timed([&] { return library.execute("query-qmp-schema"); }, library_ms, library_faults,
                library_switches);
            timed([&] { return baseline.execute("query-qmp-schema"); }, baseline_ms,
                baseline_faults, baseline_switches);
            timed([&] { return qmp::json::parse(bytes); }, parse_ms, parse_faults, parse_switches);
        }
    }
    const std::string size = std::to_string(bytes.size() / 1024) + " KB";
    const long calls = static_cast<long>(library_ms.size());
    report.add({"3 schema page faults per call", peer.name, "faults",
        static_cast<double>(library_faults) / calls, static_cast<double>(baseline_faults) / calls,
        Goal::none, 0, "minor faults while receiving+parsing", ""});
    report.add({"3 schema context switches/call", peer.name, "csw",
        static_cast<double>(library_switches) / calls,
        static_cast<double>(baseline_switches) / calls, Goal::none, 0, "all threads", ""});
    report.add({"3 schema receive+parse", peer.name, "ms", median(library_ms), median(baseline_ms),
        Goal::at_most, 1.15, size + " reply; base: execute()", ""});
    report.add({"3 schema vs parse alone", peer.name, "ms", median(library_ms), median(parse_ms),
        Goal::none, 0, "baseline column: json::parse of the same bytes", ""});
}

} // namespace bench
