// SPDX-License-Identifier: MIT
// Hiding secrets in requests before they are written to a log.
#pragma once

#include <string>

#include <qmp/json.hpp>

namespace qmp::detail {

/// What a redacted value is replaced with.
inline constexpr const char* redacted_value = "<redacted>";

/// Replaces, in \p arguments of \p command, the values that carry secrets with
/// redacted_value: any member named "password" or "passphrase" at any depth (set_password,
/// change-vnc-password, qemu-ga's guest-set-user-password), the "data" of an object-add whose
/// qom-type names a secret, qemu-ga's file and process input ("buf-b64", "input-data"), and an
/// HMP command line (human-monitor-command) that mentions a password or a secret, after its
/// first word. \returns whether anything was replaced.
///
/// Thread safety: a pure function.
bool redact_secrets(const std::string& command, json& arguments);

} // namespace qmp::detail
