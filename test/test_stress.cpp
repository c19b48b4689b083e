// SPDX-License-Identifier: MIT
// Load on the fake server: 64 threads sharing one Client, each making many calls; every call
// must get exactly its own reply, nothing may be dropped, and no thread or descriptor may be left
// behind. QMP_STRESS_CALLS sets the calls per thread (default 100; the README's figure: 1000).
// And an event flood into a small queue with a slow consumer, which the reader never waits for:
// every event is either popped, in order, or counted as dropped, and memory stays bounded.
// QMP_FLOOD_EVENTS sets the number of events (default 200,000).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <qmp/qmp.hpp>

#include "scripted_fake.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::FakeConnection;
using qmp::test::ScriptedQemu;

namespace {

using qmp::test::env_or;
using qmp::test::rss_kb;
using qmp::test::under_asan;
using qmp::test::under_tsan;
using qmp::test::under_valgrind;

} // namespace

TEST(Stress, SixtyFourThreadsEachGetExactlyTheirOwnReplies)
{
    constexpr int threads = 64;
    const int calls = env_or("QMP_STRESS_CALLS", 100);
    const int total = threads * calls;
    ScriptedQemu server([total](FakeConnection& peer) {
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
        options.command_timeout = 60s; // generous: the machine may be loaded
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
    ASSERT_TRUE(server.wait_for_scripts(1, 30s));
    EXPECT_EQ(qmp::test::thread_count(), threads_before);
    EXPECT_EQ(qmp::test::fd_count(), fds_before);
}

// A peer sends N events as fast as the socket takes them, each with a sequence number and a
// 512-byte string; the consumer pops from a queue of capacity 64 only when it is full. The
// reader is told not to wait for the consumer (by default it would, and the flood would take as
// long as the slow consumer), so most events are dropped (the oldest first). Exactly: popped +
// dropped == N; the popped ones are in order and include the last one (only the oldest are
// dropped); and resident memory grows by less than 16 MB, where an unbounded queue would have
// held the backlog (N minus what was popped when the last event arrived, at least 512 bytes
// each: up to 100 MB for 200,000 events; the test checks that the backlog would indeed have
// exceeded twice the limit, so the limit can fail).
TEST(Stress, EventFloodIntoASmallQueueWithASlowConsumerDropsTheOldestAndStaysBounded)
{
    const int total = env_or("QMP_FLOOD_EVENTS", 200'000);
    constexpr std::size_t capacity = 64;
    constexpr std::size_t padding = 512;
    constexpr long rss_limit_kb = 16 * 1024;
    ScriptedQemu server([total](FakeConnection& peer) {
        peer.handshake();
        const std::string pad(padding, 'x');
        std::string batch;
        for (int i = 0; i < total; ++i) {
            batch += json{{"event", "FLOOD"},
                {"timestamp", {{"seconds", 1700000000}, {"microseconds", 0}}},
                {"data", {{"seq", i}, {"pad", pad}}}}
                         .dump();
            batch += "\r\n";
            if (batch.size() > 64 * 1024 || i + 1 == total) {
                peer.send(batch);
                batch.clear();
            }
        }
        // The client's "sync" is answered only after every event: when its reply arrives, the
        // reader has routed all of them.
        peer.reply(peer.read_message(300s));
        peer.wait_for_close(30s);
    });

    qmp::ClientOptions options;
    options.event_queue_capacity = capacity;
    qmp::Client client(options);
    client.connect(server.address());
    qmp::EventQueue& events = client.events();
    ASSERT_EQ(events.capacity(), capacity);
    const long rss_before = rss_kb();

    std::atomic<bool> all_routed{false};
    std::atomic<long> popping{0}; // the consumer's count so far
    std::mutex mutex; // guards what the consumer reports
    long popped = 0, out_of_order = 0, last_seq = -1, rss_peak = rss_before;
    std::string first_problem;
    std::thread consumer([&] {
        long count = 0, disorder = 0, last = -1, peak = rss_before;
        std::string problem;
        try {
            for (;;) {
                const bool finished = all_routed.load();
                auto event = finished ? events.try_pop() : events.pop(10ms);
                if (!event) {
                    if (finished)
                        break;
                    continue;
                }
                const long seq = event->data.value("seq", -1L);
                if (event->name != "FLOOD" || seq <= last) {
                    if (disorder++ == 0)
                        problem = "event " + std::to_string(count) + " after seq " +
                            std::to_string(last) + ": " + event->raw.dump().substr(0, 80);
                }
                last = seq;
                popping = ++count;
                if (count % 256 == 0)
                    peak = std::max(peak, rss_kb());
                // The slow consumer: it takes the next event only when the queue is full again,
                // so the reader keeps meeting a full queue however fast this build runs (with
                // a fixed pace, a sanitizer's slow reader let the consumer keep up).
                while (!all_routed.load() && events.size() < capacity)
                    std::this_thread::sleep_for(100us);
            }
        } catch (const std::exception& e) {
            problem = std::string("pop threw: ") + e.what();
            ++disorder;
        }
        std::lock_guard<std::mutex> lock(mutex);
        popped = count;
        out_of_order = disorder;
        last_seq = last;
        rss_peak = std::max(peak, rss_kb());
        first_problem = problem;
    });

    const auto begin = std::chrono::steady_clock::now();
    try {
        client.execute("sync", json::object(), 300s);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "sync: " << e.what();
    }
    const long rss_routed = rss_kb();
    // What an unbounded queue would hold now: everything not popped yet.
    const long backlog = total - popping.load();
    all_routed = true;
    consumer.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();

    std::lock_guard<std::mutex> lock(mutex);
    const std::uint64_t dropped = events.dropped();
    std::printf("flood: %d events (%zu-byte padding) into a queue of %zu in %.2f s: "
                "%ld popped, %llu dropped; an unbounded queue would have held %ld events "
                "(>= %ld kB); RSS %ld -> peak %ld kB (+%ld kB)%s\n",
        total, padding, capacity, seconds, popped, static_cast<unsigned long long>(dropped),
        backlog, backlog * static_cast<long>(padding) / 1024, rss_before,
        std::max(rss_peak, rss_routed), std::max(rss_peak, rss_routed) - rss_before,
        under_asan             ? " (ASan build: RSS not checked)"
            : under_tsan       ? " (TSan build: RSS not checked)"
            : under_valgrind() ? " (valgrind: RSS not checked)"
                               : "");
    EXPECT_EQ(static_cast<std::uint64_t>(popped) + dropped, static_cast<std::uint64_t>(total));
    EXPECT_EQ(out_of_order, 0) << first_problem;
    EXPECT_EQ(last_seq, total - 1) << "the newest event was dropped";
    EXPECT_GT(dropped, 0u) << "the consumer kept up: the test did not exercise the drops";
    EXPECT_TRUE(client.is_connected());
    if (!under_asan && !under_tsan && !under_valgrind()) {
        // Only the RSS bound needs the big backlog (valgrind runs a reduced flood).
        EXPECT_GT(backlog * static_cast<long>(padding) / 1024, 2 * rss_limit_kb)
            << "the consumer kept up too well for the memory limit to mean anything";
        EXPECT_LT(std::max(rss_peak, rss_routed) - rss_before, rss_limit_kb)
            << "RSS grew by more than " << rss_limit_kb << " kB";
    }
    client.disconnect();
    EXPECT_TRUE(server.wait_for_scripts(1, 30s));
}
