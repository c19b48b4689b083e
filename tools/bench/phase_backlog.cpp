// SPDX-License-Identifier: MIT
// Phase 8: draining an event backlog on real QEMU.
//
// A program that is busy elsewhere finds a backlog of events when it comes back to them. The
// phase builds one: the measured client is connected and negotiated on its monitor (A) first,
// then a separate generator client sends stop/cont pairs on a third monitor (B: the peer's
// burst_socket), pipelined 8 deep, as fast as QEMU takes them. Each pair makes QEMU send STOP
// and RESUME to every negotiated monitor, so A receives 2 events per pair. The measured
// consumer does not look at its events during the burst; the clock starts when the generator
// has the last reply (QEMU has then queued every event for A) and stops when the consumer
// holds all of them as parsed objects. Figure: events per second over that drain.
//
// The pair that is judged (ratio >= 0.95): both sides keep reading during the burst and parse
// only when the consumer asks, so they do the same work in the same places.
//  - library: a Client with event_queue_capacity = qmp::unbounded (nothing may be dropped):
//    its reader thread reads A during the burst and queues compact records; the consumer then
//    calls events().pop() until it has every event, and each pop() builds the Event.
//  - baseline: the least hand-written equivalent, a reader thread that splits A's bytes into
//    lines and appends them to a mutex-protected queue; the consumer then takes the lines in
//    batches and nlohmann::json::parse()s each.
// Any part of the backlog not yet read from the socket when the burst ends is read inside the
// clock by both.
//
// Also shown, without a target: a baseline that does not read its socket at all during the
// burst and reads and parses everything afterwards. There QEMU really holds the backlog in its
// output buffer, and the baseline's drain includes every recv(); the library has no such mode
// (its reader always reads), so that row compares two different amounts of work.
//
// "lost" is events expected minus events received; with an unbounded queue the library must
// lose none.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <qmp/client.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include "baseline_client.hpp"
#include "phases.hpp"
#include "stats.hpp"

namespace bench {

namespace {

// How long a consumer waits for the next event before it counts the rest as lost.
constexpr auto event_timeout = std::chrono::seconds(5);

struct Drain {
    double rate = 0; // events per second
    long long lost = 0;
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

Drain drain_result(int expected, int received, double seconds)
{
    return {received / seconds, static_cast<long long>(expected) - received};
}

Drain library_drain(const Peer& peer, BaselineClient& generator, int pairs, double& burst_rate)
{
    const int expected = 2 * pairs;
    qmp::ClientOptions options;
    options.event_queue_capacity = qmp::unbounded;
    qmp::Client client(options);
    client.connect(peer.library_socket);
    burst_rate = burst(generator, pairs);
    const auto start = Clock::now();
    int received = 0;
    while (received < expected && client.events().pop(event_timeout))
        ++received;
    return drain_result(expected, received, seconds_since(start));
}

Drain baseline_threaded_drain(const Peer& peer, BaselineClient& generator, int pairs)
{
    const int expected = 2 * pairs;
    BaselineClient client;
    client.connect(peer.baseline_socket);
    std::mutex mutex;
    std::condition_variable ready;
    std::vector<std::string> lines;
    bool closed = false;
    std::thread reader([&] {
        try {
            for (int i = 0; i < expected; ++i) {
                std::string line(client.read_raw_message());
                std::lock_guard<std::mutex> lock(mutex);
                lines.push_back(std::move(line));
                ready.notify_one();
            }
        } catch (const std::exception&) {
            // the socket was shut down after a timeout: the events missing are counted as lost
        }
        std::lock_guard<std::mutex> lock(mutex);
        closed = true;
        ready.notify_one();
    });
    burst(generator, pairs);
    const auto start = Clock::now();
    int received = 0;
    std::vector<std::string> batch;
    while (received < expected) {
        {
            std::unique_lock<std::mutex> lock(mutex);
            ready.wait_for(lock, event_timeout, [&] { return !lines.empty() || closed; });
            if (lines.empty())
                break;
            batch.swap(lines);
        }
        for (const std::string& line : batch) {
            const auto message = qmp::json::parse(line);
            received += message.contains("event") ? 1 : 0;
        }
        batch.clear();
    }
    const double seconds = seconds_since(start);
    ::shutdown(client.native_handle(), SHUT_RDWR); // wakes the reader if events were lost
    reader.join();
    return drain_result(expected, received, seconds);
}

Drain baseline_late_drain(const Peer& peer, BaselineClient& generator, int pairs)
{
    const int expected = 2 * pairs;
    BaselineClient client;
    client.connect(peer.baseline_socket);
    burst(generator, pairs);
    timeval timeout{};
    timeout.tv_sec = std::chrono::seconds(event_timeout).count();
    ::setsockopt(client.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    const auto start = Clock::now();
    int received = 0;
    try {
        while (received < expected) {
            const std::string_view line = client.read_raw_message();
            const auto message = qmp::json::parse(line.begin(), line.end());
            received += message.contains("event") ? 1 : 0;
        }
    } catch (const std::exception&) {
        // recv() timed out: the events missing are counted as lost
    }
    return drain_result(expected, received, seconds_since(start));
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
    std::vector<double> library_rates, threaded_rates, late_rates, burst_rates;
    long long library_lost = 0, threaded_lost = 0, late_lost = 0;
    for (int round = 0; round < rounds; ++round) {
        // The VM must run for stop to send STOP; cont on a running VM sends nothing, and is
        // done before A is connected, so that A receives exactly 2 events per pair.
        generator.execute("cont");
        double burst_rate = 0;
        const Drain library = library_drain(peer, generator, pairs, burst_rate);
        library_rates.push_back(library.rate);
        library_lost += library.lost;
        burst_rates.push_back(burst_rate);
        generator.execute("cont");
        const Drain threaded = baseline_threaded_drain(peer, generator, pairs);
        threaded_rates.push_back(threaded.rate);
        threaded_lost += threaded.lost;
        generator.execute("cont");
        const Drain late = baseline_late_drain(peer, generator, pairs);
        late_rates.push_back(late.rate);
        late_lost += late.lost;
    }
    const std::string events = std::to_string(2 * pairs) + " events x " + std::to_string(rounds) +
        " rounds; lost lib " + std::to_string(library_lost);
    report.add({"8 backlog drain", peer.name, "ev/s", median(library_rates), median(threaded_rates),
        Goal::at_least, 0.95,
        events + ", base " + std::to_string(threaded_lost) +
            "; lib: unbounded queue, pop(); base: reader thread queues lines, parsed after",
        ""});
    report.add({"8 backlog drain, base reads late", peer.name, "ev/s", median(library_rates),
        median(late_rates), Goal::none, 0,
        events + ", base " + std::to_string(late_lost) +
            "; base reads its socket only after the burst (QEMU held the events)",
        ""});
    report.note("phase 8: QEMU took the stop/cont burst at " + format_figure(median(burst_rates)) +
        " commands/s (8 in flight on a third monitor); both drains start when it ends");
    if (library_lost != 0)
        report.note("phase 8: the library lost " + std::to_string(library_lost) +
            " events although its queue was unbounded");
}

} // namespace bench
