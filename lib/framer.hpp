// SPDX-License-Identifier: MIT
// Finds where each JSON message ends in the byte stream a peer sends.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace qmp::detail {

/// The stream cannot be split into messages (bytes outside a JSON object, a message too large
/// or too deep). The connection cannot continue after it.
class FramingError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Splits a byte stream into top-level JSON values, whatever the line breaks: QEMU ends each
/// message with "\r\n", qemu-ga with "\n", and -qmp-pretty spreads one message over many lines.
/// It tracks strings, escapes and nesting, so it never needs a newline and never splits inside
/// a string. It does not validate JSON; the parser does that for each complete message.
///
/// Scanning resumes where it stopped, so a large message arriving in many reads costs one pass.
/// Memory is bounded by max_message_size: a message larger than that is a FramingError, as is
/// nesting deeper than max_depth (checked here so that the parser never recurses that deep).
///
/// Thread safety: thread-bound (owned by the reader thread).
class Framer {
public:
    Framer(std::size_t max_message_size, std::size_t max_depth);

    /// Appends \p size bytes and calls \p on_message(std::string_view) once per complete
    /// message, in order. The view is valid only during the call.
    /// \throws FramingError; the framer is then unusable.
    template <typename OnMessage>
    void feed(const char* data, std::size_t size, OnMessage&& on_message)
    {
        buffer_.append(data, size);
        std::size_t begin = 0, end = 0;
        while (next_message(begin, end))
            on_message(std::string_view(buffer_.data() + begin, end - begin));
        compact();
    }

    /// Bytes received but not yet part of a complete message.
    std::size_t buffered() const { return buffer_.size(); }

private:
    bool next_message(std::size_t& begin, std::size_t& end);
    void compact();

    std::string buffer_;
    std::size_t max_message_size_;
    std::size_t max_depth_;
    std::size_t consumed_ = 0;       // bytes of buffer_ already handed out or skipped
    std::size_t scan_ = 0;           // next byte to examine
    std::size_t message_start_ = 0;  // valid while depth_ > 0
    std::size_t depth_ = 0;
    bool in_string_ = false;
    bool escaped_ = false;
};

}  // namespace qmp::detail
