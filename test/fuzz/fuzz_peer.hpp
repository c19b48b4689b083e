// SPDX-License-Identifier: MIT
// The fuzzers' QMP peer: one listening unix socket in a private temporary directory for the
// whole run, and per input one accepted connection served by a script on a thread of its own.
// The client under test reaches it through the public API (Client::connect("unix:...")).
//
// Every wait is bounded; a peer that waits too long means the client stopped talking to it,
// which is a finding: the fuzzer aborts with a message instead of hanging.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include <qmp/json.hpp>

#include "framer.hpp"

namespace qmp::fuzz {

/// Stops the run with \p what on stderr: libFuzzer reports it as a crash with the input.
[[noreturn]] void fail(const std::string& what);

/// Waits until \p fd is readable; fails the run (naming \p what) after peer_patience.
void wait_readable(int fd, const char* what);

/// Writes \p bytes to \p fd; quietly stops when the client has gone (that is allowed).
void send_all(int fd, std::string_view bytes);

/// Reads and discards from \p fd until the client closes the connection (bounded per read).
void wait_for_close(int fd);

/// The server side of one connection.
class PeerConnection {
public:
    explicit PeerConnection(int fd) : fd_(fd), framer_(1 << 20, 64) { }
    ~PeerConnection();
    PeerConnection(const PeerConnection&) = delete;
    PeerConnection& operator=(const PeerConnection&) = delete;

    /// Writes \p bytes; quietly stops when the client has gone (that is allowed).
    void send(std::string_view bytes);
    /// Reads the next message the client sent; null when the client closed the connection.
    json read_message();
    /// Ends our direction of the stream (the client reads EOF) but keeps reading.
    void shut_down_writing();
    /// Reads and discards until the client closes the connection.
    void wait_for_close();

private:
    int fd_;
    detail::Framer framer_; // the client only sends compact JSON; framing keeps this robust
    std::deque<json> received_;
};

/// The listening socket, made once per process.
class PeerListener {
public:
    /// Listens on \p socket_name in a new private directory.
    explicit PeerListener(const std::string& socket_name = "qmp.sock");
    ~PeerListener();
    PeerListener(const PeerListener&) = delete;
    PeerListener& operator=(const PeerListener&) = delete;

    /// "unix:/tmp/qmp-fuzz-XXXXXX/qmp.sock"
    const std::string& address() const { return address_; }

    /// Accepts one connection (waiting at most peer_patience) and returns its descriptor.
    int accept_one();

    /// Accepts one connection on a new thread and runs \p script on it. The returned thread
    /// must be joined; the script's exceptions are failures.
    std::thread serve_one(std::function<void(PeerConnection&)> script);

private:
    std::string directory_;
    std::string address_;
    int fd_ = -1;
};

/// The peer's bound on every wait: generous, because the machine may be loaded.
inline constexpr std::chrono::seconds peer_patience{20};

} // namespace qmp::fuzz
