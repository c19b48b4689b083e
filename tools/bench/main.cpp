// SPDX-License-Identifier: MIT
// qmp-bench: measures qmp against a minimal hand-written baseline client, in one process and
// one run, against the same peers (an instant fake server and real QEMU), and prints medians
// and library/baseline ratios beside the targets of issue 13 ("Performance"), judged on real
// QEMU and on instruction counts; the fake server's rows are information only.
//
//   qmp-bench                 full run (3-10 minutes: judged phases wait for equal CPUs)
//   qmp-bench --quick         smoke run (under 20 seconds)
//   qmp-bench --only 3        one phase only (1-8), e.g. while profiling it
//   qmp-bench --callgrind-phase SIDE [--workload status|async|schema|events|listeners]
//                             [--count N]
//                             only N units of work by one side, to run under callgrind (phase 7)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <qmp/qmp.hpp>

#include "baseline_client.hpp"
#include "callgrind_phase.hpp"
#include "cpu_speed.hpp"
#include "fake_server.hpp"
#include "phases.hpp"
#include "qemu_peer.hpp"
#include "report.hpp"
#include "temp_dir.hpp"

namespace {

void usage()
{
    std::fprintf(stderr,
        "usage: qmp-bench [--quick] [--only PHASE]   (PHASE: 1..8)\n"
        "       qmp-bench --callgrind-phase library|library-trace-off|"
        "library-trace-on|baseline\n"
        "                 [--workload status|async|schema|events|listeners] [--count N]\n");
}

std::string read_first_line(const std::string& path, const std::string& prefix = "")
{
    std::ifstream file(path);
    std::string line;
    while (std::getline(file, line))
        if (line.compare(0, prefix.size(), prefix) == 0)
            return line;
    return "?";
}

void describe_machine(bench::Report& report)
{
    report.note("machine: " + std::to_string(std::thread::hardware_concurrency()) + " CPUs, " +
        read_first_line("/proc/cpuinfo", "model name") +
        "; load average at the end: " + read_first_line("/proc/loadavg"));
    report.note("requests: both clients send the same compact bytes, "
                "{\"execute\":\"query-status\",\"id\":\"N\"} (35-40 bytes), one write each");
    report.note("phase 2: the library keeps W in flight from one thread with execute_async() "
                "(a ring: get() the oldest, send one more); '16 threads' are 16 threads blocked "
                "in execute(). The baseline pipelines W requests on one socket from one thread. "
                "'limit 8' is the default oob_in_band_limit: with OOB negotiated at most 8 "
                "in-band commands are in flight, so that an exec-oob command can always "
                "overtake (QEMU queues 8 and then stops reading its socket anyway); 'nolimit' "
                "sets it to 0");
    report.note("rounds alternate library and baseline; medians over all samples. The machine is "
                "shared: compare ratios within one run, not absolute figures across runs");
}

// Runs a judged phase (\p run adds its rows to the report it is given) while both CPUs run at
// the same speed, and adds its rows to \p report. On this shared machine one vCPU is often
// 1.2-1.7x slower than the other for seconds to minutes; the library works on two threads and
// the baseline on one, so a phase measured then says where the scheduler put the threads, not
// what the library costs. The speeds are checked before the phase (waiting up to 30 s for them
// to agree) and after it; a phase with unequal CPUs at either end is measured again, up to
// three times, and the last attempt is kept if none was clean. The report says which.
template <typename Run>
void run_on_equal_cpus(const char* phase, const Run& run, bench::Report& report)
{
    constexpr int attempts = 3;
    for (int attempt = 1; attempt <= attempts; ++attempt) {
        std::vector<double> before = bench::measure_cpu_speeds();
        for (int waited = 0; bench::slowest_of(before) > bench::equal_cpus && waited < 30;
             waited += 2) {
            std::this_thread::sleep_for(std::chrono::seconds(2));
            before = bench::measure_cpu_speeds();
        }
        bench::Report attempt_report;
        run(attempt_report);
        const std::vector<double> after = bench::measure_cpu_speeds();
        const bool equal = bench::slowest_of(before) <= bench::equal_cpus &&
            bench::slowest_of(after) <= bench::equal_cpus;
        if (equal || attempt == attempts) {
            report.append(attempt_report);
            report.note(std::string("phase ") + phase + " on qemu, attempt " +
                std::to_string(attempt) + (equal ? ", CPUs equal" : ", CPUs UNEQUAL") +
                " before and after (" + bench::speeds_text(before) + "; " +
                bench::speeds_text(after) + ")");
            return;
        }
        std::fprintf(stderr, "  CPUs unequal (slowest %.2f before, %.2f after): again\n",
            bench::slowest_of(before), bench::slowest_of(after));
    }
}

int run_benchmark(const std::string& self, bool quick, char only)
{
    bench::TempDir dir;
    // Started before any thread exists (the Client's reader, QEMU's launcher).
    bench::FakeServerProcess fake(self, dir.path() + "/fake.sock", dir.path() + "/schema.json");
    bench::Report report;

    // Memory first, before QEMU's launcher and other phases leave threads and heap behind:
    // the process baseline is then as bare as it gets.
    const bench::Peer fake_peer{"fake", fake.socket_path(), fake.socket_path(), true, ""};
    std::fprintf(stderr, "phase 6 memory on fake...\n");
    try {
        if (only == 0 || only == '6')
            bench::run_memory(fake_peer, bench::scale_for(fake_peer, quick), report);
    } catch (const std::exception& e) {
        report.add_text("6 memory", "fake", std::string("FAILED: ") + e.what());
    }

    // After phase 6: its heap must be as bare as it gets (this parses a few hundred KB).
    const std::string speeds_at_start = bench::describe_cpu_speeds();

    bench::QemuPeer qemu;
    try {
        qemu = bench::start_qemu(dir.path(), dir.path() + "/schema.json");
    } catch (const std::exception& e) {
        report.note(std::string("real QEMU unavailable, its rows are missing: ") + e.what());
    }
    std::vector<bench::Peer> peers{fake_peer};
    if (qemu.machine)
        peers.push_back(
            {"qemu", qemu.library_socket, qemu.baseline_socket, false, qemu.burst_socket});

    using Phase = void (*)(const bench::Peer&, const bench::Scale&, bench::Report&);
    enum class On { both, fake, qemu };
    struct Step {
        const char* name;
        Phase run;
        On on;
    };
    const Step steps[] = {
        {"1 latency", bench::run_latency, On::both},
        {"1 logging cost", bench::run_logging_cost, On::fake},
        {"2 throughput", bench::run_throughput, On::both},
        {"3 schema", bench::run_schema, On::both},
        {"4 events", bench::run_events, On::fake},
        {"5 connect", bench::run_connect, On::both},
        {"8 backlog", bench::run_backlog, On::qemu},
    };
    for (const Step& step : steps) {
        for (const bench::Peer& peer : peers) {
            if ((step.on == On::fake && !peer.is_fake) || (step.on == On::qemu && peer.is_fake) ||
                (only != 0 && step.name[0] != only))
                continue;
            std::fprintf(stderr, "phase %s on %s...\n", step.name, peer.name.c_str());
            const auto run = [&](bench::Report& into) {
                try {
                    step.run(peer, bench::scale_for(peer, quick), into);
                } catch (const std::exception& e) {
                    into.add_text(step.name, peer.name, std::string("FAILED: ") + e.what());
                }
            };
            if (peer.is_fake || quick)
                run(report); // information only, or a smoke run
            else
                run_on_equal_cpus(step.name, run, report);
        }
    }
    if (only == 0 || only == '7')
        bench::run_callgrind(self, dir.path(), bench::scale_for(fake_peer, quick), report);
    if (qemu.machine)
        report.note("QEMU: " + qemu.machine->client().greeting().raw.dump());
    describe_machine(report);
    report.note("at the start: " + speeds_at_start);
    report.note("at the end: " + bench::describe_cpu_speeds());
    std::printf("\nqmp-bench %s: library (qmp::Client) vs baseline (blocking socket + "
                "nlohmann::json); ratio = library / baseline\n\n",
        quick ? "--quick" : "(full)");
    report.print();
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    // Re-executed as the fake server: see fake_server.hpp for why it is a separate process.
    if (argc == 4 && std::strcmp(argv[1], "--fake-server") == 0)
        return bench::run_fake_server(argv[2], argv[3]);

    bool quick = false;
    char only = 0;
    std::optional<std::string> callgrind_side;
    std::string workload = "status";
    int count = 10000;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--quick")
            quick = true;
        else if (arg == "--callgrind-phase" && i + 1 < argc)
            callgrind_side = argv[++i];
        else if (arg == "--only" && i + 1 < argc)
            only = argv[++i][0];
        else if (arg == "--workload" && i + 1 < argc)
            workload = argv[++i];
        else if (arg == "--count" && i + 1 < argc)
            count = std::atoi(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    // valgrind reports the client program here, not itself, so the fake server runs natively.
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    try {
        if (callgrind_side)
            return bench::run_callgrind_phase(self, *callgrind_side, workload, count);
        return run_benchmark(self, quick, only);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qmp-bench: %s\n", e.what());
        return 1;
    }
}
