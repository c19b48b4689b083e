// SPDX-License-Identifier: MIT
// ClientOptions::reconnect against qmp::testing::FakeQemu (and the scripted fake server where a
// session must wait for the test): a session that ends unexpectedly
// is replaced by a new one, queues stay open across the gap, calls in flight fail with an
// honest DisconnectedError, calls made meanwhile wait, and disconnect() stops it all.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>

#include "scripted_fake.hpp"

using namespace std::chrono_literals;
using qmp::ConnectionState;
using qmp::json;
using qmp::test::FakeConnection;
using qmp::test::quick_options;
using qmp::test::ScriptedQemu;
using qmp::testing::FakeQemu;

namespace {

qmp::ClientOptions reconnecting_options()
{
    auto options = quick_options(5s);
    options.reconnect = true;
    options.reconnect_delay = 10ms;
    options.reconnect_max_delay = 100ms;
    return options;
}

// Waits, bounded, until \p client reaches \p state.
bool reaches(const qmp::Client& client, ConnectionState state, std::chrono::milliseconds bound = 5s)
{
    const auto until = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < until) {
        if (client.state() == state)
            return true;
        std::this_thread::sleep_for(2ms); // polling a state nobody announces but the client
    }
    return false;
}

} // namespace

TEST(Reconnect, HangUpIsFollowedByANewSessionAndEventsStayOpen)
{
    FakeQemu fake;
    fake.on("qmp_capabilities").times(1).reply().emit("HELLO", {{"session", 1}}).hang_up();
    fake.on("qmp_capabilities").reply().emit("HELLO", {{"session", 2}});
    fake.on("query-session").reply({{"session", 2}});
    qmp::Client client(reconnecting_options());
    client.connect(fake.address());
    EXPECT_EQ(client.events().pop(5s)->data["session"], 1);
    // The queue stays open across the gap: the next event is the new session's.
    const auto second = client.events().pop(5s);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->data["session"], 2);
    EXPECT_EQ(client.execute("query-session")["session"], 2);
    EXPECT_EQ(client.state(), ConnectionState::connected);
}

TEST(Reconnect, CallInFlightFailsSayingItsOutcomeIsUnknown)
{
    FakeQemu fake;
    fake.on("device_add").reset(); // the call, never answered
    fake.on("query-status").reply({{"ok", true}});
    qmp::Client client(reconnecting_options());
    client.connect(fake.address());
    try {
        client.execute("device_add");
        FAIL() << "no DisconnectedError";
    } catch (const qmp::DisconnectedError& e) {
        EXPECT_NE(std::string(e.what()).find("whether it ran is unknown"), std::string::npos)
            << e.what();
    }
    EXPECT_EQ(client.execute("query-status")["ok"], true); // waits for the new session
}

TEST(Reconnect, CallsMadeWhileReconnectingWaitForTheNewSession)
{
    std::atomic<int> session{0};
    std::promise<void> second_may_start;
    auto may_start = second_may_start.get_future().share();
    ScriptedQemu server([&](FakeConnection& peer) {
        const int n = ++session;
        if (n == 2)
            may_start.wait_for(5s); // the client is reconnecting meanwhile
        peer.handshake();
        if (n == 1) {
            peer.hang_up();
            return;
        }
        peer.answer({{"session", n}});
        peer.wait_for_close(10s);
    });
    qmp::Client client(reconnecting_options());
    client.connect(server.address());
    ASSERT_TRUE(reaches(client, ConnectionState::reconnecting));
    auto call = std::async(std::launch::async, [&] { return client.execute("query-status"); });
    EXPECT_EQ(call.wait_for(100ms), std::future_status::timeout); // waiting, not failing
    second_may_start.set_value();
    ASSERT_EQ(call.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(call.get()["session"], 2);
}

TEST(Reconnect, DisconnectStopsReconnectingAndClosesTheQueues)
{
    std::atomic<int> connections{0};
    ScriptedQemu first([&](FakeConnection& peer) {
        if (++connections == 1) // later attempts get no greeting and fail
            peer.handshake();
        peer.hang_up();
    });
    qmp::Client client(reconnecting_options());
    client.connect(first.address());
    ASSERT_TRUE(reaches(client, ConnectionState::reconnecting));
    auto popper = std::async(std::launch::async, [&] {
        try {
            client.events().pop(10s);
            return std::string("returned");
        } catch (const qmp::DisconnectedError&) {
            return std::string("DisconnectedError");
        }
    });
    EXPECT_EQ(popper.wait_for(100ms), std::future_status::timeout); // open across the gap
    client.disconnect();
    EXPECT_EQ(client.state(), ConnectionState::disconnected);
    ASSERT_EQ(popper.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(popper.get(), "DisconnectedError");
    EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);
}

TEST(Reconnect, NoReconnectionAfterDisconnectOrWithoutTheOption)
{
    FakeQemu fake;
    fake.on("qmp_capabilities").reply().hang_up();
    qmp::Client client(quick_options());
    client.connect(fake.address());
    EXPECT_THROW(client.events().pop(5s), qmp::DisconnectedError); // the end closed the queue
    EXPECT_EQ(client.state(), ConnectionState::disconnected);
    EXPECT_FALSE(fake.wait_for_connections(2, 100ms)); // nothing may happen: give it the chance
    EXPECT_EQ(fake.connections(), 1u);
}

TEST(Reconnect, StateChangesAreToldInOrder)
{
    FakeQemu fake;
    fake.on("qmp_capabilities").times(1).reply().hang_up();
    std::mutex mutex;
    std::vector<ConnectionState> seen;
    std::promise<void> connected_again;
    auto options = reconnecting_options();
    options.on_state_change = [&](ConnectionState state) {
        std::lock_guard<std::mutex> lock(mutex);
        seen.push_back(state);
        if (seen.size() == 4 && state == ConnectionState::connected)
            connected_again.set_value();
    };
    {
        qmp::Client client(options);
        client.connect(fake.address());
        ASSERT_EQ(connected_again.get_future().wait_for(5s), std::future_status::ready);
        client.disconnect();
    } // the destructor tells the last change before it returns
    std::lock_guard<std::mutex> lock(mutex);
    const std::vector<ConnectionState> expected = {ConnectionState::connecting,
        ConnectionState::connected, ConnectionState::reconnecting, ConnectionState::connected,
        ConnectionState::disconnected};
    EXPECT_EQ(seen, expected);
}

TEST(Reconnect, InvalidDelaysAreAUsageError)
{
    auto options = reconnecting_options();
    options.reconnect_delay = 0ms;
    EXPECT_THROW(qmp::Client{options}, qmp::UsageError);
    options.reconnect_delay = 10s;
    options.reconnect_max_delay = 1s;
    EXPECT_THROW(qmp::Client{options}, qmp::UsageError);
}
