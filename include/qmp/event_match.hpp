// SPDX-License-Identifier: MIT
/// \file
/// qmp::EventMatch: which events a wait or a listener takes, by name and by part of their data.
#pragma once

#include <string>

#include <qmp/event.hpp>
#include <qmp/export.hpp>
#include <qmp/json.hpp>

namespace qmp {

/// An event name plus, optionally, members the event's data must have.
///
///     qmp::EventMatch{"STOP"}                                     // every STOP
///     qmp::EventMatch{"MIGRATION", {{"status", "completed"}}}     // MIGRATION, completed only
///     qmp::EventMatch{"DEVICE_DELETED", {{"device", "net0"}}}     // net0's, not another's
///
/// An event matches when its name equals name() and every member of data() is in the event's
/// "data" with an equal value. Objects are compared the same way, member by member, at any
/// depth (the event may have more members than the match names); arrays, strings, numbers,
/// booleans and null must be equal as a whole (numbers by value: 1 matches 1.0). An empty
/// data() matches by name only, also events that carry no data at all.
///
/// Client::listen(), Client::wait_for_event() and Client::execute_and_wait() take one match or
/// several; matching runs inside the library as events are read and never calls user code.
///
/// \context \plainvalue: a const object may be read from any number of threads.
class QMP_EXPORT EventMatch {
public:
    /// Matches events named \p name whose data contains \p data (a JSON object; null or empty
    /// for any data).
    /// \throws UsageError if \p name is empty or \p data is neither null nor an object.
    explicit EventMatch(std::string name, json data = json::object());

    /// The event name, e.g. "MIGRATION".
    const std::string& name() const noexcept { return name_; }

    /// The members the event's data must contain (an object, empty for "any data").
    const json& data() const noexcept { return data_; }

    /// Whether \p event matches (see the class description). Never throws.
    bool matches(const Event& event) const noexcept;

    /// "MIGRATION {"status":"completed"}", or just the name when data() is empty: for messages.
    std::string to_string() const;

private:
    std::string name_;
    json data_;
};

} // namespace qmp
