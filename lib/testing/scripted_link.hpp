// SPDX-License-Identifier: MIT
// A connection served by a script (FakeEndpoint::serve_with()): what FakeConnection does, over
// the engine's socket, stop pipe and records.
#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <string_view>

#include <qmp/json.hpp>

#include "framer.hpp"

namespace qmp::testing::detail {

class Engine;

/// Thrown into a script when the fake interrupts it (stop, hang_up(), reset()). Not derived
/// from std::exception, so that a script catching qmp::Error or std::exception lets it through.
struct ScriptInterrupted {
    bool abrupt = false; ///< reset() asked for it
};

/// Thread safety: thread-bound (the serving thread).
class ScriptedLink {
public:
    ScriptedLink(Engine& engine, int fd);

    void send(std::string_view bytes);
    std::string terminated(const json& message) const;
    json read_message(std::chrono::milliseconds timeout);
    bool wait_for_close(std::chrono::milliseconds timeout);
    void close(bool abrupt);
    int fd() const { return fd_; }

private:
    /// Waits until the socket is readable; false on timeout. \throws ScriptInterrupted.
    bool wait_readable(std::chrono::milliseconds timeout);
    void require_open() const;
    /// Frames \p size bytes from the client into received_.
    void feed(const char* data, std::size_t size);

    Engine& engine_;
    int fd_; // owned by the engine; -1 once closed
    qmp::detail::Framer framer_{64 * 1024 * 1024, 100000};
    std::deque<json> received_;
};

} // namespace qmp::testing::detail
