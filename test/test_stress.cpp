// SPDX-License-Identifier: MIT
// Load on the fake server: 64 threads sharing one Client, each making many calls; every call
// must get exactly its own reply, nothing may be dropped, and no thread or descriptor may be left
// behind. QMP_STRESS_CALLS sets the calls per thread (default 100; the README's figure: 1000).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <qmp/qmp.hpp>

#include "fake_server.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::FakePeer;
using qmp::test::FakeServer;

namespace {

int env_or(const char* name, int fallback)
{
    const char* value = std::getenv(name);
    return value && std::atoi(value) > 0 ? std::atoi(value) : fallback;
}

}  // namespace

TEST(Stress, SixtyFourThreadsEachGetExactlyTheirOwnReplies)
{
    constexpr int threads = 64;
    const int calls = env_or("QMP_STRESS_CALLS", 100);
    const int total = threads * calls;
    FakeServer server([total](FakePeer& peer) {
        peer.handshake();
        // Answers in arrival order, echoing the caller's tag: a reply given to the wrong caller
        // shows up as a wrong tag.
        for (int i = 0; i < total; ++i) {
            const json command = peer.read_message(30s);
            peer.reply(command, {{"tag", command["arguments"]["tag"]}});
        }
        peer.wait_for_close(30s);
    });
    const int threads_before = qmp::test::thread_count();
    const int fds_before = qmp::test::fd_count();
    {
        qmp::ClientOptions options;
        options.command_timeout = 60s;  // generous: the machine may be loaded
        qmp::Client client(options);
        client.connect(server.address());

        std::atomic<int> wrong{0}, failed{0};
        const auto begin = std::chrono::steady_clock::now();
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t)
            workers.emplace_back([&, t] {
                for (int i = 0; i < calls; ++i) {
                    const std::string tag = std::to_string(t) + "/" + std::to_string(i);
                    try {
                        if (client.execute("echo", {{"tag", tag}})["tag"] != tag)
                            ++wrong;
                    } catch (const std::exception& e) {
                        if (++failed == 1)
                            std::fprintf(stderr, "first failure: %s\n", e.what());
                    }
                }
            });
        for (auto& worker : workers)
            worker.join();
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
        std::printf("stress: %d threads x %d calls = %d calls in %.2f s (%.0f calls/s), "
                    "%d wrong, %d failed, %llu dropped\n",
                    threads, calls, total, seconds, total / seconds, wrong.load(), failed.load(),
                    static_cast<unsigned long long>(client.dropped_replies()));
        EXPECT_EQ(wrong, 0);
        EXPECT_EQ(failed, 0);
        EXPECT_EQ(client.dropped_replies(), 0u);
        EXPECT_TRUE(client.is_connected());
        client.disconnect();
    }
    ASSERT_TRUE(server.wait_scripts_done(1, 30s));
    EXPECT_EQ(qmp::test::thread_count(), threads_before);
    EXPECT_EQ(qmp::test::fd_count(), fds_before);
}
