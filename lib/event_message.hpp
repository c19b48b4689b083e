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

#include <optional>
#include <string>
#include <string_view>

#include <qmp/event.hpp>
#include <qmp/json.hpp>

namespace qmp::detail {

/// An event on its way from the reader to a consumer.
///
/// Thread safety: a plain value.
struct QueuedEvent {
    std::string name; ///< the "event" member, for filters by name and log messages
    std::string record; ///< what the parser saw (see classify_message()); may be empty if parsed
    std::optional<Event> parsed; ///< the event, once someone built it
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
