// SPDX-License-Identifier: MIT
// Phase 3: query-qmp-schema (about 207 KB from QEMU 7.2), received and parsed, against
// nlohmann::json::parse of the very same bytes alone.
//
// Measured twice. Pinned (the target row): both clients' threads are pinned to one CPU, the
// library's reader included, taking each CPU in turn, so that both sides parse on the same CPU.
// On this shared machine one vCPU was seen running 1.5-1.65x slower than the other for minutes;
// unpinned, the scheduler may wake the library's caller on the slow one and the baseline on the
// fast one, and the ratio then says where the threads ran, not what the library costs. Unpinned
// (for information): as the scheduler places them.
#include <sched.h>

#include <string>
#include <thread>
#include <vector>

#include <qmp/client.hpp>

#include "baseline_client.hpp"
#include "phases.hpp"
#include "stats.hpp"

namespace bench {

namespace {

struct Samples {
    std::vector<double> library_ms, baseline_ms, parse_ms;
    long library_faults = 0, baseline_faults = 0, parse_faults = 0;
    long library_switches = 0, baseline_switches = 0, parse_switches = 0;
};

// Runs \p receive, adding its time, page faults and context switches to the figures given.
// The tree it returns is freed after the clock stopped, before the next side runs: each side
// starts from a heap that has just taken back a tree of the same size, and none runs while
// another side's 100,000-node tree is still alive.
template <typename Receive>
void timed(Receive&& receive, std::vector<double>& ms, long& faults, long& switches)
{
    const long faults_before = minor_faults(), switches_before = context_switches();
    const auto start = Clock::now();
    const qmp::json tree = receive();
    ms.push_back(seconds_since(start) * 1e3);
    faults += minor_faults() - faults_before;
    switches += context_switches() - switches_before;
}

// \p calls alternations of library, baseline and parse alone, on connections made here (so that
// the library's reader thread inherits the calling thread's CPU affinity).
void measure(const Peer& peer, const std::string& bytes, int calls, Samples& s)
{
    qmp::Client library;
    library.connect(peer.library_socket);
    BaselineClient baseline;
    baseline.connect(peer.baseline_socket);
    library.execute("query-qmp-schema"); // warm-up, untimed
    baseline.execute("query-qmp-schema");
    const auto library_call = [&] {
        timed([&] { return library.execute("query-qmp-schema"); }, s.library_ms, s.library_faults,
            s.library_switches);
    };
    const auto baseline_call = [&] {
        timed([&] { return baseline.execute("query-qmp-schema"); }, s.baseline_ms,
            s.baseline_faults, s.baseline_switches);
    };
    // The sides take turns at going first: the call that follows the parse alone finds QEMU
    // idle for a few milliseconds, the other finds it just done with a schema.
    for (int i = 0; i < calls; ++i) {
        if (i % 2 == 0) {
            library_call();
            baseline_call();
        } else {
            baseline_call();
            library_call();
        }
        timed(
            [&] { return qmp::json::parse(bytes); }, s.parse_ms, s.parse_faults, s.parse_switches);
    }
}

// Pins the calling thread to \p cpu, or to every CPU when \p cpu is negative.
bool pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    const int cpus = static_cast<int>(std::thread::hardware_concurrency());
    for (int c = 0; c < cpus; ++c)
        if (cpu < 0 || c == cpu)
            CPU_SET(c, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

} // namespace

void run_schema(const Peer& peer, const Scale& scale, Report& report)
{
    // The bytes both clients receive, kept for the parse-alone figure.
    std::string bytes;
    {
        BaselineClient baseline;
        baseline.connect(peer.baseline_socket);
        baseline.send("query-qmp-schema");
        bytes = baseline.read_raw_message();
    }

    const int cpus = static_cast<int>(std::thread::hardware_concurrency());
    Samples pinned, unpinned;
    bool pinning_works = true;
    for (int round = 0; round < scale.rounds; ++round) {
        measure(peer, bytes, scale.schema_calls, unpinned);
        for (int cpu = 0; cpu < cpus && pinning_works; ++cpu) {
            pinning_works = pin_to(cpu);
            if (pinning_works)
                measure(peer, bytes, scale.schema_calls, pinned);
            pin_to(-1);
        }
    }

    const std::string size = std::to_string(bytes.size() / 1024) + " KB";
    const Samples& figures = pinning_works ? pinned : unpinned;
    const long calls = static_cast<long>(figures.library_ms.size());
    report.add({"3 schema page faults per call", peer.name, "faults",
        static_cast<double>(figures.library_faults) / calls,
        static_cast<double>(figures.baseline_faults) / calls, Goal::none, 0,
        "minor faults while receiving+parsing", ""});
    report.add({"3 schema context switches/call", peer.name, "csw",
        static_cast<double>(figures.library_switches) / calls,
        static_cast<double>(figures.baseline_switches) / calls, Goal::none, 0, "all threads", ""});
    report.add({"3 schema receive+parse", peer.name, "ms", median(figures.library_ms),
        median(figures.baseline_ms), peer.is_fake ? Goal::none : Goal::at_most, 1.05,
        size +
            (pinning_works ? " reply; each side on the same CPU, each CPU in turn"
                           : " reply; CPU pinning failed: unpinned"),
        ""});
    report.add({"3 schema vs parse alone", peer.name, "ms", median(figures.library_ms),
        median(figures.parse_ms), Goal::none, 0, "baseline column: json::parse of the same bytes",
        ""});
    if (pinning_works)
        report.add({"3 schema receive+parse, unpinned", peer.name, "ms",
            median(unpinned.library_ms), median(unpinned.baseline_ms), Goal::none, 0,
            "threads where the scheduler puts them", ""});
}

} // namespace bench
