// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <thread>

#include <qmp/error.hpp>
#include <qmp/event_queue.hpp>
#include <spdlog/sinks/null_sink.h>

#include "event_queue_state.hpp"

using namespace std::chrono_literals;

namespace {

std::shared_ptr<qmp::detail::EventQueueState> make_state(std::size_t capacity)
{
    auto logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    auto state = std::make_shared<qmp::detail::EventQueueState>(capacity, logger);
    state->reopen();
    return state;
}

qmp::Event named(const std::string& name)
{
    qmp::Event e;
    e.name = name;
    return e;
}

}  // namespace

TEST(EventQueue, FifoOrder)
{
    auto state = make_state(10);
    qmp::EventQueue queue(state);
    state->push(named("A"));
    state->push(named("B"));
    EXPECT_EQ(queue.size(), 2u);
    EXPECT_EQ(queue.pop().name, "A");
    EXPECT_EQ(queue.try_pop()->name, "B");
    EXPECT_FALSE(queue.try_pop());
}

TEST(EventQueue, OverflowDropsOldestAndCounts)
{
    auto state = make_state(3);
    qmp::EventQueue queue(state);
    for (int i = 0; i < 10; ++i)
        state->push(named(std::to_string(i)));
    EXPECT_EQ(queue.size(), 3u);
    EXPECT_EQ(queue.dropped(), 7u);
    EXPECT_EQ(queue.pop().name, "7");
    EXPECT_EQ(queue.pop().name, "8");
    EXPECT_EQ(queue.pop().name, "9");
}

TEST(EventQueue, UnboundedKeepsEverything)
{
    auto state = make_state(qmp::unbounded);
    qmp::EventQueue queue(state);
    for (int i = 0; i < 50000; ++i)
        state->push(named("E"));
    EXPECT_EQ(queue.size(), 50000u);
    EXPECT_EQ(queue.dropped(), 0u);
}

TEST(EventQueue, PopWithTimeoutReturnsNothingWhenEmpty)
{
    auto state = make_state(3);
    qmp::EventQueue queue(state);
    EXPECT_FALSE(queue.pop(10ms));
}

TEST(EventQueue, PopWakesWhenEventArrives)
{
    auto state = make_state(3);
    qmp::EventQueue queue(state);
    std::thread producer([&] { state->push(named("LATE")); });
    EXPECT_EQ(queue.pop().name, "LATE");
    producer.join();
}

TEST(EventQueue, ClosedQueueDrainsThenThrows)
{
    auto state = make_state(3);
    qmp::EventQueue queue(state);
    state->push(named("A"));
    state->close(std::make_exception_ptr(qmp::DisconnectedError("gone")));
    EXPECT_EQ(queue.pop().name, "A");
    EXPECT_THROW(queue.pop(), qmp::DisconnectedError);
    EXPECT_THROW(queue.pop(1s), qmp::DisconnectedError);
    EXPECT_FALSE(queue.try_pop());
}

TEST(EventQueue, CloseWakesBlockedPoppers)
{
    auto state = make_state(3);
    qmp::EventQueue queue(state);
    std::vector<std::thread> threads;
    std::atomic<int> woken{0};
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] {
            try {
                queue.pop();
            } catch (const qmp::DisconnectedError&) {
                ++woken;
            }
        });
    state->close(std::make_exception_ptr(qmp::DisconnectedError("gone")));
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(woken, 4);
}

TEST(EventQueue, ClearDoesNotCountAsDropped)
{
    auto state = make_state(3);
    qmp::EventQueue queue(state);
    state->push(named("A"));
    queue.clear();
    EXPECT_EQ(queue.size(), 0u);
    EXPECT_EQ(queue.dropped(), 0u);
    EXPECT_EQ(queue.capacity(), 3u);
}
