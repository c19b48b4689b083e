// SPDX-License-Identifier: MIT
// Phase 2: throughput with W commands in flight.
//
// The library keeps W commands in flight from ONE thread with execute_async(): a ring of W
// PendingReply, where the oldest is collected with get() and a new command is sent in its place
// (the same sliding window as the baseline's, which pipelines W requests on its socket). The
// "16 threads" rows keep the older shape, 16 threads each blocked in execute() on one Client.
//
// With OOB negotiated (the fake server and QEMU 7.2 both offer it) the client keeps at most
// ClientOptions::oob_in_band_limit (8) in-band commands in flight and execute_async() waits for
// room beyond that. Each case therefore runs twice: with the default limit and with 0 (none), so
// that the cost or the absence of a cost of the limit is visible.
#include <atomic>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include <qmp/client.hpp>

#include "baseline_client.hpp"
#include "phases.hpp"
#include "stats.hpp"

namespace bench {

namespace {

// Commands per second of one thread keeping \p window commands in flight with execute_async(),
// \p calls in total.
double library_async_rate(qmp::Client& client, int window, int calls)
{
    std::deque<qmp::PendingReply> ring;
    const auto start = Clock::now();
    int sent = 0;
    for (; sent < window && sent < calls; ++sent)
        ring.push_back(client.execute_async("query-status"));
    while (!ring.empty()) {
        ring.front().get();
        ring.pop_front();
        if (sent < calls) {
            ring.push_back(client.execute_async("query-status"));
            ++sent;
        }
    }
    return calls / seconds_since(start);
}

// Commands per second of \p threads threads sharing \p client, each blocked in execute(),
// \p calls in total. The threads are started before the clock, which runs from their release
// to the last join.
double library_threads_rate(qmp::Client& client, int threads, int calls)
{
    std::atomic<int> next{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&] {
            while (!go.load(std::memory_order_acquire))
                std::this_thread::yield();
            while (next.fetch_add(1, std::memory_order_relaxed) < calls)
                client.execute("query-status");
        });
    const auto start = Clock::now();
    go.store(true, std::memory_order_release);
    for (auto& worker : workers)
        worker.join();
    return calls / seconds_since(start);
}

double baseline_rate(BaselineClient& client, int window, int calls)
{
    const auto start = Clock::now();
    int sent = 0;
    for (; sent < window && sent < calls; ++sent)
        client.send("query-status");
    for (int received = 0; received < calls; ++received) {
        client.receive_reply();
        if (sent < calls) {
            client.send("query-status");
            ++sent;
        }
    }
    return calls / seconds_since(start);
}

enum class Shape { blocking, async, threads };

struct Case {
    const char* label;
    Shape shape;
    int width;
    bool unlimited; // oob_in_band_limit = 0
    const char* note;
};

} // namespace

void run_throughput(const Peer& peer, const Scale& scale, Report& report)
{
    // One client per in-band limit, each kept connected through its cases like the baseline's
    // one socket, so the rates do not include connecting.
    qmp::Client limited;
    limited.connect(peer.library_socket);
    qmp::ClientOptions no_limit_options;
    no_limit_options.oob_in_band_limit = 0;
    qmp::Client unlimited(no_limit_options);
    BaselineClient baseline;
    baseline.connect(peer.baseline_socket);

    const Case cases[] = {
        {"2 throughput W=1", Shape::blocking, 1, false, "lib: execute(); base: 1 in flight"},
        {"2 throughput W=8 async", Shape::async, 8, false,
            "lib: 1 thread, 8 x execute_async(), limit 8"},
        {"2 throughput W=64 async", Shape::async, 64, false,
            "lib: 1 thread, 64 x execute_async(), limit 8"},
        {"2 throughput 16 threads", Shape::threads, 16, false,
            "lib: 16 threads x execute(), limit 8; base: 16 pipelined"},
        {"2 throughput W=8 async nolimit", Shape::async, 8, true,
            "lib: 1 thread, 8 x execute_async(), limit 0"},
        {"2 throughput W=64 async nolimit", Shape::async, 64, true,
            "lib: 1 thread, 64 x execute_async(), limit 0"},
        {"2 throughput 16 threads nolimit", Shape::threads, 16, true,
            "lib: 16 threads x execute(), limit 0; base: 16 pipelined"},
    };
    const auto rate = [&](const Case& c, int calls) {
        qmp::Client& client = c.unlimited ? unlimited : limited;
        switch (c.shape) {
        case Shape::blocking:
        case Shape::threads:
            return library_threads_rate(client, c.width, calls);
        case Shape::async:
            return library_async_rate(client, c.width, calls);
        }
        return 0.0;
    };
    bool unlimited_connected = false;
    for (const Case& c : cases) {
        // QMP serves one client per monitor, so on QEMU the unlimited client takes over the
        // library's monitor once the limited cases are done (the cases are ordered for this).
        if (c.unlimited && !unlimited_connected) {
            limited.disconnect();
            unlimited.connect(peer.library_socket);
            unlimited_connected = true;
        }
        rate(c, c.width * 4); // warm-up: threads, pending table
        baseline_rate(baseline, c.width, c.width * 4);
        std::vector<double> library_rates, baseline_rates;
        long library_switches = 0, baseline_switches = 0;
        for (int round = 0; round < scale.rounds; ++round) {
            long switches = context_switches();
            library_rates.push_back(rate(c, scale.throughput_calls));
            library_switches += context_switches() - switches;
            switches = context_switches();
            baseline_rates.push_back(baseline_rate(baseline, c.width, scale.throughput_calls));
            baseline_switches += context_switches() - switches;
        }
        const bool judged = !peer.is_fake && c.width > 1;
        report.add({c.label, peer.name, "cmd/s", median(library_rates), median(baseline_rates),
            judged ? Goal::at_least : Goal::none, 0.97, c.note, ""});
        const double calls = static_cast<double>(scale.rounds) * scale.throughput_calls;
        report.add({std::string(c.label) + ": csw/cmd", peer.name, "csw", library_switches / calls,
            baseline_switches / calls, Goal::none, 0, "context switches per command, all threads",
            ""});
    }
}

} // namespace bench
