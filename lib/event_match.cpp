// SPDX-License-Identifier: MIT
// Matching events by name and by a subset of their data, and the router filters built from it.
#include <qmp/error.hpp>
#include <qmp/event_match.hpp>

#include <algorithm>

#include "event_match_filter.hpp"

namespace qmp {

namespace {

// Every member of \p pattern is in \p value with a matching value; non-objects are equal.
bool contains(const json& pattern, const json& value) noexcept
{
    if (!pattern.is_object())
        return pattern == value;
    if (!value.is_object())
        return false;
    for (const auto& [key, wanted] : pattern.items()) {
        const auto found = value.find(key);
        if (found == value.end() || !contains(wanted, *found))
            return false;
    }
    return true;
}

} // namespace

EventMatch::EventMatch(std::string name, json data) : name_(std::move(name)), data_(std::move(data))
{
    if (name_.empty())
        throw UsageError("qmp: an EventMatch needs an event name");
    if (data_.is_null())
        data_ = json::object();
    if (!data_.is_object())
        throw UsageError("qmp: the data of EventMatch{\"" + name_ +
            "\"} must be a JSON object (the members the event's data must have), not " +
            data_.dump());
}

bool EventMatch::matches(const Event& event) const noexcept
{
    return event.name == name_ && (data_.empty() || contains(data_, event.data));
}

std::string EventMatch::to_string() const
{
    return data_.empty() ? name_ : name_ + " " + data_.dump();
}

namespace detail {

EventRouter::Filter match_filter(std::vector<EventMatch> matches)
{
    if (matches.empty())
        throw UsageError("qmp: waiting for an event needs at least one EventMatch");
    EventRouter::Filter filter;
    for (const EventMatch& match : matches)
        filter.names.push_back(match.name());
    std::sort(filter.names.begin(), filter.names.end());
    filter.names.erase(std::unique(filter.names.begin(), filter.names.end()), filter.names.end());
    const bool by_name_only = std::all_of(matches.begin(), matches.end(),
        [](const EventMatch& match) { return match.data().empty(); });
    if (!by_name_only)
        filter.predicate = [matches = std::move(matches)](const Event& event) {
            return std::any_of(matches.begin(), matches.end(),
                [&](const EventMatch& match) { return match.matches(event); });
        };
    return filter;
}

std::string describe(const std::vector<EventMatch>& matches)
{
    std::string text;
    for (std::size_t i = 0; i < matches.size(); ++i) {
        if (i > 0)
            text += i + 1 == matches.size() ? " or " : ", ";
        text += matches[i].to_string();
    }
    return text;
}

} // namespace detail

} // namespace qmp
