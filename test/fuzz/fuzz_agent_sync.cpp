// SPDX-License-Identifier: MIT
// libFuzzer target: qmp::GuestAgent's synchronisation (guest-sync-delimited), through the
// public API, against a fake agent that answers with fuzzed bytes.
//
// Per input the fake agent accepts the connection, reads the client's 0xFF and
// guest-sync-delimited, and sends the input's stream: garbage, partial messages, 0xFF anywhere,
// replies of earlier synchronisations, id-less errors. In the stream, "$I" stands for the id of
// the client's request and "$W" for a token that is not the client's (so the fuzzer can write a
// reply that has the right id and the wrong token, but never forge the right reply). Then,
// unless told otherwise, the agent sends what a real one would: 0xFF and the right reply. After
// that it behaves: it answers every synchronisation at once and guest-info with a value unique
// to the input.
//
// Input: byte 0 is a control byte, the rest is the stream.
//   bit 0     the agent answers the synchronisation correctly after the stream; otherwise it
//             hangs up (bit 7 clear) or stays silent (bit 7 set) after it;
//   bit 1     qemu-ga's parse error for the client's 0xFF comes before the stream;
//   bit 2     small limits (256-byte messages, depth 4);
//   bits 3-5  the stream is sent in pieces of 2^(n-1) bytes (0: in one piece);
//   bit 6     before guest-info's reply, a second copy of the synchronisation's reply (stale).
//
// Checked: connect() succeeds only when the agent answered correctly, and otherwise throws
// ConnectError; after a successful connect(), execute("guest-info") returns exactly its own
// reply and ping() is true; nothing else escapes; nothing hangs (every wait is bounded: 200 ms
// for the synchronisation, 5 s for what must succeed, libFuzzer's -timeout for the rest);
// ASan/UBSan/LeakSanitizer see nothing.
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <qmp/qmp.hpp>

#include "../agent_requests.hpp"
#include "fuzz_peer.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::fuzz::fail;

namespace {

using Received = qmp::test::AgentRequest;
const std::string& parse_error = qmp::test::qga_parse_error;

// The agent's side of one connection, reading raw bytes (the client's 0xFF is no JSON).
class AgentConnection {
public:
    explicit AgentConnection(int fd) : fd_(fd) { }
    ~AgentConnection() { ::close(fd_); }
    AgentConnection(const AgentConnection&) = delete;
    AgentConnection& operator=(const AgentConnection&) = delete;

    // Quietly stops when the client has gone (allowed: it may have given up).
    void send(std::string_view bytes) { qmp::fuzz::send_all(fd_, bytes); }

    // The next request; nullopt when the client closed the connection.
    std::optional<Received> read()
    {
        for (;;) {
            Received received;
            if (take(received))
                return received;
            qmp::fuzz::wait_readable(fd_, "a request");
            char chunk[4096];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n == 0 || (n < 0 && errno != EINTR))
                return std::nullopt;
            if (n > 0)
                buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    void wait_for_close() { qmp::fuzz::wait_for_close(fd_); }

private:
    // Takes one complete request (compact JSON, maybe after 0xFF) from the buffer.
    bool take(Received& received)
    {
        try {
            return qmp::test::take_agent_request(buffer_, received, false);
        } catch (const std::exception& e) {
            fail(e.what());
        }
    }

    int fd_;
    std::string buffer_;
};

// One listening socket for the whole run.
qmp::fuzz::PeerListener& listener()
{
    static qmp::fuzz::PeerListener instance("qga.sock");
    return instance;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to)
{
    for (std::size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

std::string reply_to(const Received& sync)
{
    return json{{"return", sync.message["arguments"]["id"]}, {"id", sync.message["id"]}}.dump() +
        "\n";
}

void check_sync(const std::optional<Received>& sync)
{
    if (!sync->is_sync() || !sync->delimited)
        fail("expected 0xFF and guest-sync-delimited, got " + sync->message.dump());
    if (!sync->message["arguments"]["id"].is_number_unsigned() || !sync->message["id"].is_string())
        fail("a malformed guest-sync-delimited: " + sync->message.dump());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    static std::atomic<std::uint64_t> inputs{0};
    const std::uint64_t marker = ++inputs;
    const std::uint8_t control = data[0];
    const std::string stream(reinterpret_cast<const char*>(data + 1), size - 1);
    const bool answer = control & 1;
    const bool with_parse_error = control & 2;
    const bool small_limits = control & 4;
    const unsigned piece_bits = (control >> 3) & 7;
    const std::size_t piece =
        piece_bits == 0 ? stream.size() + 1 : std::size_t(1) << (piece_bits - 1);
    const bool stale_before_reply = control & 64;
    const bool silent = control & 128;

    std::thread agent([&] {
        AgentConnection connection(listener().accept_one());
        const auto sync = connection.read();
        if (!sync)
            fail("the client closed the connection before synchronising");
        check_sync(sync);
        std::string bytes = replace_all(stream, "$I", sync->message["id"].get<std::string>());
        bytes = replace_all(
            bytes, "$W", std::to_string(sync->message["arguments"]["id"].get<std::uint64_t>() + 1));
        if (with_parse_error)
            connection.send(parse_error);
        for (std::size_t at = 0; at < bytes.size(); at += piece)
            connection.send(std::string_view(bytes).substr(at, piece));
        if (!answer) {
            if (silent)
                connection.wait_for_close();
            return; // hang up
        }
        connection.send("\xff" + reply_to(*sync));
        // From here on, a well-behaved agent.
        for (;;) {
            const auto request = connection.read();
            if (!request)
                return; // the client is done (or gave up connecting)
            if (request->is_sync()) {
                check_sync(request);
                connection.send(parse_error + "\xff" + reply_to(*request));
                continue;
            }
            if (request->message.value("execute", "") != "guest-info")
                fail("unexpected request " + request->message.dump());
            if (request->delimited)
                fail("0xFF before a command that is no synchronisation");
            if (stale_before_reply)
                connection.send(reply_to(*sync));
            connection.send(
                json{{"return", {{"marker", marker}}}, {"id", request->message["id"]}}.dump() +
                "\n");
        }
    });

    qmp::GuestAgentOptions options;
    options.connect_timeout = 200ms;
    options.command_timeout = 5s;
    if (small_limits) {
        options.max_message_size = 256;
        options.max_nesting_depth = 4;
    }
    {
        qmp::GuestAgent client(options);
        bool connected = false;
        try {
            client.connect(listener().address());
            connected = true;
        } catch (const qmp::ConnectError&) {
            // allowed: no right answer, a protocol error, or too slow a machine
        } catch (const std::exception& e) {
            fail(std::string("connect() threw something other than ConnectError: ") + e.what());
        }
        if (connected && !answer)
            fail("connect() succeeded although the agent never answered correctly");
        if (connected != client.is_connected())
            fail("is_connected() disagrees with connect()");
        if (connected) {
            try {
                const json result = client.execute("guest-info");
                if (result != json{{"marker", marker}})
                    fail("guest-info got a reply that is not its own: " + result.dump());
                if (!client.ping(5s))
                    fail("ping() false although the agent answers");
            } catch (const std::exception& e) {
                fail(std::string("a synchronised client failed: ") + e.what());
            }
        }
        client.disconnect();
        if (client.is_connected())
            fail("still connected after disconnect()");
    }
    agent.join();
    return 0;
}
