// SPDX-License-Identifier: MIT
// The real-QEMU peer: one qemu-system-x86_64 -machine none with extra QMP monitors, one per side
// (QMP serves one client per monitor and both sides stay connected while they alternate), and one
// for phase 8's burst of stop/cont commands.
#pragma once

#include <memory>
#include <string>

#include <qmp/machine.hpp>

namespace bench {

struct QemuPeer {
    std::unique_ptr<qmp::Machine> machine;
    std::string library_socket;
    std::string baseline_socket;
    std::string burst_socket; // phase 8 generates its events here
};

/// Starts QEMU with its monitors in \p dir and stores its query-qmp-schema return value, byte
/// for byte, in \p schema_path, where the fake server serves it from.
/// \throws qmp::Error when QEMU cannot be started.
QemuPeer start_qemu(const std::string& dir, const std::string& schema_path);

} // namespace bench
