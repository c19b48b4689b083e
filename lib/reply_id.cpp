// SPDX-License-Identifier: MIT
#include "reply_id.hpp"

namespace qmp::detail {

namespace {

bool is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

} // namespace

std::optional<std::string_view> reply_id_at_end(std::string_view message)
{
    constexpr std::string_view first_key = "\"return\"";
    constexpr std::string_view last_key = "\"id\"";
    const char* const text = message.data();

    // From the front: '{', then the key "return" and its ':'.
    std::size_t front = 0;
    const std::size_t size = message.size();
    const auto skip_space_forward = [&] {
        while (front < size && is_space(text[front]))
            ++front;
    };
    skip_space_forward();
    if (front == size || text[front] != '{')
        return std::nullopt;
    ++front;
    skip_space_forward();
    if (message.compare(front, first_key.size(), first_key) != 0)
        return std::nullopt;
    front += first_key.size();
    skip_space_forward();
    if (front == size || text[front] != ':')
        return std::nullopt;
    ++front;

    // From the back: '}', then a string value, ':', the key "id" and the ',' before it. The
    // Framer ended the message at the bracket closing the object, outside any string.
    std::size_t back = size; // one past the character looked at next
    const auto skip_space_back = [&] {
        while (back > front && is_space(text[back - 1]))
            --back;
    };
    const auto take_back = [&](char expected) {
        if (back <= front || text[back - 1] != expected)
            return false;
        --back;
        return true;
    };
    skip_space_back();
    if (!take_back('}'))
        return std::nullopt;
    skip_space_back();
    if (!take_back('"'))
        return std::nullopt;
    // In valid JSON the character before the closing '}' ends the last member's value, so this
    // quote closes a string. Inside a string every '"' is escaped, so the first '"' found going
    // back is its opening quote unless a backslash precedes it; a value holding any backslash is
    // left to the parser, as is one with control characters (invalid JSON).
    const std::size_t value_end = back;
    while (back > front && text[back - 1] != '"') {
        const auto c = static_cast<unsigned char>(text[back - 1]);
        if (c == '\\' || c < 0x20)
            return std::nullopt;
        --back;
    }
    const std::size_t value_begin = back;
    if (!take_back('"') || (back > front && text[back - 1] == '\\'))
        return std::nullopt;
    skip_space_back();
    if (!take_back(':'))
        return std::nullopt;
    skip_space_back();
    if (back < front + last_key.size() ||
        message.compare(back - last_key.size(), last_key.size(), last_key) != 0)
        return std::nullopt;
    back -= last_key.size();
    skip_space_back();
    // A ',' (not a backslash of a longer key such as "x\"id"): "id" is a member of its own, after
    // "return".
    if (!take_back(','))
        return std::nullopt;
    return message.substr(value_begin, value_end - value_begin);
}

} // namespace qmp::detail
