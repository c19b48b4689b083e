// SPDX-License-Identifier: MIT
// Events travel from the reader thread to the thread that takes them as a compact record, and
// that thread builds their tree.
//
// The reader validates and classifies each message in one SAX pass, and for an event records
// what the parser saw (keys, strings unescaped, numbers converted) in one flat buffer: no tree,
// one allocation. The thread that pops the event builds its json tree from that record, which is
// much cheaper than parsing (nothing to scan, unescape or convert). Every allocation of the tree
// and, usually, every free then happen on one thread, instead of allocating on the reader's CPU
// and freeing on the consumer's, which is what a malloc handles worst; and the reader is free for
// the next message sooner. Small replies are parsed by the reader, which needs their id to route
// them; large ones are routed by their text and parsed by their caller (reply_id.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <qmp/event.hpp>
#include <qmp/json.hpp>

namespace qmp::detail {

/// The bytes of an event's record (see classify_message()). Up to inline_capacity of them are
/// kept in the object itself, so most events travel from the reader to their consumer without a
/// heap allocation: one made on the reader's CPU and freed on the consumer's is what glibc's
/// malloc handles worst (perf showed a third of the event path in malloc and free for it).
///
/// Thread safety: a plain value.
class EventRecord {
public:
    /// QEMU's STOP event takes 61 bytes, JOB_STATUS_CHANGE about 100.
    static constexpr std::size_t inline_capacity = 112;

    EventRecord() = default;
    EventRecord(const EventRecord& other) { append(other.view()); }
    EventRecord(EventRecord&& other) noexcept { take(other); }
    EventRecord& operator=(const EventRecord& other);
    EventRecord& operator=(EventRecord&& other) noexcept;
    ~EventRecord() = default;

    std::string_view view() const
    {
        return on_heap_ ? std::string_view(heap_) : std::string_view(inline_, inline_size_);
    }
    std::size_t size() const { return on_heap_ ? heap_.size() : inline_size_; }
    bool empty() const { return size() == 0; }

    void push_back(char byte)
    {
        if (!on_heap_ && inline_size_ < inline_capacity)
            inline_[inline_size_++] = byte;
        else
            to_heap(1).push_back(byte);
    }
    void append(std::string_view bytes);
    /// Expects \p size bytes in all: if the bytes outgrow the inline space (now or later), the
    /// heap block is made that large at once. Bytes that fit stay inline.
    void reserve(std::size_t size);
    void clear();

private:
    /// The heap string, holding the inline bytes once they moved there, with room for
    /// \p more bytes.
    std::string& to_heap(std::size_t more);
    void take(EventRecord& other) noexcept;

    char inline_[inline_capacity]; // only the first inline_size_ bytes are ever read
    std::uint8_t inline_size_ = 0;
    bool on_heap_ = false;
    std::size_t expected_size_ = 0; // reserve()'s, for the heap block once the bytes spill
    std::string heap_;
};

inline bool operator==(const EventRecord& a, const EventRecord& b)
{
    return a.view() == b.view();
}
inline bool operator!=(const EventRecord& a, const EventRecord& b)
{
    return !(a == b);
}

/// An event on its way from the reader to a consumer.
///
/// Thread safety: a plain value.
struct QueuedEvent {
    EventRecord record; ///< what the parser saw (see classify_message()); may be empty if parsed
    std::optional<Event> parsed; ///< the event, once someone built it
    /// Where the event's name is in \ref record (its bytes there are the name, unescaped).
    std::uint32_t name_at = 0, name_size = 0;

    /// The "event" member, for filters by name and log messages.
    std::string_view name() const
    {
        if (record.empty())
            return parsed ? std::string_view(parsed->name) : std::string_view();
        return record.view().substr(name_at, name_size);
    }

    /// An event already built, with no record.
    static QueuedEvent built(Event&& event);
    /// \p event's record alone (not its built event, if any): what a copy for another queue
    /// needs, cheaply.
    static QueuedEvent record_of(const QueuedEvent& event);
};

/// What classify_message() found in a message.
struct MessageClass {
    enum class Kind {
        /// Valid JSON: an object whose "event" member (the last one, if repeated) is a string,
        /// and whose other top-level members are only "timestamp" and "data".
        event,
        /// Anything else, possibly not even valid JSON: the caller parses it into a tree as
        /// before, which reports what is wrong with it.
        other,
        /// Not valid JSON; \ref error says why.
        malformed,
    };
    Kind kind = Kind::other;
    QueuedEvent event; ///< kind == event: ready to queue
    std::string error; ///< kind == malformed: the parser's description
};

/// Classifies one framed message. It stops at the first top-level member that no event has
/// ("return", "id", "QMP", ...), so a reply costs little more than its first token; an event is
/// validated whole by nlohmann's parser, the same one that parses everything else.
///
/// QEMU's own spelling of an event is read without the parser (see CanonicalEventReader in
/// event_message.cpp), into the record the parser would have made, byte for byte.
MessageClass classify_message(std::string_view text);

/// classify_message() always through nlohmann's SAX parser; for tests comparing the two.
MessageClass classify_message_by_parser(std::string_view text);

/// The event of \p text if QEMU's own spelling of one, recorded as classify_message_by_parser()
/// would; nothing otherwise (then only the parser can tell what the text is).
std::optional<QueuedEvent> read_canonical_event(std::string_view text);

/// The Event of \p message, an object whose "event" member is a string.
/// \throws qmp::Error (an internal error) if that member is missing or not a string.
Event event_from_message(json&& message);

/// Builds \p queued's event in place unless already built, and returns it.
/// \throws qmp::Error (an internal error) if the record is damaged: impossible for one
/// classify_message() made.
const Event& parse_in_place(QueuedEvent& queued);

/// Takes the event out of \p queued, building it if nobody did yet.
/// \throws qmp::Error as parse_in_place().
Event take_event(QueuedEvent&& queued);

} // namespace qmp::detail
