// SPDX-License-Identifier: MIT
// libFuzzer target: reply_id_at_end() against nlohmann's parser, on framed messages.
//
// Input: a byte stream, split into messages by the Framer exactly as the reader does, so every
// message checked ends with the bracket closing the value it opens. For each message for which
// reply_id_at_end() finds an id, checked:
//  (a) the id is a view into the message, holds no backslash, quote or control character;
//  (b) if json::parse accepts the message (the caller's parse would succeed), the result is an
//      object with a "return" member and a string "id" member equal to the id found: a valid
//      message is never routed to the wrong caller, nor taken for a reply when it is not one.
// And for each message, whatever reply_id_at_end() says: if json::parse accepts it as an
// object whose "id" is a string and whose text is exactly {"return":...,"id":"..."} written
// compactly by nlohmann (keys of a two-member object sorted: "id" comes first there, so the
// compact text is rebuilt with "return" first), reply_id_at_end() of that text finds the id.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <qmp/json.hpp>

#include "framer.hpp"
#include "reply_id.hpp"

namespace {

using qmp::json;

constexpr std::size_t max_input = 64 * 1024;
constexpr std::size_t max_depth = 64;

[[noreturn]] void fail(const char* what, std::string_view message)
{
    std::fprintf(stderr, "FUZZ INVARIANT VIOLATED: %s\nmessage: %.*s\n", what,
        static_cast<int>(message.size() > 2000 ? 2000 : message.size()), message.data());
    std::abort();
}

void check(std::string_view message)
{
    const auto id = qmp::detail::reply_id_at_end(message);
    const json parsed = json::parse(message.begin(), message.end(), nullptr, false);
    const bool valid = !parsed.is_discarded();
    if (id) {
        if (id->data() < message.data() ||
            id->data() + id->size() > message.data() + message.size())
            fail("id is not a view into the message", message);
        for (const char c : *id)
            if (c == '\\' || c == '"' || static_cast<unsigned char>(c) < 0x20)
                fail("id holds an escape, a quote or a control character", message);
        if (valid) {
            if (!parsed.is_object() || !parsed.contains("return"))
                fail("valid message taken for a reply without being one", message);
            const auto member = parsed.find("id");
            if (member == parsed.end() || !member->is_string() ||
                member->get_ref<const std::string&>() != *id)
                fail("valid reply routed by an id that is not its own", message);
        }
    }
    // The QEMU shape, rebuilt from any valid reply with a plain string id: always found.
    if (valid && parsed.is_object() && parsed.contains("return")) {
        const auto member = parsed.find("id");
        if (member != parsed.end() && member->is_string()) {
            const std::string& expected = member->get_ref<const std::string&>();
            const std::string text = "{\"return\": " + parsed["return"].dump() +
                ", \"id\": " + json(expected).dump() + "}";
            const auto found = qmp::detail::reply_id_at_end(text);
            const bool plain = expected.find_first_of("\\\"") == std::string::npos &&
                json(expected).dump().find('\\') == std::string::npos;
            if (plain && (!found || *found != expected))
                fail("QEMU-shaped reply with a plain id not recognised", text);
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size > max_input)
        return 0;
    qmp::detail::Framer framer(max_input, max_depth);
    try {
        framer.feed(reinterpret_cast<const char*>(data), size, check);
    } catch (const qmp::detail::FramingError&) {
        // Not a stream of messages: the reader would close the session before routing.
    }
    return 0;
}
