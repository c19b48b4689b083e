// SPDX-License-Identifier: MIT
// Phase 8: a backlog of events on real QEMU, received and parsed while it builds up, then
// drained.
//
// The measured client is connected and negotiated on its monitor (A) first. A separate generator
// client then sends stop/cont pairs on a third monitor (B: the peer's burst_socket), pipelined 8
// deep, as fast as QEMU takes them. Each pair makes QEMU send STOP and RESUME to every
// negotiated monitor, so A receives 2 events per pair (20,000 in the full run). The consumer is
// busy sending the burst; once it is over, it takes every event queued for it.
//
// Both sides do the same work in the same places:
//  - library: a Client with event_queue_capacity = qmp::unbounded (nothing may be dropped); its
//    reader thread reads A and parses each event as it arrives, during the burst; the consumer
//    then calls events().pop() until it has every event.
//  - baseline: the least hand-written equivalent, a reader thread that reads A, splits lines and
//    nlohmann::json::parse()s each as it arrives, and appends the parsed events to a
//    mutex-protected queue; the consumer then takes them in batches until it has every event.
// The clock starts when the generator sends the burst's first stop and stops when the consumer
// holds every event, for both. Figure: events per second over that time. QEMU's own pace
// through the burst takes most of it: the ratio shows whether the client slows QEMU or the
// consumer down, not the cost of a parse (phases 4 and 7 show that).
//
// "lost" is events expected minus events received (after 5 s without one); with an unbounded
// queue the library must lose none.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <qmp/client.hpp>

#include <sys/socket.h>

#include "baseline_client.hpp"
#include "phases.hpp"
#include "stats.hpp"

namespace bench {

namespace {

// How long a consumer waits for the next event before it counts the rest as lost.
constexpr auto event_timeout = std::chrono::seconds(5);

struct Drain {
    double rate = 0; // events per second, from the burst's first command to the last event
    long long lost = 0;
    double burst_rate = 0; // commands per second QEMU took during the burst
};

// Sends \p pairs stop/cont pairs on \p generator, 8 in flight (QEMU's in-band queue), and
// returns once every reply is in. \returns commands per second.
double burst(BaselineClient& generator, int pairs)
{
    constexpr int window = 8;
    const int commands = 2 * pairs;
    const auto start = Clock::now();
    int sent = 0;
    const auto send_next = [&] {
        generator.send(sent % 2 == 0 ? "stop" : "cont");
        ++sent;
    };
    while (sent < window && sent < commands)
        send_next();
    for (int received = 0; received < commands; ++received) {
        generator.receive_reply(); // also parses and discards B's own copies of the events
        if (sent < commands)
            send_next();
    }
    return commands / seconds_since(start);
}

Drain library_drain(const Peer& peer, BaselineClient& generator, int pairs)
{
    const int expected = 2 * pairs;
    qmp::ClientOptions options;
    options.event_queue_capacity = qmp::unbounded;
    qmp::Client client(options);
    client.connect(peer.library_socket);
    Drain drain;
    const auto start = Clock::now();
    drain.burst_rate = burst(generator, pairs);
    int received = 0;
    while (received < expected && client.events().pop(event_timeout))
        ++received;
    drain.rate = received / seconds_since(start);
    drain.lost = expected - received;
    return drain;
}

Drain baseline_drain(const Peer& peer, BaselineClient& generator, int pairs)
{
    const int expected = 2 * pairs;
    BaselineClient client;
    client.connect(peer.baseline_socket);
    std::mutex mutex;
    std::condition_variable ready;
    std::vector<qmp::json> events;
    bool closed = false;
    std::thread reader([&] {
        try {
            for (int i = 0; i < expected;) {
                const std::string_view line = client.read_raw_message();
                qmp::json message = qmp::json::parse(line.begin(), line.end());
                if (!message.contains("event"))
                    continue;
                ++i;
                std::lock_guard<std::mutex> lock(mutex);
                events.push_back(std::move(message));
                ready.notify_one();
            }
        } catch (const std::exception&) {
            // the socket was shut down after a timeout: the events missing are counted as lost
        }
        std::lock_guard<std::mutex> lock(mutex);
        closed = true;
        ready.notify_one();
    });
    Drain drain;
    const auto start = Clock::now();
    drain.burst_rate = burst(generator, pairs);
    int received = 0;
    std::vector<qmp::json> batch;
    while (received < expected) {
        {
            std::unique_lock<std::mutex> lock(mutex);
            ready.wait_for(lock, event_timeout, [&] { return !events.empty() || closed; });
            if (events.empty())
                break;
            batch.swap(events);
        }
        received += static_cast<int>(batch.size());
        batch.clear();
    }
    drain.rate = received / seconds_since(start);
    drain.lost = expected - received;
    ::shutdown(client.native_handle(), SHUT_RDWR); // wakes the reader if events were lost
    reader.join();
    return drain;
}

} // namespace

void run_backlog(const Peer& peer, const Scale& scale, Report& report)
{
    if (peer.burst_socket.empty())
        return; // real QEMU only
    BaselineClient generator;
    generator.connect(peer.burst_socket);
    const int pairs = scale.backlog_pairs;
    const int rounds = std::min(scale.rounds, 3); // each burst takes seconds on QEMU
    std::vector<double> library_rates, baseline_rates, burst_rates;
    long long library_lost = 0, baseline_lost = 0;
    for (int round = 0; round < rounds; ++round) {
        // The VM must run for stop to send STOP; cont on a running VM sends nothing, and is
        // done before A is connected, so that A receives exactly 2 events per pair.
        generator.execute("cont");
        const Drain library = library_drain(peer, generator, pairs);
        library_rates.push_back(library.rate);
        library_lost += library.lost;
        burst_rates.push_back(library.burst_rate);
        generator.execute("cont");
        const Drain baseline = baseline_drain(peer, generator, pairs);
        baseline_rates.push_back(baseline.rate);
        baseline_lost += baseline.lost;
        burst_rates.push_back(baseline.burst_rate);
    }
    Row row{"8 backlog: burst+drain", peer.name, "ev/s", median(library_rates),
        median(baseline_rates), Goal::at_least, 0.95,
        std::to_string(2 * pairs) + " events x " + std::to_string(rounds) + " rounds; lost lib " +
            std::to_string(library_lost) + ", base " + std::to_string(baseline_lost) +
            "; both parse on a reader thread as events arrive; clock: burst start to last event",
        ""};
    row.also_met = library_lost == 0;
    report.add(row);
    report.note("phase 8: QEMU took the stop/cont bursts at " + format_figure(median(burst_rates)) +
        " commands/s (8 in flight on a third monitor)");
    if (library_lost != 0)
        report.note("phase 8: the library lost " + std::to_string(library_lost) +
            " events although its queue was unbounded");
}

} // namespace bench
