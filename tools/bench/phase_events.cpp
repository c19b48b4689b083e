// SPDX-License-Identifier: MIT
// Phase 4: events. The fake server answers bench-events {"count": N} and then sends N events of
// 81 bytes as fast as the socket takes them. The library delivers them through
// events().pop(); the baseline parses each line and discards it (its upper bound: one
// nlohmann parse per event, nothing else).
#include <chrono>
#include <string>
#include <vector>

#include <qmp/client.hpp>

#include "baseline_client.hpp"
#include "phases.hpp"
#include "stats.hpp"

namespace bench {

namespace {

struct EventRun {
    double rate = 0;
    long long lost = 0;
    long switches = 0;
};

EventRun library_events(const Peer& peer, int count, std::uint64_t& dropped)
{
    qmp::Client client;  // default options: a queue of 10,000 events, oldest dropped when full
    client.connect(peer.library_socket);
    const long switches = context_switches();
    const auto start = Clock::now();
    client.execute("bench-events", {{"count", count}});
    int received = 0;
    while (received < count) {
        // A generous timeout: only a lost event can make it expire.
        if (!client.events().pop(std::chrono::seconds(5)))
            break;
        ++received;
    }
    const double seconds = seconds_since(start);
    dropped += client.events().dropped();
    return {received / seconds, static_cast<long long>(count) - received,
            context_switches() - switches};
}

EventRun baseline_events(const Peer& peer, int count)
{
    BaselineClient client;
    client.connect(peer.baseline_socket);
    const long switches = context_switches();
    const auto start = Clock::now();
    client.send("bench-events", "{\"count\":" + std::to_string(count) + "}");
    client.receive_reply();
    int received = 0;
    while (received < count) {
        const std::string_view line = client.read_raw_message();
        const auto message = qmp::json::parse(line.begin(), line.end());
        received += message.contains("event") ? 1 : 0;
    }
    const double seconds = seconds_since(start);
    return {received / seconds, 0, context_switches() - switches};
}

}  // namespace

void run_events(const Peer& peer, const Scale& scale, Report& report)
{
    std::vector<double> library_rates, baseline_rates;
    long library_switches = 0, baseline_switches = 0;
    long long lost = 0;
    std::uint64_t dropped = 0;
    const int rounds = scale.rounds < 3 ? scale.rounds : 3;  // each round is a million events
    for (int round = 0; round < rounds; ++round) {
        const EventRun library = library_events(peer, scale.events, dropped);
        library_rates.push_back(library.rate);
        library_switches += library.switches;
        lost += library.lost;
        const EventRun baseline = baseline_events(peer, scale.events);
        baseline_rates.push_back(baseline.rate);
        baseline_switches += baseline.switches;
    }
    report.add({"4 events/s via pop()", peer.name, "ev/s", median(library_rates),
                median(baseline_rates), Goal::at_least, 0.9,
                std::to_string(scale.events) + " events x " + std::to_string(rounds) +
                    " rounds; lost " + std::to_string(lost) + ", dropped " +
                    std::to_string(dropped),
                ""});
    const double thousands = rounds * scale.events / 1000.0;
    report.add({"4 context switches per 1000 ev", peer.name, "csw", library_switches / thousands,
                baseline_switches / thousands, Goal::none, 0, "all threads of the process", ""});
    if (lost != 0)
        report.note("phase 4: the library lost " + std::to_string(lost) +
                    " events: its queue (capacity 10,000) overflowed while the consumer lagged");
    report.add_text("4 events/s, 3 listeners", peer.name, "n/a (listeners not implemented)");
}

}  // namespace bench
