// SPDX-License-Identifier: MIT
// Soak against real QEMU: many connect/negotiate/query/disconnect cycles on one monitor, with
// the process's descriptors, threads and resident memory measured from /proc/self before and
// after. QEMU serves one client at a time, so the cycles are sequential.
// QMP_SOAK_CYCLES sets the number of cycles (default 200; the README's figure: 1000).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include <qmp/qmp.hpp>

#include "process_probe.hpp"

using namespace std::chrono_literals;

namespace {

using qmp::test::env_or;
using qmp::test::fd_count;
using qmp::test::status_field;
using qmp::test::under_asan;

struct Usage {
    long fds = fd_count();
    long threads = status_field("Threads");
    long rss_kb = status_field("VmRSS");
};

} // namespace

TEST(Soak, ConnectCyclesAgainstQemuLeakNoDescriptorThreadOrMemory)
{
    const int cycles = env_or("QMP_SOAK_CYCLES", 200);
    qmp::MachineOptions options;
    options.monitor = qmp::MachineOptions::Monitor::socket_path; // reconnected to below
    qmp::Machine machine(options);
    machine.start();
    machine.client().disconnect(); // the monitor serves one client: ours from now on
    const std::string address = machine.socket_path();

    qmp::Client reused; // half the cycles reuse one Client, half make a new one each time
    const auto cycle = [&](int i) {
        std::optional<qmp::Client> fresh;
        qmp::Client& client = i % 2 ? reused : fresh.emplace();
        client.connect(address);
        ASSERT_TRUE(client.execute("query-status").contains("status"));
        client.disconnect();
    };
    for (int i = 0; i < 20; ++i) // warm-up: the allocator and the logger settle
        cycle(i);
    const Usage before;
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < cycles; ++i) {
        cycle(i);
        if (HasFatalFailure())
            return;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    const Usage after;
    std::printf("soak: %d connect/negotiate/query/disconnect cycles in %.1f s (%.1f ms each); "
                "fds %ld -> %ld, threads %ld -> %ld, RSS %ld -> %ld kB%s\n",
        cycles, seconds, 1000 * seconds / cycles, before.fds, after.fds, before.threads,
        after.threads, before.rss_kb, after.rss_kb,
        under_asan ? " (ASan build: RSS not checked)" : "");
    EXPECT_EQ(after.fds, before.fds);
    EXPECT_EQ(after.threads, before.threads);
    if (!under_asan) {
        EXPECT_LT(after.rss_kb - before.rss_kb, 4096) << "RSS grew by more than 4 MB";
    }
    EXPECT_TRUE(machine.running());
}

// The launcher's directory holds the monitor socket: only the user may enter it, whatever the
// umask of the host program.
TEST(Soak, MachineDirectoryIsPrivateUnderAPermissiveUmask)
{
    const mode_t previous = ::umask(0);
    qmp::Machine machine;
    machine.start();
    ::umask(previous);
    struct stat info { };
    ASSERT_EQ(::stat(machine.directory().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0700u);
    EXPECT_EQ(info.st_uid, ::getuid());
}
