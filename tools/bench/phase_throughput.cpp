// SPDX-License-Identifier: MIT
// Phase 2: throughput with W commands in flight.
//
// qmp has no asynchronous API yet, so the library's only way to keep W commands in flight is W
// threads each blocked in execute() on one shared Client. The baseline keeps W requests in
// flight on its one socket from one thread (a sliding window: send W, then one more per reply).
#include <atomic>
#include <thread>
#include <vector>

#include <qmp/client.hpp>

#include "baseline_client.hpp"
#include "phases.hpp"
#include "stats.hpp"

namespace bench {

namespace {

// Commands per second of \p threads threads sharing \p client, \p calls in total. The threads
// are started before the clock, which runs from their release to the last join.
double library_rate(qmp::Client& client, int threads, int calls)
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

}  // namespace

void run_throughput(const Peer& peer, const Scale& scale, Report& report)
{
    qmp::Client library;
    library.connect(peer.library_socket);
    BaselineClient baseline;
    baseline.connect(peer.baseline_socket);

    struct Case {
        const char* label;
        int width;
        const char* note;
    };
    const Case cases[] = {
        {"2 throughput W=1", 1, "lib: 1 thread; base: 1 in flight"},
        {"2 throughput W=8", 8, "lib: 8 threads x execute(); base: 8 pipelined"},
        {"2 throughput W=64", 64, "lib: 64 threads x execute(); base: 64 pipelined"},
        {"2 throughput 16 threads", 16, "lib: 16 threads; base: 16 pipelined, 1 thread"},
    };
    for (const Case& c : cases) {
        library_rate(library, c.width, c.width * 4);  // warm-up: threads, pending table
        baseline_rate(baseline, c.width, c.width * 4);
        std::vector<double> library_rates, baseline_rates;
        long library_switches = 0, baseline_switches = 0;
        for (int round = 0; round < scale.rounds; ++round) {
            long switches = context_switches();
            library_rates.push_back(library_rate(library, c.width, scale.throughput_calls));
            library_switches += context_switches() - switches;
            switches = context_switches();
            baseline_rates.push_back(baseline_rate(baseline, c.width, scale.throughput_calls));
            baseline_switches += context_switches() - switches;
        }
        const bool judged = !peer.is_fake && c.width > 1;
        report.add({c.label, peer.name, "cmd/s", median(library_rates), median(baseline_rates),
                    judged ? Goal::at_least : Goal::none, 0.95, c.note, ""});
        const double calls = static_cast<double>(scale.rounds) * scale.throughput_calls;
        report.add({std::string(c.label) + ": csw/cmd", peer.name, "csw",
                    library_switches / calls, baseline_switches / calls, Goal::none, 0,
                    "context switches per command, all threads", ""});
    }
}

}  // namespace bench
