// SPDX-License-Identifier: MIT
// Phase 6: memory. RSS of one idle connected client beyond the process's baseline, and 1,000
// concurrent connections in one process.
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include <qmp/client.hpp>

#include "baseline_client.hpp"
#include "phases.hpp"
#include "stats.hpp"

namespace bench {

namespace {

constexpr int idle_trials = 7;

// Lets the reader thread finish its start-up allocations before RSS is read.
void settle()
{
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// RSS growth while one more client is connected: the first one in the process, then the
// median of later ones (which can reuse memory freed by the earlier ones).
struct IdleRss {
    double first_kb = 0;
    double later_kb = 0;
};

template <typename Open> IdleRss idle_rss(Open&& open)
{
    std::vector<double> deltas;
    for (int trial = 0; trial < idle_trials; ++trial) {
        settle();
        const std::size_t before = resident_bytes();
        auto client = open();
        settle();
        deltas.push_back(
            (static_cast<double>(resident_bytes()) - static_cast<double>(before)) / 1024);
    }
    return {deltas.front(), median(std::vector<double>(deltas.begin() + 1, deltas.end()))};
}

std::string first_line(const std::string& path)
{
    std::ifstream file(path);
    std::string line;
    std::getline(file, line);
    return line.empty() ? "?" : line;
}

} // namespace

void run_memory(const Peer& peer, const Scale& scale, Report& report)
{
    const auto open_library = [&] {
        auto client = std::make_unique<qmp::Client>();
        client->connect(peer.library_socket);
        for (int i = 0; i < 10; ++i)
            client->execute("query-status");
        return client;
    };
    const auto open_baseline = [&] {
        auto client = std::make_unique<BaselineClient>();
        client->connect(peer.baseline_socket);
        for (int i = 0; i < 10; ++i)
            client->execute("query-status");
        return client;
    };
    // The baseline first, so that the library's first client cannot reuse its freed memory.
    const IdleRss baseline_rss = idle_rss(open_baseline);
    const IdleRss library_rss = idle_rss(open_library);
    report.add({"6 RSS: first idle client", peer.name, "KB", library_rss.first_kb,
        baseline_rss.first_kb, Goal::none, 0,
        "target: library <= 256 KB: " + std::string(library_rss.first_kb <= 256 ? "met" : "MISSED"),
        ""});
    report.add({"6 RSS: one more idle client", peer.name, "KB", library_rss.later_kb,
        baseline_rss.later_kb, Goal::none, 0, "median of 6", ""});

    // 1,000 at once: every one connected, then every one executes a command.
    const int n = scale.connections;
    std::vector<double> per_client_kb(2), per_client_vm_kb(2), seconds(2);
    int working[2] = {0, 0};
    {
        settle();
        const std::size_t rss = resident_bytes(), vm = virtual_bytes();
        const auto start = Clock::now();
        std::vector<std::unique_ptr<qmp::Client>> clients;
        for (int i = 0; i < n; ++i) {
            clients.push_back(std::make_unique<qmp::Client>());
            clients.back()->connect(peer.library_socket);
        }
        for (auto& client : clients)
            working[0] += client->execute("query-status").contains("status") ? 1 : 0;
        seconds[0] = seconds_since(start);
        settle();
        per_client_kb[0] = (static_cast<double>(resident_bytes()) - rss) / 1024 / n;
        per_client_vm_kb[0] = (static_cast<double>(virtual_bytes()) - vm) / 1024 / n;
    }
    {
        settle();
        const std::size_t rss = resident_bytes(), vm = virtual_bytes();
        const auto start = Clock::now();
        std::vector<std::unique_ptr<BaselineClient>> clients;
        for (int i = 0; i < n; ++i) {
            clients.push_back(std::make_unique<BaselineClient>());
            clients.back()->connect(peer.baseline_socket);
        }
        for (auto& client : clients)
            working[1] += client->execute("query-status").contains("status") ? 1 : 0;
        seconds[1] = seconds_since(start);
        settle();
        per_client_kb[1] = (static_cast<double>(resident_bytes()) - rss) / 1024 / n;
        per_client_vm_kb[1] = (static_cast<double>(virtual_bytes()) - vm) / 1024 / n;
    }
    const std::string label = std::to_string(n) + " connections";
    report.add({"6 " + label + ": RSS/conn", peer.name, "KB", per_client_kb[0], per_client_kb[1],
        Goal::none, 0,
        std::to_string(working[0]) + "/" + std::to_string(n) + " lib and " +
            std::to_string(working[1]) + "/" + std::to_string(n) + " base answered",
        ""});
    report.add({"6 " + label + ": virtual/conn", peer.name, "KB", per_client_vm_kb[0],
        per_client_vm_kb[1], Goal::none, 0, "lib: a reader thread's stack reservation", ""});
    report.add({"6 " + label + ": open+execute", peer.name, "s", seconds[0], seconds[1], Goal::none,
        0, "", ""});
    if (working[0] != n)
        report.note("phase 6: only " + std::to_string(working[0]) + " of " + std::to_string(n) +
            " library connections worked");

    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    report.note("phase 6 limits: one fd and one reader thread (8 MB stack reserved, touched "
                "pages only count in RSS) per connection; RLIMIT_NOFILE " +
        std::to_string(files.rlim_cur) + ", kernel.threads-max " +
        first_line("/proc/sys/kernel/threads-max") + ", pids.max " +
        first_line("/sys/fs/cgroup/pids.max") + ", vm.max_map_count " +
        first_line("/proc/sys/vm/max_map_count") +
        " (2 maps per thread stack): threads and fds, not memory, bound it");
}

} // namespace bench
