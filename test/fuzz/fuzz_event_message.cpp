// SPDX-License-Identifier: MIT
// libFuzzer target: classify_message() against nlohmann's tree parser, on one framed message.
//
// Input: the message's bytes. The oracle is json::parse(..., nullptr, false), which never
// throws. Checked for every input:
//  (a) kind == event  =>  the oracle parsed it, to an object whose "event" member is a string
//      equal to event.name and whose top-level keys are only event, timestamp and data;
//  (b) the oracle parsed such an object  =>  kind == event;
//  (c) kind == malformed  =>  the oracle failed, and error is the message json::parse throws
//      (the same lexer stops at the same byte);
//  (d) kind == event  =>  take_event() of the queued event (its record) does not throw, and its
//      name, data and raw are those of the oracle's tree (raw also dumps alike: -0.0 stays);
//  (e) classify_message() and classify_message_by_parser() agree (kind, name, record, error)
//      whenever either finds an event: QEMU's spelling, read without the parser, is recorded
//      byte for byte as the parser records it;
//  and the classifier calls invalid JSON "other" only when it stopped before the error, which
//  it can only do at an object's key or an array: the text then starts with { or [.
// Each input is checked as it is, and again as the "data" of an event, spelled both as QEMU
// spells events and otherwise.
// The classifier stops early on most replies, so "other" says nothing about the rest of a
// message; that is the caller's tree parse's business.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <qmp/json.hpp>

#include "event_message.hpp"

namespace {

using qmp::json;
using qmp::detail::MessageClass;
using Kind = qmp::detail::MessageClass::Kind;

// Bigger inputs only slow the fuzzer down: QMP messages this target cares about are small.
constexpr std::size_t max_input = 64 * 1024;
// Deep nesting costs time and memory in both parsers (and in the tree's destructor) without
// reaching new code in the classifier.
constexpr std::size_t max_brackets = 512;
constexpr std::string_view wrap_prefix = R"({"event": "FUZZ", "data": )";
constexpr std::string_view canonical_prefix =
    R"({"timestamp": {"seconds": 1795603764, "microseconds": -0}, "event": "FUZZ", "data": )";

[[noreturn]] void fail(const char* what, std::string_view text, const std::string& detail = {})
{
    std::fprintf(stderr, "FUZZ INVARIANT VIOLATED: %s %s\ninput (%zu bytes): %.*s\n", what,
        detail.c_str(), text.size(), static_cast<int>(std::min<std::size_t>(text.size(), 512)),
        text.data());
    std::abort();
}

const char* kind_name(Kind kind)
{
    switch (kind) {
    case Kind::event:
        return "event";
    case Kind::other:
        return "other";
    case Kind::malformed:
        return "malformed";
    }
    return "?";
}

// The specification of an event, on the tree.
bool is_event(const json& tree)
{
    if (!tree.is_object())
        return false;
    const auto name = tree.find("event");
    if (name == tree.end() || !name->is_string())
        return false;
    for (const auto& member : tree.items()) {
        if (member.key() != "event" && member.key() != "timestamp" && member.key() != "data")
            return false;
    }
    return true;
}

// What json::parse throws for text the oracle rejected: parse_error, or out_of_range (406) for
// a number too large for a double.
std::string parse_error_of(std::string_view text)
{
    try {
        (void)json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {
        return e.what();
    }
    return {};
}

char first_non_space(std::string_view text)
{
    for (const char c : text) {
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return c;
    }
    return '\0';
}

// All the invariants, for one message.
void check(std::string_view text)
{
    MessageClass result = qmp::detail::classify_message(text);
    const json tree = json::parse(text.begin(), text.end(), nullptr, false);
    const bool parsed = !tree.is_discarded();
    const bool event = parsed && is_event(tree);
    const std::string kind = kind_name(result.kind);

    if (result.kind == Kind::event) {
        if (!parsed) // (a)
            fail("classified as an event, but it does not parse", text);
        if (!event) // (a)
            fail("classified as an event, but the tree is not one", text, tree.dump());
        if (result.event.name() != tree["event"].get_ref<const std::string&>()) // (a)
            fail("event.name differs from the tree's \"event\"", text,
                std::string(result.event.name()));
        if (!result.error.empty())
            fail("an event with an error", text, result.error);
    } else if (event) { // (b)
        fail("the tree is an event, but it is classified as", text, kind);
    }

    if (result.kind == Kind::malformed) {
        if (parsed) // (c)
            fail("classified as malformed, but it parses", text);
        const std::string expected = parse_error_of(text);
        if (result.error.empty() || result.error != expected) // (c)
            fail("the error differs from json::parse's", text, result.error + " / " + expected);
    } else if (!result.error.empty()) {
        fail("an error without malformed", text, kind + ": " + result.error);
    }

    if (result.kind == Kind::other) {
        if (!result.event.name().empty() || !result.event.record.empty() || result.event.parsed)
            fail("other with an event", text, std::string(result.event.name()));
        const char first = first_non_space(text);
        if (!parsed && first != '{' && first != '[')
            fail("invalid JSON that the classifier read whole is not malformed", text, kind);
    }

    const MessageClass by_parser = qmp::detail::classify_message_by_parser(text);
    if (result.kind == Kind::event || by_parser.kind == Kind::event) { // (e)
        if (by_parser.kind != result.kind)
            fail("the parser's kind differs", text, kind + " / " + kind_name(by_parser.kind));
        if (by_parser.event.name() != result.event.name())
            fail("the parser's name differs", text, std::string(by_parser.event.name()));
        if (by_parser.event.record != result.event.record)
            fail("the parser's record differs", text);
        if (by_parser.error != result.error)
            fail("the parser's error differs", text, by_parser.error);
    }

    if (result.kind == Kind::event) { // (d)
        qmp::detail::QueuedEvent queued = std::move(result.event);
        const std::string name(queued.name());
        if (queued.record.empty() || queued.parsed)
            fail("an event without a record", text);
        qmp::Event taken;
        try {
            qmp::detail::parse_in_place(queued);
            if (!queued.parsed)
                fail("parse_in_place left no event", text);
            taken = qmp::detail::take_event(std::move(queued));
        } catch (const std::exception& e) {
            fail("taking a classified event threw", text, e.what());
        }
        if (taken.name != name)
            fail("take_event's name differs", text, taken.name);
        if (taken.raw != tree || taken.raw.dump() != tree.dump())
            fail("take_event's raw differs from the tree", text, taken.raw.dump());
        const json expected_data = tree.contains("data") ? tree["data"] : json();
        if (taken.data != expected_data)
            fail("take_event's data differs from the tree's", text, taken.data.dump());
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size > max_input)
        return 0;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::size_t brackets = 0;
    for (const char c : text)
        brackets += c == '[' || c == '{';
    if (brackets > max_brackets)
        return 0;

    check(text);
    // The input again as an event's data: every JSON value the fuzzer makes (the insides of a
    // reply, a bare array or number) then goes through the event's record and back, and
    // whatever follows a value can make the member list invalid or not an event's.
    check(std::string(wrap_prefix).append(text).append("}"));
    check(std::string(canonical_prefix).append(text).append("}"));
    return 0;
}
