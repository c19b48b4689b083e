// SPDX-License-Identifier: MIT
// qmp::testing::Rule: a handle that appends actions to a shared RuleState.
#include <qmp/testing.hpp>

#include <utility>

#include "rule_state.hpp"

namespace qmp::testing {

using detail::Action;

namespace {

Rule& append(Rule& rule, detail::RuleState& state, Action action)
{
    std::lock_guard<std::mutex> lock(*state.mutex);
    state.actions.push_back(std::move(action));
    return rule;
}

} // namespace

Rule::Rule(std::shared_ptr<detail::RuleState> state) : state_(std::move(state))
{
}

Rule& Rule::reply(json value)
{
    return append(*this, *state_, Action{Action::Kind::reply, std::move(value), {}, {}, {}});
}

Rule& Rule::error(std::string error_class, std::string description)
{
    return append(*this, *state_,
        Action{Action::Kind::error, nullptr, std::move(error_class), std::move(description), {}});
}

Rule& Rule::error_without_id(std::string error_class, std::string description)
{
    return append(*this, *state_,
        Action{Action::Kind::error_without_id, nullptr, std::move(error_class),
            std::move(description), {}});
}

Rule& Rule::emit(std::string name, json data)
{
    return append(
        *this, *state_, Action{Action::Kind::emit, std::move(data), std::move(name), {}, {}});
}

Rule& Rule::raw(std::string bytes)
{
    return append(*this, *state_, Action{Action::Kind::raw, nullptr, std::move(bytes), {}, {}});
}

Rule& Rule::delay(std::chrono::milliseconds pause)
{
    return append(*this, *state_, Action{Action::Kind::delay, nullptr, {}, {}, pause});
}

Rule& Rule::no_reply()
{
    return *this;
}

Rule& Rule::hang_up()
{
    return append(*this, *state_, Action{Action::Kind::hang_up, nullptr, {}, {}, {}});
}

Rule& Rule::reset()
{
    return append(*this, *state_, Action{Action::Kind::reset, nullptr, {}, {}, {}});
}

Rule& Rule::times(std::size_t n)
{
    std::lock_guard<std::mutex> lock(*state_->mutex);
    state_->limit = n;
    return *this;
}

std::size_t Rule::uses() const
{
    std::lock_guard<std::mutex> lock(*state_->mutex);
    return state_->used;
}

namespace detail {

bool contains(const json& value, const json& subset)
{
    if (!subset.is_object())
        return value == subset;
    if (!value.is_object())
        return false;
    for (const auto& [key, wanted] : subset.items()) {
        const auto it = value.find(key);
        if (it == value.end() || !contains(*it, wanted))
            return false;
    }
    return true;
}

} // namespace detail

} // namespace qmp::testing
