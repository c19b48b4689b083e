// SPDX-License-Identifier: MIT
#include "callgrind_phase.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

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

// Runs `valgrind --tool=callgrind SELF --callgrind-phase SIDE --workload W --count N` and
// returns the instructions of its measured loop divided by \p count.
//
// How the total covers every thread: callgrind (without --separate-threads, the default)
// keeps one profile summed over all threads of the process; CALLGRIND_ZERO_STATS zeroes every
// thread's counters and CALLGRIND_DUMP_STATS_AT writes them all to the dump numbered .1, whose
// "totals:" line is read here. So the client's reader (and dispatcher) threads are counted with
// the calling thread (about 7 k of the library's 21 k per execute() are the caller's). Do not add
// --separate-threads=yes: the dump then holds the calling thread alone. The fake server is
// exec'd without --trace-children: not counted.
double instructions_per_unit(const std::string& self, const std::string& dir,
    const std::string& side, const std::string& workload, int count)
{
    const std::string out = dir + "/callgrind." + side + "." + workload;
    const std::string out_arg = "--callgrind-out-file=" + out;
    const std::string count_arg = std::to_string(count);
    const char* argv[] = {"valgrind", "--tool=callgrind", out_arg.c_str(), self.c_str(),
        "--callgrind-phase", side.c_str(), "--workload", workload.c_str(), "--count",
        count_arg.c_str(), nullptr};
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    const int error =
        ::posix_spawnp(&pid, argv[0], &actions, nullptr, const_cast<char* const*>(argv), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (error != 0)
        throw std::runtime_error(std::string("valgrind: ") + std::strerror(error));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(WIFEXITED(status) && WEXITSTATUS(status) == 127
                ? "valgrind not found"
                : "valgrind --tool=callgrind failed for " + side + " " + workload);
    std::ifstream dump(out + ".1");
    if (!dump)
        throw std::runtime_error("no callgrind dump of the measured loop (qmp-bench was built "
                                 "without <valgrind/callgrind.h>)");
    std::string line;
    while (std::getline(dump, line))
        if (line.compare(0, 7, "totals:") == 0)
            return std::stod(line.substr(7)) / count;
    throw std::runtime_error("no totals in " + out + ".1");
}

} // namespace

void run_callgrind(
    const std::string& self, const std::string& dir, const Scale& scale, Report& report)
{
    struct Figure {
        const char* phase;
        const char* workload;
        int count;
        const char* note;
    };
    const Figure figures[] = {
        {"7 instructions per execute()", "status", scale.callgrind_calls,
            "query-status, all threads (lib: caller + reader)"},
        {"7 instructions per event", "events", scale.callgrind_events,
            "lib: events().pop(), unbounded queue; base: parse + discard; all threads"},
    };
    for (const Figure& figure : figures) {
        std::fprintf(stderr, "phase %s under callgrind...\n", figure.phase);
        try {
            const double library =
                instructions_per_unit(self, dir, "library", figure.workload, figure.count);
            const double baseline =
                instructions_per_unit(self, dir, "baseline", figure.workload, figure.count);
            report.add({figure.phase, "fake", "instr", library, baseline, Goal::at_most, 1.3,
                std::string(figure.note) + "; " + std::to_string(figure.count) + " units", ""});
        } catch (const std::exception& e) {
            report.add_text(figure.phase, "fake", std::string("FAILED: ") + e.what());
        }
    }
}

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
