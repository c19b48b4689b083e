// SPDX-License-Identifier: MIT
// Phase 4: events. The fake server answers bench-events {"count": N} and then sends N events of
// 81 bytes as fast as the socket takes them. The library delivers them through
// events().pop(); the baseline parses each line and discards it (its upper bound: one
// nlohmann parse per event, nothing else).
//
// "3 listeners": three queues from client.listen({}) (all events), each drained by its own
// thread, and the rate is events per second per listener (the clock stops when the last of the
// three has all of them). Every listener must receive every event: the counts are checked. The
// library also keeps filling events(), which nobody drains there; it drops its oldest events
// beyond its capacity, which is what it does in a program that only uses listeners. The
// baseline is the same parse-and-discard loop: it is the bound the reader thread shares with
// three consumers on two cores.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
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
    qmp::Client client; // default options: a queue of 10,000 events, oldest dropped when full
    client.connect(peer.library_socket);
    const long switches = context_switches();
    const auto start = Clock::now();
    client.execute("bench-events", {{"count", count}});
    int received = 0;
    for (;;) {
        // A generous timeout: only a lost event can make it expire. When the queue was full its
        // oldest events were dropped, never the newest: the run ends with the last event (this
        // client's sequence number `count`), not with a wait for events that are gone.
        const auto event = client.events().pop(std::chrono::seconds(5));
        if (!event)
            break;
        ++received;
        if (event->sequence >= static_cast<std::uint64_t>(count))
            break;
    }
    const double seconds = seconds_since(start);
    dropped += client.events().dropped();
    return {received / seconds, static_cast<long long>(count) - received,
        context_switches() - switches};
}

// 3 listeners, each drained by its own thread. \p lost is the events some listener missed.
EventRun library_listeners(const Peer& peer, int count, int listeners, std::uint64_t& dropped)
{
    qmp::Client client; // default options: each listener holds 10,000 events, like events()
    client.connect(peer.library_socket);
    std::vector<qmp::EventQueue> queues;
    for (int i = 0; i < listeners; ++i)
        queues.push_back(client.listen(std::vector<std::string>{}));
    std::vector<int> received(listeners, 0);
    std::atomic<int> ready{0};
    std::vector<std::thread> consumers;
    for (int i = 0; i < listeners; ++i)
        consumers.emplace_back([&, i] {
            ready.fetch_add(1);
            while (received[i] < count) {
                // As for pop() above: only a lost event can make it expire.
                if (!queues[i].pop(std::chrono::seconds(5)))
                    break;
                ++received[i];
            }
        });
    while (ready.load() < listeners) // the consumers wait in pop() before the first event
        std::this_thread::yield();
    const long switches = context_switches();
    const auto start = Clock::now();
    client.execute("bench-events", {{"count", count}});
    for (auto& consumer : consumers)
        consumer.join();
    const double seconds = seconds_since(start);
    long long lost = 0;
    for (int i = 0; i < listeners; ++i) {
        lost += static_cast<long long>(count) - received[i];
        dropped += queues[i].dropped();
    }
    return {count / seconds, lost, context_switches() - switches};
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

} // namespace

void run_events(const Peer& peer, const Scale& scale, Report& report)
{
    std::vector<double> library_rates, baseline_rates;
    long library_switches = 0, baseline_switches = 0;
    long long lost = 0;
    std::uint64_t dropped = 0;
    const int rounds = scale.rounds < 3 ? scale.rounds : 3; // each round is a million events
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
        median(baseline_rates), Goal::none, 0,
        std::to_string(scale.events) + " events x " + std::to_string(rounds) + " rounds; lost " +
            std::to_string(lost) + ", dropped " + std::to_string(dropped),
        ""});
    const double thousands = rounds * scale.events / 1000.0;
    report.add({"4 context switches per 1000 ev", peer.name, "csw", library_switches / thousands,
        baseline_switches / thousands, Goal::none, 0, "all threads of the process", ""});
    if (lost != 0)
        report.note("phase 4: the library lost " + std::to_string(lost) +
            " events: its queue (capacity 10,000) overflowed while the consumer lagged");

    constexpr int listeners = 3;
    std::vector<double> listener_rates, listener_baseline_rates;
    long listener_switches = 0;
    long long listener_lost = 0;
    std::uint64_t listener_dropped = 0;
    for (int round = 0; round < rounds; ++round) {
        const EventRun library = library_listeners(peer, scale.events, listeners, listener_dropped);
        listener_rates.push_back(library.rate);
        listener_switches += library.switches;
        listener_lost += library.lost;
        listener_baseline_rates.push_back(baseline_events(peer, scale.events).rate);
    }
    report.add({"4 events/s, 3 listeners", peer.name, "ev/s", median(listener_rates),
        median(listener_baseline_rates), Goal::none, 0,
        "per listener, 3 x listen({}) each on its own thread; lost " +
            std::to_string(listener_lost) + ", dropped " + std::to_string(listener_dropped),
        ""});
    report.add({"4 csw per 1000 ev, 3 listeners", peer.name, "csw", listener_switches / thousands,
        baseline_switches / thousands, Goal::none, 0, "all threads of the process", ""});
    if (listener_lost != 0)
        report.note("phase 4: the listeners lost " + std::to_string(listener_lost) +
            " events: their queues (capacity 10,000 each) overflowed");
}

} // namespace bench
