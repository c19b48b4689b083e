// SPDX-License-Identifier: MIT
// What a qmp::testing::Rule holds: when it applies and the actions it runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <qmp/json.hpp>

namespace qmp::testing::detail {

/// One step of a rule's script.
struct Action {
    enum class Kind { reply, error, error_without_id, emit, raw, delay, hang_up, reset };
    Kind kind;
    json value; // reply: the return value; emit: the event's data
    std::string name; // error: the class; emit: the event's name; raw: the bytes
    std::string text; // error: the description
    std::chrono::milliseconds pause{0};
};

/// A rule: shared by the Rule handles and the engine, guarded by the engine's mutex (which the
/// rule shares, so handles stay valid after the engine is gone).
struct RuleState {
    std::shared_ptr<std::mutex> mutex;
    bool on_connect = false; // runs when a client connects rather than for a command
    std::string command;
    std::optional<json> arguments; // a subset the command's arguments must contain
    std::optional<std::size_t> limit; // uses allowed; none: for ever
    std::size_t used = 0;
    std::vector<Action> actions;

    bool has_uses_left() const { return !limit || used < *limit; }
};

/// Whether \p value contains \p subset: every member of an object subset present with a value
/// that contains the subset's; other values equal.
bool contains(const json& value, const json& subset);

} // namespace qmp::testing::detail
