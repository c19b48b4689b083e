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
/// A message that lies whole within the bytes passed to feed() is handed out as a view of those
/// bytes, without a copy; only the beginning of a message still incomplete at the end of feed()
/// is kept. Scanning resumes where it stopped, so a large message arriving in many reads costs
/// one pass. Memory is bounded by max_message_size: a message larger than that is a
/// FramingError, as is nesting deeper than max_depth (checked here so that the parser never
/// recurses that deep).
///
/// Thread safety: thread-bound (owned by the reader thread).
class Framer {
public:
    Framer(std::size_t max_message_size, std::size_t max_depth);

    /// Takes \p size bytes and calls \p on_message(std::string_view) once per complete
    /// message, in order. The view is valid only during the call.
    /// If on_message throws, the exception propagates and the bytes after that message are kept:
    /// the next feed() (even of 0 bytes) resumes with them.
    /// \throws FramingError; the framer is then unusable.
    template <typename OnMessage>
    void feed(const char* data, std::size_t size, OnMessage&& on_message)
    {
        if (!unread_.empty()) {
            feed_unread(data, size, on_message);
            return;
        }
        const char* next = data;
        const char* const end = data + size;
        std::string_view message;
        try {
            while (next_message(next, end, message))
                on_message(message);
        } catch (...) {
            keep_unread(next, end);
            throw;
        }
    }

    /// Bytes received but not yet part of a complete message.
    std::size_t buffered() const { return partial_.size() + unread_.size(); }

    /// Forgets any incomplete message: the stream starts afresh (the guest agent's 0xFF).
    void reset()
    {
        partial_.clear();
        unread_.clear();
        depth_ = 0;
        in_string_ = escaped_ = handed_out_ = false;
    }

private:
    bool next_message(const char*& next, const char* end, std::string_view& message);
    const char* scan(const char* next, const char* end);
    void keep_unread(const char* next, const char* end);

    template <typename OnMessage>
    void feed_unread(const char* data, std::size_t size, OnMessage& on_message)
    {
        // Rare: an earlier on_message threw. Those bytes come first.
        std::string bytes;
        bytes.swap(unread_);
        bytes.append(data, size);
        feed(bytes.data(), bytes.size(), on_message);
    }

    std::string partial_; // the beginning of an incomplete message, all of it scanned
    std::string unread_; // bytes not yet scanned, left when on_message threw
    std::size_t max_message_size_;
    std::size_t max_depth_;
    // Scan state at the end of partial_ (depth_ == 0: between messages).
    std::size_t depth_ = 0;
    bool in_string_ = false;
    bool escaped_ = false;
    bool handed_out_ = false; // partial_ holds the complete message just handed out
};

} // namespace qmp::detail
