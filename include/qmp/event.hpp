// SPDX-License-Identifier: MIT
/// \file
/// Plain values the client hands out: the greeting QEMU sends on connect, and asynchronous events.
///
/// Thread safety: plain values; a const object may be read from any number of threads.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <qmp/json.hpp>

namespace qmp {

/// The greeting QEMU sends when a client connects:
/// `{"QMP": {"version": {...}, "capabilities": ["oob"]}}`.
struct Greeting {
    /// `{"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": "..."}` as QEMU sent it.
    json version;
    /// Capabilities QEMU offered, e.g. {"oob"}.
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
};

} // namespace qmp
