// SPDX-License-Identifier: MIT
// libFuzzer target: greeting parsing and negotiation, through Client::connect().
//
// Per input the fake peer (fuzz_peer.hpp) accepts the connection, sends the input's bytes as
// everything the server says (events before the greeting, the greeting, the answer to
// qmp_capabilities with id "1", more), then ends its side of the stream. The seeds are real
// QEMU greetings and negotiation replies, plain and -qmp-pretty.
//
// Checked: connect() either succeeds or throws ConnectError, nothing else; after a success the
// greeting is consistent (oob_enabled only if "oob" was offered) and a call ends in one of the
// documented ways; nothing hangs, leaks or trips ASan/UBSan.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include <qmp/qmp.hpp>

#include "fuzz_peer.hpp"

using namespace std::chrono_literals;

namespace {

qmp::fuzz::PeerListener& listener()
{
    static qmp::fuzz::PeerListener instance; // one socket for the whole run
    return instance;
}

void check_session(qmp::Client& client)
{
    const qmp::Greeting& greeting = client.greeting();
    bool offered = false;
    for (const auto& capability : greeting.capabilities)
        offered = offered || capability == "oob";
    if (greeting.oob_enabled && !offered)
        qmp::fuzz::fail("OOB enabled although the greeting did not offer it");
    if (!greeting.raw.is_object() || !greeting.raw.contains("QMP"))
        qmp::fuzz::fail("accepted a greeting without a QMP member: " + greeting.raw.dump());
    try {
        client.execute("query-status");
    } catch (const qmp::ExecuteError&) {
    } catch (const qmp::TimeoutError&) {
    } catch (const qmp::DisconnectedError&) {
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view stream(reinterpret_cast<const char*>(data), size);
    std::thread peer = listener().serve_one([&](qmp::fuzz::PeerConnection& connection) {
        connection.send(stream);
        // EOF after the input: connect() must not wait for its timeout.
        connection.shut_down_writing();
        connection.wait_for_close();
    });

    qmp::ClientOptions options;
    options.connect_timeout = 20s; // never reached: the peer always ends its side
    options.command_timeout = 20s;
    {
        qmp::Client client(options);
        bool connected = false;
        try {
            client.connect(listener().address());
            connected = true;
        } catch (const qmp::ConnectError&) {
        } catch (const std::exception& e) {
            qmp::fuzz::fail(
                std::string("connect() threw something other than ConnectError: ") + e.what());
        }
        if (connected)
            check_session(client);
        else if (client.is_connected())
            qmp::fuzz::fail("connected after a failed connect()");
        client.disconnect();
    }
    peer.join();
    return 0;
}
