// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include <qmp/error.hpp>
#include <qmp/event_queue.hpp>
#include <spdlog/sinks/null_sink.h>

#include "event_queue_state.hpp"
#include "event_router.hpp"

using namespace std::chrono_literals;

namespace {

std::shared_ptr<spdlog::logger> null_logger()
{
    return std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::null_sink_mt>());
}

std::shared_ptr<qmp::detail::EventQueueState> make_state(std::size_t capacity)
{
    auto state = std::make_shared<qmp::detail::EventQueueState>(capacity, null_logger(), "test");
    state->reopen();
    return state;
}

// What EventQueue's members do, on the state itself (an EventQueue is made by a Client only).
class Queue {
public:
    explicit Queue(std::shared_ptr<qmp::detail::EventQueueState> state) : state_(std::move(state))
    {
    }
    qmp::Event pop() { return *state_->pop_until(std::chrono::steady_clock::time_point::max()); }
    std::optional<qmp::Event> pop(std::chrono::milliseconds timeout)
    {
        return state_->pop_until(std::chrono::steady_clock::now() + timeout);
    }
    std::optional<qmp::Event> try_pop() { return state_->try_pop(); }
    std::size_t size() const { return state_->size(); }
    std::uint64_t dropped() const { return state_->dropped(); }
    std::size_t capacity() const { return state_->capacity(); }
    void clear() { state_->clear(); }

private:
    std::shared_ptr<qmp::detail::EventQueueState> state_;
};

qmp::Event named(const std::string& name)
{
    qmp::Event e;
    e.name = name;
    return e;
}

} // namespace

TEST(EventQueue, FifoOrder)
{
    auto state = make_state(10);
    Queue queue(state);
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
    Queue queue(state);
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
    Queue queue(state);
    for (int i = 0; i < 50000; ++i)
        state->push(named("E"));
    EXPECT_EQ(queue.size(), 50000u);
    EXPECT_EQ(queue.dropped(), 0u);
}

TEST(EventQueue, PopWithTimeoutReturnsNothingWhenEmpty)
{
    auto state = make_state(3);
    Queue queue(state);
    EXPECT_FALSE(queue.pop(10ms));
}

TEST(EventQueue, PopWakesWhenEventArrives)
{
    auto state = make_state(3);
    Queue queue(state);
    std::thread producer([&] { state->push(named("LATE")); });
    EXPECT_EQ(queue.pop().name, "LATE");
    producer.join();
}

TEST(EventQueue, ClosedQueueDrainsThenThrows)
{
    auto state = make_state(3);
    Queue queue(state);
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
    Queue queue(state);
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
    Queue queue(state);
    state->push(named("A"));
    queue.clear();
    EXPECT_EQ(queue.size(), 0u);
    EXPECT_EQ(queue.dropped(), 0u);
    EXPECT_EQ(queue.capacity(), 3u);
}

namespace {

void deliver(qmp::detail::EventRouter& router, qmp::Event event)
{
    std::vector<qmp::Event> one;
    one.push_back(std::move(event));
    router.deliver(one);
}

} // namespace

TEST(EventRouter, BatchGoesToEachListenerInOrder)
{
    qmp::detail::EventRouter router(null_logger());
    Queue all(router.add({}, 10, "all"));
    Queue stops(router.add({{"STOP"}, nullptr}, 2, "stops"));
    router.reopen_all();
    std::vector<qmp::Event> batch;
    for (int n = 0; n < 6; ++n) {
        batch.push_back(named(n % 2 == 0 ? "STOP" : "RESUME"));
        batch.back().data = {{"n", n}};
    }
    router.deliver(batch);
    EXPECT_TRUE(batch.empty());
    ASSERT_EQ(all.size(), 6u);
    for (int n = 0; n < 6; ++n)
        EXPECT_EQ(all.pop().data["n"], n);
    EXPECT_EQ(stops.dropped(), 1u); // three STOPs into a queue of two: the oldest went
    EXPECT_EQ(stops.pop().data["n"], 2);
    EXPECT_EQ(stops.pop().data["n"], 4);
}

TEST(EventRouter, EachListenerGetsItsOwnCopyOfWhatItSelects)
{
    qmp::detail::EventRouter router(null_logger());
    Queue all(router.add({}, 10, "all"));
    Queue stops(router.add({{"STOP"}, nullptr}, 10, "stops"));
    Queue odd(router.add(
        {{}, [](const qmp::Event& e) { return e.data.value("n", 0) % 2 == 1; }}, 10, "odd"));
    router.reopen_all();
    for (int n = 0; n < 4; ++n) {
        qmp::Event event = named(n == 2 ? "STOP" : "RESUME");
        event.data = {{"n", n}};
        deliver(router, std::move(event));
    }
    EXPECT_EQ(all.size(), 4u);
    ASSERT_EQ(stops.size(), 1u);
    EXPECT_EQ(stops.pop().data["n"], 2);
    ASSERT_EQ(odd.size(), 2u);
    EXPECT_EQ(odd.pop().data["n"], 1);
    EXPECT_EQ(odd.pop().data["n"], 3);
    EXPECT_EQ(all.pop().data["n"], 0); // its copy is untouched by the others' pops
}

TEST(EventRouter, PredicateThatThrowsSkipsOnlyThatListener)
{
    qmp::detail::EventRouter router(null_logger());
    Queue all(router.add({}, 10, "all"));
    Queue throwing(router.add(
        {{}, [](const qmp::Event&) -> bool { throw std::runtime_error("no"); }}, 10, "throws"));
    router.reopen_all();
    deliver(router, named("STOP"));
    EXPECT_EQ(all.size(), 1u);
    EXPECT_EQ(throwing.size(), 0u);
}

TEST(EventRouter, DroppedListenerIsNoLongerFed)
{
    qmp::detail::EventRouter router(null_logger());
    std::weak_ptr<qmp::detail::EventQueueState> weak;
    {
        auto state = router.add({}, 10, "gone");
        weak = state;
    }
    deliver(router, named("STOP"));
    EXPECT_TRUE(weak.expired());
}

TEST(EventRouter, CloseAllEndsEveryQueueAndReopenAllStartsThemAgain)
{
    qmp::detail::EventRouter router(null_logger());
    Queue queue(router.add({}, 10, "q"));
    EXPECT_THROW(queue.pop(1s), qmp::DisconnectedError); // closed before the first session
    router.reopen_all();
    deliver(router, named("A"));
    router.close_all(std::make_exception_ptr(qmp::DisconnectedError("gone")));
    EXPECT_EQ(queue.pop().name, "A"); // drained first
    EXPECT_THROW(queue.pop(), qmp::DisconnectedError);
    router.reopen_all();
    EXPECT_FALSE(queue.pop(10ms));
    Queue later(router.add({}, 10, "later")); // added while open: open
    EXPECT_FALSE(later.pop(10ms));
}

// The reader numbers each event as it parses it and hands the read's batch to the router
// afterwards: a listener added in between must not get an event received before it existed
// (a leftover DEVICE_DELETED would otherwise end a new wait for the next one).
TEST(EventRouter, AnEventReceivedBeforeAListenerWasAddedNeverReachesIt)
{
    qmp::detail::EventRouter router(null_logger());
    router.reopen_all();
    qmp::Event early = named("DEVICE_DELETED");
    early.sequence = router.next_sequence(); // parsed, still in the reader's batch
    Queue listener(router.add({{"DEVICE_DELETED"}, nullptr}, 10, "new"));
    qmp::Event late = named("DEVICE_DELETED");
    late.sequence = router.next_sequence();
    std::vector<qmp::Event> batch;
    batch.push_back(early);
    batch.push_back(late);
    router.deliver(batch);
    ASSERT_EQ(listener.size(), 1u);
    EXPECT_EQ(listener.pop().sequence, late.sequence);
}

TEST(EventRouter, EventsAreNumberedInOrderWhenNotNumberedYet)
{
    qmp::detail::EventRouter router(null_logger());
    Queue all(router.add({}, 10, "all"));
    router.reopen_all();
    deliver(router, named("A"));
    deliver(router, named("B"));
    EXPECT_EQ(all.pop().sequence, 1u);
    EXPECT_EQ(all.pop().sequence, 2u);
}
