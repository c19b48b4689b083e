// SPDX-License-Identifier: MIT
#include "framer.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace qmp::detail {

namespace {

std::string describe_byte(unsigned char byte)
{
    char text[48];
    if (byte >= 0x20 && byte < 0x7f)
        std::snprintf(text, sizeof text, "'%c' (0x%02x)", byte, byte);
    else
        std::snprintf(text, sizeof text, "0x%02x", byte);
    return text;
}

}  // namespace

Framer::Framer(std::size_t max_message_size, std::size_t max_depth)
    : max_message_size_(max_message_size), max_depth_(max_depth)
{
}

bool Framer::next_message(std::size_t& begin, std::size_t& end)
{
    const char* data = buffer_.data();
    const std::size_t size = buffer_.size();
    std::size_t i = scan_;

    while (i < size) {
        const char c = data[i];
        if (depth_ == 0) {
            // Between messages only whitespace may appear.
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                ++i;
                consumed_ = i;
                continue;
            }
            if (c != '{' && c != '[')
                throw FramingError("unexpected byte " + describe_byte(static_cast<unsigned char>(c)) +
                                   " between messages (expected a JSON object)");
            // The opening bracket is level 1 and counts against the limit like any other.
            if (max_depth_ == 0)
                throw FramingError("message nests deeper than 0 levels");
            message_start_ = i;
            depth_ = 1;
            ++i;
            continue;
        }
        if (in_string_) {
            if (escaped_) {
                escaped_ = false;
                ++i;
                continue;
            }
            // Skip ordinary string bytes with the C library's vectorised search: most of a
            // large reply is string contents. buffer_ is a std::string, so data[size] is a NUL
            // that stops the search; a NUL inside the data just stops it early.
            i += std::strcspn(data + i, "\"\\");
            if (i >= size)
                break;
            if (data[i] == '\\')
                escaped_ = true;
            else if (data[i] == '"')
                in_string_ = false;
            ++i;
            continue;
        }
        switch (c) {
        case '"':
            in_string_ = true;
            break;
        case '{':
        case '[':
            if (++depth_ > max_depth_)
                throw FramingError("message nests deeper than " + std::to_string(max_depth_) +
                                   " levels");
            break;
        case '}':
        case ']':
            if (--depth_ == 0) {
                if (i + 1 - message_start_ > max_message_size_)
                    throw FramingError("message exceeds the limit of " +
                                       std::to_string(max_message_size_) + " bytes");
                begin = message_start_;
                end = i + 1;
                scan_ = consumed_ = end;
                return true;
            }
            break;
        default:
            // Between structural characters (numbers, literals, separators, white space).
            i += std::max<std::size_t>(1, std::strcspn(data + i, "\"{}[]"));  // a NUL: step over it
            continue;
        }
        ++i;
    }
    scan_ = i;
    if (depth_ > 0 && scan_ - message_start_ > max_message_size_)
        throw FramingError("message exceeds the limit of " + std::to_string(max_message_size_) +
                           " bytes");
    return false;
}

void Framer::compact()
{
    // Drop what was handed out, keeping the partial message (if any) at the front.
    if (consumed_ == 0)
        return;
    buffer_.erase(0, consumed_);
    scan_ -= consumed_;
    if (depth_ > 0)
        message_start_ -= consumed_;
    consumed_ = 0;
}

}  // namespace qmp::detail
