// SPDX-License-Identifier: MIT
// libFuzzer target: the Framer fed arbitrary bytes in arbitrary chunk splits.
//
// Input: the byte stream, then (taken from its end by FuzzedDataProvider) the message size
// limit, the depth limit and a seed for the chunk sizes. Checked for every input:
//  - each message starts with { or [ and ends with } or ], is at most the size limit, nests
//    at most the depth limit, and is closed only by its last byte;
//  - messages are the input's bytes in order, separated by whitespace only;
//  - buffered() never exceeds the size limit between feeds;
//  - however the stream is split into chunks, the same messages come out and the stream is
//    rejected (FramingError) or not alike as when it is fed in one piece;
//  - fed in one piece, the messages, the error (if any, word for word) and buffered() are those
//    of a plain byte-at-a-time reference framer written here;
//  - if on_message throws, the messages after it are not lost: they come out of the next feed().
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <qmp/json.hpp>

#include "framer.hpp"

namespace {

using qmp::detail::Framer;
using qmp::detail::FramingError;

[[noreturn]] void fail(const char* what, const std::string& detail = {})
{
    std::fprintf(stderr, "FUZZ INVARIANT VIOLATED: %s %s\n", what, detail.c_str());
    std::abort();
}

struct Run {
    std::vector<std::string> messages;
    bool rejected = false;
    std::string error; // FramingError::what()
    std::size_t buffered = 0; // at the end, if not rejected
};

std::string describe_byte(unsigned char byte)
{
    char text[48];
    if (byte >= 0x20 && byte < 0x7f)
        std::snprintf(text, sizeof text, "'%c' (0x%02x)", byte, byte);
    else
        std::snprintf(text, sizeof text, "0x%02x", byte);
    return text;
}

// The specification, one byte at a time over the whole stream: messages, the first error, and
// the length of the incomplete message at the end.
Run reference(const std::string& stream, std::size_t max_size, std::size_t max_depth)
{
    Run run;
    std::size_t depth = 0, start = 0;
    bool in_string = false, escaped = false;
    const auto reject = [&](std::string error) {
        run.rejected = true;
        run.error = std::move(error);
        return run;
    };
    const auto too_large = "message exceeds the limit of " + std::to_string(max_size) + " bytes";
    const auto too_deep = "message nests deeper than " + std::to_string(max_depth) + " levels";
    for (std::size_t i = 0; i < stream.size(); ++i) {
        const char c = stream[i];
        if (depth == 0) {
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
                continue;
            if (c != '{' && c != '[')
                return reject("unexpected byte " + describe_byte(static_cast<unsigned char>(c)) +
                    " between messages (expected a JSON object)");
            if (max_depth == 0)
                return reject(too_deep);
            depth = 1;
            start = i;
            in_string = escaped = false;
        } else if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return reject(too_deep);
        } else if ((c == '}' || c == ']') && --depth == 0) {
            if (i + 1 - start > max_size)
                return reject(too_large);
            run.messages.push_back(stream.substr(start, i + 1 - start));
        }
    }
    if (depth > 0 && stream.size() - start > max_size)
        return reject(too_large);
    run.buffered = depth > 0 ? stream.size() - start : 0;
    return run;
}

bool is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

// The message's own checks: delimiters, size, depth, and that depth returns to 0 only at the end.
void check_message(const std::string& message, std::size_t max_size, std::size_t max_depth)
{
    if (message.empty() || message.size() > max_size)
        fail("message size out of bounds", std::to_string(message.size()));
    if ((message.front() != '{' && message.front() != '[') ||
        (message.back() != '}' && message.back() != ']'))
        fail("message delimiters", message.substr(0, 64));
    std::size_t depth = 0;
    bool in_string = false, escaped = false;
    for (std::size_t i = 0; i < message.size(); ++i) {
        const char c = message[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                fail("message deeper than the limit");
        } else if (c == '}' || c == ']') {
            if (depth == 0 || (--depth == 0 && i + 1 != message.size()))
                fail("message closes before its end", message.substr(0, 64));
        }
    }
    if (depth != 0 || in_string)
        fail("message not closed at its end");
    // The parser must cope with whatever the framer lets through (bounded depth: no recursion
    // problem); its verdict does not matter here.
    (void)qmp::json::accept(message);
}

struct CallbackThrew { };

// throw_every > 0: on_message throws after every throw_every-th message, and the stream is fed
// on (the rest with empty feeds) as if nothing happened.
Run feed_in_chunks(const std::string& stream, std::size_t max_size, std::size_t max_depth,
    std::uint32_t seed, unsigned throw_every = 0)
{
    Run run;
    Framer framer(max_size, max_depth);
    std::size_t at = 0;
    const auto on_message = [&](std::string_view message) {
        run.messages.emplace_back(message);
        if (throw_every != 0 && run.messages.size() % throw_every == 0)
            throw CallbackThrew();
    };
    try {
        while (at < stream.size()) {
            std::size_t chunk = stream.size() - at;
            if (seed != 0) { // xorshift: a reproducible split from 4 bytes of input
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                chunk = std::min<std::size_t>(chunk, 1 + seed % (seed & 1 ? 8 : 300));
            }
            try {
                framer.feed(stream.data() + at, chunk, on_message);
            } catch (const CallbackThrew&) {
                at += chunk;
                continue; // buffered() then counts the bytes after the message, not scanned yet
            }
            at += chunk;
            if (framer.buffered() > max_size)
                fail("buffered() exceeds the size limit", std::to_string(framer.buffered()));
        }
        for (bool again = true; again;) { // what was left when on_message threw
            again = false;
            try {
                framer.feed(stream.data() + at, 0, on_message);
            } catch (const CallbackThrew&) {
                again = true;
            }
        }
        if (framer.buffered() > max_size)
            fail("buffered() exceeds the size limit", std::to_string(framer.buffered()));
        run.buffered = framer.buffered();
    } catch (const FramingError& e) {
        run.rejected = true;
        run.error = e.what();
    }
    return run;
}

// The messages are the stream's bytes, in order, with only whitespace between them.
void check_order(const std::string& stream, const Run& run)
{
    std::size_t at = 0;
    for (const auto& message : run.messages) {
        while (at < stream.size() && is_space(stream[at]))
            ++at;
        if (stream.compare(at, message.size(), message) != 0)
            fail("message is not the next bytes of the stream", message.substr(0, 64));
        at += message.size();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    FuzzedDataProvider input(data, size);
    // Small limits make the limit paths reachable with small inputs; 0 is a legal, odd, limit.
    const std::size_t max_size = input.ConsumeIntegralInRange<std::size_t>(0, 2048);
    const std::size_t max_depth = input.ConsumeIntegralInRange<std::size_t>(0, 40);
    const std::uint32_t seed = input.ConsumeIntegral<std::uint32_t>();
    const std::string stream = input.ConsumeRemainingBytesAsString();

    const Run whole = feed_in_chunks(stream, max_size, max_depth, 0);
    const Run split = feed_in_chunks(stream, max_size, max_depth, seed);
    for (const auto& message : split.messages)
        check_message(message, max_size, max_depth);
    check_order(stream, split);
    if (whole.messages != split.messages)
        fail("chunking changed the messages");
    if (whole.rejected != split.rejected)
        fail("chunking changed whether the stream is rejected");
    if (!whole.rejected && whole.buffered != split.buffered)
        fail("chunking changed buffered()");

    // Fed whole, the framer is the reference (the error word for word). Fed in chunks, an
    // oversized message can be rejected at the end of a feed before a later error is seen.
    const Run expected = reference(stream, max_size, max_depth);
    if (whole.messages != expected.messages)
        fail("messages differ from the reference");
    if (whole.rejected != expected.rejected || whole.error != expected.error)
        fail("error differs from the reference", whole.error + " / " + expected.error);
    if (!whole.rejected && whole.buffered != expected.buffered)
        fail("buffered() differs from the reference");

    const Run throwing = feed_in_chunks(stream, max_size, max_depth, seed, 1 + seed % 3);
    if (throwing.messages != split.messages || throwing.rejected != split.rejected)
        fail("a throwing callback changed the messages");
    if (!throwing.rejected && throwing.buffered != split.buffered)
        fail("a throwing callback changed buffered()");
    return 0;
}
