// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <thread>

#include <qmp/error.hpp>
#include <qmp/event_queue.hpp>
#include <spdlog/sinks/null_sink.h>

#include "event_queue_state.hpp"
#include "event_router.hpp"

using namespace std::chrono_literals;

namespace {

// A queue that drops at once when full (no wait for its consumer), unless \p consumer_wait says.
std::shared_ptr<qmp::detail::EventQueueState> make_state(
    std::size_t capacity, std::chrono::milliseconds consumer_wait = 0ms)
{
    auto logger =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    auto state = std::make_shared<qmp::detail::EventQueueState>(
        qmp::detail::QueueLimits{capacity, consumer_wait}, logger);
    state->reopen();
    return state;
}

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

namespace {

// Events as the reader queues them: recorded, built by pop().
std::vector<qmp::detail::QueuedEvent> batch(int first, int count)
{
    std::vector<qmp::detail::QueuedEvent> events;
    for (int i = first; i < first + count; ++i)
        events.push_back(
            qmp::detail::classify_message(R"({"event": ")" + std::to_string(i) + R"("})").event);
    return events;
}

// Pops everything queued now, as numbers.
std::vector<int> drain(qmp::detail::EventQueueState& state)
{
    std::vector<int> numbers;
    while (auto event = state.try_pop())
        numbers.push_back(std::stoi(event->name));
    return numbers;
}

std::vector<int> range(int first, int last)
{
    std::vector<int> numbers;
    for (int i = first; i <= last; ++i)
        numbers.push_back(i);
    return numbers;
}

} // namespace

TEST(EventQueue, BatchesKeepOrderAcrossPartlyPoppedBatches)
{
    auto state = make_state(100);
    auto events = batch(0, 5);
    state->push_all(std::move(events));
    EXPECT_TRUE(events.empty()); // handed over; the vector stays usable
    EXPECT_EQ(state->try_pop()->name, "0");
    EXPECT_EQ(state->try_pop()->name, "1");
    events = batch(5, 3);
    state->push_all(std::move(events));
    EXPECT_EQ(state->size(), 6u);
    EXPECT_EQ(drain(*state), range(2, 7));
    EXPECT_EQ(state->size(), 0u);
    EXPECT_EQ(state->dropped(), 0u);
}

TEST(EventQueue, FullQueueDropsTheOldestAcrossBatchesExactly)
{
    auto state = make_state(10);
    state->push_all(batch(0, 4));
    state->push_all(batch(4, 4));
    state->try_pop(); // 0: 7 left
    state->push_all(batch(8, 6)); // 13 would be queued: the 3 oldest (1, 2, 3) go
    EXPECT_EQ(state->dropped(), 3u);
    EXPECT_EQ(state->size(), 10u);
    EXPECT_EQ(drain(*state), range(4, 13));
}

TEST(EventQueue, BatchLargerThanCapacityKeepsItsNewest)
{
    auto state = make_state(5);
    state->push_all(batch(0, 3));
    state->push_all(batch(3, 12)); // 15 events for 5 places
    EXPECT_EQ(state->dropped(), 10u);
    EXPECT_EQ(drain(*state), range(10, 14));
}

TEST(EventQueue, EmptiedBatchIsGivenBackForTheNextOne)
{
    auto state = make_state(100);
    auto events = batch(0, 50);
    const auto* storage = events.data();
    state->push_all(std::move(events));
    EXPECT_EQ(drain(*state).size(), 50u);
    events.push_back(batch(50, 1).front());
    state->push_all(std::move(events)); // the spare given back now is the first batch's
    EXPECT_GE(events.capacity(), 50u);
    EXPECT_EQ(events.data(), storage);
    EXPECT_TRUE(events.empty());
    EXPECT_EQ(drain(*state), range(50, 50));
}

// ---- a full queue waits for a consumer that pops (QueueLimits::consumer_wait) ------------------

TEST(EventQueue, FullQueueWaitsForItsConsumerInsteadOfDropping)
{
    auto state = make_state(10, 10s);
    state->push_all(batch(0, 10));
    ASSERT_EQ(state->try_pop()->name, "0"); // someone pops: the queue is being drained
    std::promise<void> pushing;
    std::vector<int> popped;
    std::thread consumer([&, go = pushing.get_future()] {
        go.wait();
        while (popped.size() < 14) {
            const auto event = state->pop_until(std::chrono::steady_clock::now() + 10s);
            if (!event)
                break;
            popped.push_back(std::stoi(event->name));
        }
    });
    pushing.set_value();
    state->push_all(batch(10, 5)); // 9 + 5 do not fit: returns once the consumer made room
    consumer.join();
    EXPECT_EQ(state->dropped(), 0u);
    EXPECT_EQ(popped, range(1, 14));
}

TEST(EventQueue, FullQueueNobodyPoppedDropsWithoutWaiting)
{
    auto state = make_state(3, qmp::wait_forever); // would hang here if it waited
    state->push_all(batch(0, 3));
    state->push_all(batch(3, 4));
    EXPECT_EQ(state->dropped(), 4u);
    EXPECT_EQ(drain(*state), range(4, 6));
}

TEST(EventQueue, ConsumerThatStopsPoppingIsWaitedForOncePeriodWithoutAPop)
{
    constexpr auto wait = 200ms;
    auto state = make_state(3, wait);
    state->push_all(batch(0, 3));
    const auto popped_at = std::chrono::steady_clock::now(); // no later than the pop's own time
    ASSERT_EQ(state->try_pop()->name, "0");
    state->push_all(batch(3, 5)); // nobody pops any more: waits out the 200 ms, then drops
    EXPECT_GE(std::chrono::steady_clock::now() - popped_at, wait);
    EXPECT_EQ(state->dropped(), 4u); // 1 and 2 queued, 3 and 4 of the batch (5 > 3)
    const auto given_up_at = std::chrono::steady_clock::now();
    state->push_all(batch(8, 1)); // no pop since the reader gave up: drops at once
    EXPECT_LT(std::chrono::steady_clock::now() - given_up_at, wait);
    EXPECT_EQ(state->dropped(), 5u);
    ASSERT_EQ(state->try_pop()->name, "6"); // it pops again: the reader waits again
    const auto popped_again_at = std::chrono::steady_clock::now();
    state->push_all(batch(9, 2));
    EXPECT_GE(std::chrono::steady_clock::now() - popped_again_at, wait);
    EXPECT_EQ(state->dropped(), 6u);
    EXPECT_EQ(drain(*state), range(8, 10));
}

// A slow consumer that still pops at least once per consumer_wait keeps the reader waiting for
// as long as it takes: here it makes room (half the queue) in 1.5 times consumer_wait.
TEST(EventQueue, SlowConsumerThatKeepsPoppingLosesNothing)
{
    constexpr auto wait = 200ms;
    constexpr int capacity = 20;
    constexpr int count = 2 * capacity;
    auto state = make_state(capacity, wait);
    state->push_all(batch(0, capacity));
    std::vector<int> popped{std::stoi(state->try_pop()->name)}; // popped once: the reader waits
    const auto start = std::chrono::steady_clock::now();
    std::thread consumer([&] {
        while (popped.size() < count) {
            const auto event = state->pop_until(std::chrono::steady_clock::now() + 10s);
            if (!event)
                break;
            popped.push_back(std::stoi(event->name));
            std::this_thread::sleep_for(30ms); // the consumer's own work, well within the wait
        }
    });
    for (int first = capacity; first < count; first += 5)
        state->push_all(batch(first, 5));
    consumer.join();
    EXPECT_GE(std::chrono::steady_clock::now() - start, 3 * wait); // longer than one period
    EXPECT_EQ(state->dropped(), 0u);
    EXPECT_EQ(popped, range(0, count - 1));
}

TEST(EventQueue, CloseAndClearEndTheWaitForRoom)
{
    for (const bool close : {true, false}) {
        SCOPED_TRACE(close ? "close()" : "clear()");
        auto state = make_state(3, qmp::wait_forever);
        state->push_all(batch(0, 3));
        ASSERT_EQ(state->try_pop()->name, "0"); // popped once: push_all() now waits for room
        std::thread reader([&] { state->push_all(batch(3, 2)); }); // 2 + 2 do not fit
        // The reader queues 3, the one that fits, then waits for room for 4.
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        while (state->size() < 3 && std::chrono::steady_clock::now() < give_up)
            std::this_thread::yield();
        EXPECT_EQ(state->size(), 3u);
        if (close)
            state->close(std::make_exception_ptr(qmp::DisconnectedError("gone")));
        else
            state->clear();
        reader.join(); // hangs (until the test's timeout) if the wait did not end
        if (close) { // then the oldest is dropped, as without waiting
            EXPECT_EQ(state->dropped(), 1u);
            EXPECT_EQ(drain(*state), range(2, 4));
        } else { // 1 to 3 were cleared; 4 then had room
            EXPECT_EQ(state->dropped(), 0u);
            EXPECT_EQ(drain(*state), range(4, 4));
        }
    }
}

TEST(EventQueue, DestroyingTheQueueEndsTheWaitForRoom)
{
    auto state = make_state(3, qmp::wait_forever);
    auto queue = std::make_unique<qmp::EventQueue>(state);
    state->push_all(batch(0, 3));
    ASSERT_EQ(queue->try_pop()->name, "0"); // popped once: push_all() now waits for room
    std::thread reader([&] { state->push_all(batch(3, 2)); }); // 2 + 2 do not fit
    queue.reset(); // a listener unsubscribed: nobody will pop again
    reader.join(); // hangs (until the test's timeout) if the wait did not end
    EXPECT_EQ(state->dropped(), 1u);
    EXPECT_EQ(drain(*state), range(2, 4));
}

// ---- a consumer that falls behind gets events built by the reader -------------------------------

TEST(EventQueue, ConsumerBehindOnlyWhileSomeonePops)
{
    auto state = make_state(8); // behind from 2 queued events on
    state->push_all(batch(0, 6));
    EXPECT_FALSE(state->consumer_behind()); // full of events, but nobody pops: not behind
    state->try_pop();
    EXPECT_TRUE(state->consumer_behind()); // popping, and 5 still wait
    for (int check = 2; check < 64; ++check)
        EXPECT_TRUE(state->consumer_behind()); // the consumer may be busy with one event
    EXPECT_FALSE(state->consumer_behind()); // no pop for 64 reads: nobody pops any more
    state->try_pop();
    EXPECT_TRUE(state->consumer_behind());
    while (state->size() > 1)
        state->try_pop();
    EXPECT_FALSE(state->consumer_behind()); // popping, and caught up
}

namespace {

// Events with data, as text and as json::parse() reads them.
std::vector<std::string> event_texts(int first, int count)
{
    std::vector<std::string> texts;
    for (int i = first; i < first + count; ++i)
        texts.push_back(R"({"timestamp": {"seconds": 1795603764, "microseconds": )" +
            std::to_string(i) + R"(}, "event": "E)" + std::to_string(i) + R"(", "data": {"n": )" +
            std::to_string(i) + R"(, "list": [1, -2, 3.5, "x"]}})");
    return texts;
}

std::vector<qmp::detail::QueuedEvent> recorded(const std::vector<std::string>& texts)
{
    std::vector<qmp::detail::QueuedEvent> events;
    for (const auto& text : texts)
        events.push_back(qmp::detail::classify_message(text).event);
    return events;
}

// Pops \p count events and checks each against json::parse() of its text.
void expect_events(qmp::detail::EventQueueState& state, const std::vector<std::string>& texts)
{
    for (const auto& text : texts) {
        const auto event = state.try_pop();
        ASSERT_TRUE(event);
        const auto expected = qmp::json::parse(text);
        EXPECT_EQ(event->name, expected["event"]);
        EXPECT_EQ(event->data, expected["data"]);
        EXPECT_EQ(event->raw, expected);
    }
    EXPECT_FALSE(state.try_pop());
}

} // namespace

// Two listeners, one behind: each gets every event, equal to what parsing the text gives,
// whichever of them is behind and whichever takes the originals.
TEST(EventRouter, ListenerBehindGetsTheSameEvents)
{
    for (const bool first_behind : {true, false}) {
        SCOPED_TRACE(first_behind ? "the first listener is behind" : "the last one is behind");
        auto logger = std::make_shared<spdlog::logger>(
            "test", std::make_shared<spdlog::sinks::null_sink_mt>());
        qmp::detail::EventRouter router(logger);
        router.reopen_all();
        auto first = router.add({}, {8, 0ms});
        auto last = router.add({{"E2", "E3", "E4", "E5", "E6"}, nullptr}, {8, 0ms});
        auto& slow = first_behind ? *first : *last;
        auto& fast = first_behind ? *last : *first;

        auto texts = event_texts(2, 3); // E2..E4
        auto events = recorded(texts);
        router.deliver_batch(events);
        ASSERT_TRUE(slow.try_pop()); // E2: the slow one pops, and two remain
        expect_events(fast, texts);

        const auto more = event_texts(5, 2); // E5, E6
        events = recorded(more);
        router.deliver_batch(events);
        EXPECT_TRUE(events.empty());
        expect_events(slow, {texts[1], texts[2], more[0], more[1]});
        expect_events(fast, more);
    }
}
