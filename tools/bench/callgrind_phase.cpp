// SPDX-License-Identifier: MIT
#include "callgrind_phase.hpp"

#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <qmp/client.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include "baseline_client.hpp"
#include "fake_server.hpp"
#include "qemu_peer.hpp"
#include "temp_dir.hpp"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_ZERO_STATS() CALLGRIND_ZERO_STATS
#define BENCH_DUMP_STATS(what) CALLGRIND_DUMP_STATS_AT(what)
#else
#define BENCH_ZERO_STATS()
#define BENCH_DUMP_STATS(what)
#endif

namespace {

enum class Workload { status, async, schema, events, listeners };

// Commands kept in flight by the async workload: the default in-band limit, so that
// execute_async() never waits for room and only the per-command work is counted.
constexpr int async_window = 8;

} // namespace

// The measured loops have C names and are never inlined, so that
// `valgrind --tool=callgrind --toggle-collect=qmp_bench_library_loop` can find them.
extern "C" {

__attribute__((noinline)) void qmp_bench_library_loop(
    qmp::Client& client, Workload workload, int count)
{
    if (workload == Workload::events) {
        client.execute("bench-events", {{"count", count}});
        for (int i = 0; i < count; ++i)
            client.events().pop();
        return;
    }
    if (workload == Workload::listeners) {
        // Three listeners of every event (phase 4's second row), drained one after the other:
        // the queues are unbounded here, and counting does not need the consumer threads.
        std::vector<qmp::EventQueue> queues;
        for (int i = 0; i < 3; ++i)
            queues.push_back(client.listen(std::vector<std::string>{}));
        client.execute("bench-events", {{"count", count}});
        for (auto& queue : queues)
            for (int i = 0; i < count; ++i)
                queue.pop();
        client.events().clear();
        return;
    }
    if (workload == Workload::async) {
        std::deque<qmp::PendingReply> ring;
        for (int i = 0; i < count; ++i) {
            if (ring.size() == async_window) {
                ring.front().get();
                ring.pop_front();
            }
            ring.push_back(client.execute_async("query-status"));
        }
        for (auto& reply : ring)
            reply.get();
        return;
    }
    const char* command = workload == Workload::schema ? "query-qmp-schema" : "query-status";
    for (int i = 0; i < count; ++i)
        client.execute(command);
}

__attribute__((noinline)) void qmp_bench_baseline_loop(
    bench::BaselineClient& client, Workload workload, int count)
{
    if (workload == Workload::events || workload == Workload::listeners) {
        client.send("bench-events", "{\"count\":" + std::to_string(count) + "}");
        client.receive_reply();
        for (int i = 0; i < count; ++i) {
            const std::string_view line = client.read_raw_message();
            const auto message = nlohmann::json::parse(line.begin(), line.end());
            if (!message.contains("event"))
                std::fprintf(stderr, "qmp-bench: expected an event\n");
        }
        return;
    }
    if (workload == Workload::async) {
        int sent = 0;
        for (; sent < async_window && sent < count; ++sent)
            client.send("query-status");
        for (int received = 0; received < count; ++received) {
            client.receive_reply();
            if (sent < count) {
                client.send("query-status");
                ++sent;
            }
        }
        return;
    }
    const char* command = workload == Workload::schema ? "query-qmp-schema" : "query-status";
    for (int i = 0; i < count; ++i)
        client.execute(command);
}
}

namespace bench {

namespace {

constexpr int warmup_count = 20;

std::shared_ptr<spdlog::logger> logger_for(const std::string& side)
{
    if (side == "library")
        return nullptr;
    auto logger = std::make_shared<spdlog::logger>(
        "qmp-bench", std::make_shared<spdlog::sinks::null_sink_mt>());
    logger->set_level(side == "library-trace-on" ? spdlog::level::trace : spdlog::level::info);
    return logger;
}

} // namespace

int run_callgrind_phase(
    const std::string& self, const std::string& side, const std::string& workload_name, int count)
{
    const Workload workload = workload_name == "async" ? Workload::async
        : workload_name == "schema"                    ? Workload::schema
        : workload_name == "events"                    ? Workload::events
        : workload_name == "listeners"                 ? Workload::listeners
                                                       : Workload::status;
    if (side != "library" && side != "library-trace-off" && side != "library-trace-on" &&
        side != "baseline") {
        std::fprintf(stderr, "qmp-bench: unknown --callgrind-phase side '%s'\n", side.c_str());
        return 2;
    }
    TempDir dir;
    const std::string schema_path = dir.path() + "/schema.json";
    FakeServerProcess server(self, dir.path() + "/fake.sock", schema_path);
    if (workload == Workload::schema)
        start_qemu(dir.path(), schema_path); // only for QEMU's schema bytes; stopped at once

    // The client requests count every thread between them (with the default
    // --collect-atstart=yes), in a dump of their own ("part 1"). --toggle-collect counts only
    // the threads that enter the named functions.
    if (side == "baseline") {
        BaselineClient client;
        client.connect(server.socket_path());
        qmp_bench_baseline_loop(client, workload, warmup_count);
        BENCH_ZERO_STATS();
        qmp_bench_baseline_loop(client, workload, count);
        BENCH_DUMP_STATS("qmp-bench measured loop");
    } else {
        qmp::ClientOptions options;
        options.logger = logger_for(side);
        options.event_queue_capacity = qmp::unbounded; // counting, not timing: keep them all
        qmp::Client client(options);
        client.connect(server.socket_path());
        qmp_bench_library_loop(client, workload, warmup_count);
        BENCH_ZERO_STATS();
        qmp_bench_library_loop(client, workload, count);
        BENCH_DUMP_STATS("qmp-bench measured loop");
    }
    std::printf("%s: %d x %s done\n", side.c_str(), count, workload_name.c_str());
    return 0;
}

} // namespace bench
