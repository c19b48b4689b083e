// SPDX-License-Identifier: MIT
// A scripted, in-process QMP peer for what real QEMU cannot be made to do: garbage, hang-ups in
// the middle of a message, huge or deep messages, replies out of order, silence.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <qmp/json.hpp>
#include <qmp/options.hpp>

#include "process_probe.hpp"

namespace qmp::detail {
class Framer;
}
namespace qmp::testing::detail {
class AcceptLoop;
}

namespace qmp::test {

using namespace std::chrono_literals;

/// The server's side of one accepted connection, handed to the script.
/// Every blocking member has a timeout and throws std::runtime_error when it passes, so a
/// script cannot hang a test.
class FakePeer {
public:
    explicit FakePeer(int fd);
    ~FakePeer();

    /// Writes raw bytes.
    void send(std::string_view bytes);
    /// Writes \p message compactly followed by "\r\n", as QEMU does.
    void send_json(const json& message);
    /// Sends QEMU 7.2's greeting (capabilities ["oob"] unless \p capabilities says otherwise).
    void send_greeting(const json& capabilities = json::array({"oob"}));
    /// Sends an event with a timestamp.
    void send_event(const std::string& name, const json& data = nullptr);

    /// Reads the next complete JSON message the client sent.
    /// \throws std::runtime_error on timeout or when the client closed the connection.
    json read_message(std::chrono::milliseconds timeout = 5s);
    /// Reads a command and answers it with {"return": \p value, "id": ...}; returns the command.
    json answer(const json& value = json::object());
    /// Replies {"return": value} with \p command's id.
    void reply(const json& command, const json& value = json::object());
    /// Greeting, then read qmp_capabilities and accept it; returns the negotiation command.
    json handshake(const json& capabilities = json::array({"oob"}));

    /// Waits until the client closes the connection (EOF); false on timeout.
    bool wait_for_close(std::chrono::milliseconds timeout = 5s);

    /// Closes the connection gracefully (FIN).
    void close();
    /// Closes the connection with a reset (RST: SO_LINGER 0).
    void reset();

    int fd() const { return fd_; }

private:
    int fd_;
    std::unique_ptr<detail::Framer> framer_;
    std::deque<json> received_;
};

/// Listens on a unix socket in a fresh temporary directory and runs \p script on each accepted
/// connection in turn, on its own thread. Exceptions thrown by the script are recorded and
/// reported by the destructor as a test failure.
///
/// The imperative counterpart of qmp::testing::FakeQemu, for what rules cannot say (replies out
/// of order, reading several commands before answering, huge or deep messages): the socket, the
/// accepting thread and the stop are FakeQemu's own (testing::detail::AcceptLoop), and so are
/// the greeting and the interruptible waits.
class FakeServer {
public:
    using Script = std::function<void(FakePeer&)>;

    /// Starts listening at once unless \p listen_now is false (see listen()).
    explicit FakeServer(Script script, bool listen_now = true);
    ~FakeServer();

    FakeServer(const FakeServer&) = delete;
    FakeServer& operator=(const FakeServer&) = delete;

    /// Starts listening (for tests of clients that connect before the server is up).
    void listen();

    /// "unix:/tmp/qmp-XXXXXX/qmp.sock"
    std::string address() const;
    const std::string& path() const;
    const std::string& directory() const;

    /// Connections accepted so far.
    int connections() const { return connections_; }
    /// Waits until \p n scripts have finished; false on timeout.
    bool wait_scripts_done(int n, std::chrono::milliseconds timeout = 10s);

private:
    void serve(int fd);

    Script script_;
    std::atomic<int> connections_{0};
    std::mutex done_mutex_;
    std::condition_variable done_;
    int scripts_done_ = 0;
    std::mutex errors_mutex_;
    std::vector<std::string> errors_;
    std::unique_ptr<testing::detail::AcceptLoop> loop_; // last: its thread uses the rest
};

/// Options for tests against the fake server: bounded waits, short enough that a lost reply
/// fails the test quickly, long enough for sanitizer builds on a loaded machine.
inline qmp::ClientOptions quick_options(std::chrono::milliseconds command_timeout = 5s)
{
    qmp::ClientOptions options;
    options.connect_timeout = 5s;
    options.command_timeout = command_timeout;
    return options;
}

/// A greeting like QEMU 7.2's.
json qemu_greeting(const json& capabilities = json::array({"oob"}));

} // namespace qmp::test
