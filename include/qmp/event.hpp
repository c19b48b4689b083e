// SPDX-License-Identifier: MIT
/// \file
/// Plain values the client hands out: the greeting QEMU sends on connect, and asynchronous events.
///
/// \context Each is \plainvalue: a const object may be read from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <qmp/json.hpp>

namespace qmp {

/// The version a QMP server states in its greeting.
struct Version {
    int major = 0; ///< 7 for QEMU 7.2.22
    int minor = 0; ///< 2 for QEMU 7.2.22
    int micro = 0; ///< 22 for QEMU 7.2.22 (QEMU's own numbering of a stable release)
    /// The distribution's package version, e.g. "Debian 1:7.2+dfsg-7+deb12u18+b3"; may be empty.
    std::string package;
};

/// The greeting QEMU sends when a client connects:
/// `{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": "..."},
/// "capabilities": ["oob"]}}`.
struct Greeting {
    /// The server's version (zeros for members the greeting lacks).
    Version version;
    /// Capabilities the server offered, e.g. {"oob"}.
    std::vector<std::string> capabilities;
    /// Whether "oob" was offered *and* negotiated for this session.
    bool oob_enabled = false;
    /// The whole greeting message.
    json raw;
};

/// An asynchronous event:
/// `{"event": "STOP", "data": {...}, "timestamp": {"seconds": S, "microseconds": U}}`.
struct Event {
    /// The event name, e.g. "STOP", "SHUTDOWN", "JOB_STATUS_CHANGE".
    std::string name;
    /// The event's "data" member; null when QEMU sent none.
    json data;
    /// When QEMU emitted the event. The epoch (a default-constructed time_point) when QEMU
    /// could not read its clock (it then sends -1/-1) or sent no timestamp.
    std::chrono::system_clock::time_point timestamp;
    /// The whole message as received, for members this struct does not model.
    json raw;
    /// The event's place among every event this Client received: 1 for the first, one more for
    /// each next, across disconnect(), connect() and reconnection. The same event has the same
    /// number in events(), every listener and every callback, so a program can order events
    /// seen through different queues and tell a new event from one it has already handled.
    /// Gaps in one queue are events it did not take (or dropped when full).
    std::uint64_t sequence = 0;
};

} // namespace qmp
