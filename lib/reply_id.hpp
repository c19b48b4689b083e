// SPDX-License-Identifier: MIT
// Routing a large reply without parsing it, so that its caller's thread can parse it.
//
// A reply's json tree is freed by the thread that called execute(). When the reader thread
// allocates that tree instead, glibc's malloc pays for it on the next reply: the reader's arena
// is left full of chunks freed by another thread, and a 207 KB query-qmp-schema reply took
// 1.2-1.4x as long to receive and parse as a plain blocking client's (see README, Performance).
// So the reader hands a large reply to its caller as text, and the caller parses it: every
// allocation and every free of the tree on one thread, as in a single-threaded client.
//
// To route it, the reader needs the reply's id without parsing: QEMU writes a successful reply
// as {"return": VALUE, "id": ID}, with the id last, so the id is read from the message's end.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace qmp::detail {

/// Replies at least this large are parsed by the thread that waits for them (when
/// reply_id_at_end() finds their id); smaller ones by the reader, where the copy of the text
/// would cost more than it saves.
constexpr std::size_t caller_parse_threshold = 4 * 1024;

/// The id of \p message if it has the shape of a QEMU reply: an object whose first member is
/// "return" and whose last member is "id" with a string value free of escapes and control
/// characters. The view points into \p message. std::nullopt for every other message, which the
/// reader then parses as usual.
///
/// \p message must be one complete message as the Framer hands it out: it ends with the bracket
/// that closes the object it opens, outside any string. The message is not validated: if it is
/// not valid JSON, the caller's parse says so. If it is valid JSON, the id returned is the one a
/// parser keeps (the last "id" member), never text inside a string.
std::optional<std::string_view> reply_id_at_end(std::string_view message);

} // namespace qmp::detail
