// SPDX-License-Identifier: MIT
// libFuzzer target: a whole qmp::Client fed a fuzzed byte stream, through the public API.
//
// Per input the fake peer (fuzz_peer.hpp) accepts the client's connection, sends QEMU's
// greeting, accepts qmp_capabilities (id "1"), waits until it has read the requests of all the
// client's concurrent calls (ids "2", "3", ... in the order they registered) and then sends the
// input's bytes: replies, events, errors, garbage. The seeds are real QEMU traffic.
//
// Input: byte 0 is a control byte, the rest is the stream.
//   bit 0     the peer keeps the connection open after the stream (calls end by timeout or by
//             what the stream says) instead of closing it at once;
//   bit 1     the greeting offers no "oob";
//   bits 2-3  1 to 4 concurrent calls;
//   bit 4     small limits (256-byte messages, depth 4, 2 events queued);
//   bit 5     an on_event() callback and a listen() queue are registered too.
//
// Checked: every call ends in exactly one of reply, ExecuteError, TimeoutError,
// DisconnectedError (ProtocolError included); nothing else escapes; nothing hangs (the peer's
// waits are bounded and libFuzzer's -timeout covers the rest); ASan/UBSan/LeakSanitizer see
// nothing.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <qmp/qmp.hpp>

#include "fuzz_peer.hpp"

using namespace std::chrono_literals;

namespace {

enum class Outcome { none, reply, execute_error, timeout, disconnected };

qmp::fuzz::PeerListener& listener()
{
    static qmp::fuzz::PeerListener instance; // one socket for the whole run
    return instance;
}

Outcome run_call(qmp::Client& client, int index)
{
    try {
        if (index == 0) { // one call goes through the asynchronous path
            auto pending = client.execute_async("query-status");
            pending.get();
        } else {
            client.execute("query-status");
        }
        return Outcome::reply;
    } catch (const qmp::ExecuteError&) {
        return Outcome::execute_error;
    } catch (const qmp::TimeoutError&) {
        return Outcome::timeout;
    } catch (const qmp::DisconnectedError&) { // ProtocolError too
        return Outcome::disconnected;
    } catch (const std::exception& e) {
        qmp::fuzz::fail(std::string("a call ended with an unexpected exception: ") + e.what());
    } catch (...) {
        qmp::fuzz::fail("a call ended with an exception of unknown type");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const std::uint8_t control = data[0];
    const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
    const bool keep_open = control & 1;
    const bool offer_oob = !(control & 2);
    const int calls = 1 + ((control >> 2) & 3);
    const bool small_limits = control & 16;
    const bool subscribers = control & 32;

    std::thread peer = listener().serve_one([&](qmp::fuzz::PeerConnection& connection) {
        connection.send(
            qmp::json{
                {"QMP",
                    {{"version",
                         {{"qemu", {{"micro", 22}, {"minor", 2}, {"major", 7}}}, {"package", ""}}},
                        {"capabilities",
                            offer_oob ? qmp::json::array({"oob"}) : qmp::json::array()}}}}
                .dump() +
            "\r\n");
        const qmp::json negotiation = connection.read_message();
        if (negotiation.is_null())
            return; // the client gave up; connect() reports that
        connection.send(
            qmp::json{{"return", qmp::json::object()}, {"id", negotiation["id"]}}.dump() + "\r\n");
        for (int i = 0; i < calls; ++i)
            if (connection.read_message().is_null())
                qmp::fuzz::fail("the client closed the connection before sending every call");
        connection.send(stream);
        if (!keep_open)
            return; // closing at once: every call still waiting ends with DisconnectedError
        connection.wait_for_close();
    });

    qmp::ClientOptions options;
    options.connect_timeout = 20s; // only reached if the peer is broken
    options.command_timeout = keep_open ? 20ms : 20s;
    if (small_limits) {
        options.max_message_size = 256;
        options.max_nesting_depth = 4;
        options.event_queue_capacity = 2;
    }
    {
        qmp::Client client(options);
        std::atomic<int> callbacks{0};
        std::optional<qmp::EventQueue> stops;
        if (subscribers) {
            client.on_event([&](const qmp::Event&) { ++callbacks; });
            stops.emplace(client.listen(std::vector<std::string>{"STOP"}));
        }
        try {
            client.connect(listener().address());
        } catch (const std::exception& e) {
            qmp::fuzz::fail(
                std::string("connect failed before any fuzzed byte was sent: ") + e.what());
        }

        std::vector<Outcome> outcomes(static_cast<std::size_t>(calls), Outcome::none);
        std::vector<std::thread> callers;
        for (int i = 0; i < calls; ++i)
            callers.emplace_back(
                [&, i] { outcomes[static_cast<std::size_t>(i)] = run_call(client, i); });
        for (auto& caller : callers)
            caller.join();
        for (const Outcome outcome : outcomes)
            if (outcome == Outcome::none)
                qmp::fuzz::fail("a call did not end");

        // Drain what arrived; the queues must stay within their capacity.
        while (client.events().try_pop()) { }
        if (client.events().size() > client.events().capacity())
            qmp::fuzz::fail("event queue above its capacity");
        if (stops)
            while (stops->try_pop()) { }
        client.disconnect();
        if (client.is_connected())
            qmp::fuzz::fail("still connected after disconnect()");
    }
    peer.join();
    return 0;
}
