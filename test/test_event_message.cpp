// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include <qmp/error.hpp>
#include <qmp/json.hpp>

#include "event_message.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::detail::classify_message;
using qmp::detail::MessageClass;
using qmp::detail::QueuedEvent;
using Kind = qmp::detail::MessageClass::Kind;

namespace {

// A real line from qemu-system-x86_64 7.2 after "stop".
const std::string qemu_stop =
    R"({"timestamp": {"seconds": 1795603764, "microseconds": 142232}, "event": "STOP"})";
// A real line from qemu-storage-daemon 7.2 after "blockdev-create".
const std::string qemu_job_status_change =
    R"({"timestamp": {"seconds": 1795623062, "microseconds": 719369}, "event": "JOB_STATUS_CHANGE", "data": {"status": "created", "id": "job0"}})";

std::chrono::system_clock::time_point at(long long seconds, long long microseconds)
{
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::seconds(seconds) + std::chrono::microseconds(microseconds)));
}

// The queued event classify_message() makes of an event's text.
QueuedEvent queued_event(const std::string& text)
{
    MessageClass result = classify_message(text);
    EXPECT_EQ(result.kind, Kind::event) << text;
    return std::move(result.event);
}

qmp::Event taken(const std::string& text)
{
    return qmp::detail::take_event(queued_event(text));
}

// What take_event() must give for an event's text, worked out from json::parse()'s tree.
void expect_event_matches_tree(const std::string& text, QueuedEvent&& queued)
{
    SCOPED_TRACE(text);
    json tree;
    ASSERT_NO_THROW(tree = json::parse(text));
    ASSERT_TRUE(tree.is_object());
    const auto data = tree.contains("data") ? tree["data"] : json();
    auto expected_time = std::chrono::system_clock::time_point();
    if (tree.contains("timestamp")) {
        const auto& ts = tree["timestamp"];
        if (ts.is_object() && ts.contains("seconds") && ts.contains("microseconds") &&
            ts["seconds"].is_number_integer() && ts["microseconds"].is_number_integer() &&
            ts["seconds"].get<long long>() >= 0 && ts["microseconds"].get<long long>() >= 0 &&
            ts["microseconds"].get<long long>() <= 999999)
            expected_time = at(ts["seconds"].get<long long>(), ts["microseconds"].get<long long>());
    }

    const std::string name(queued.name());
    EXPECT_EQ(name, tree["event"].get<std::string>());
    EXPECT_FALSE(queued.record.empty());
    EXPECT_FALSE(queued.parsed);
    qmp::Event event;
    ASSERT_NO_THROW(event = qmp::detail::take_event(std::move(queued)));
    EXPECT_EQ(event.name, name);
    EXPECT_EQ(event.data, data);
    EXPECT_EQ(event.raw, tree);
    EXPECT_EQ(event.timestamp, expected_time);
}

void expect_event(const std::string& text, const std::string& name)
{
    SCOPED_TRACE(text);
    MessageClass result = classify_message(text);
    EXPECT_EQ(result.kind, Kind::event);
    EXPECT_EQ(result.event.name(), name);
    EXPECT_TRUE(result.error.empty());
    if (result.kind == Kind::event)
        expect_event_matches_tree(text, std::move(result.event));
}

void expect_other(const std::string& text)
{
    SCOPED_TRACE(text);
    const MessageClass result = classify_message(text);
    EXPECT_EQ(result.kind, Kind::other);
    EXPECT_TRUE(result.event.name().empty());
    EXPECT_TRUE(result.event.record.empty());
    EXPECT_TRUE(result.error.empty());
}

void expect_malformed(const std::string& text)
{
    SCOPED_TRACE(text);
    const MessageClass result = classify_message(text);
    EXPECT_EQ(result.kind, Kind::malformed);
    EXPECT_FALSE(result.error.empty());
    EXPECT_FALSE(json::accept(text)); // the tree parser agrees
}

} // namespace

TEST(ClassifyMessage, QemuStopIsAnEvent)
{
    const MessageClass result = classify_message(qemu_stop);
    EXPECT_EQ(result.kind, Kind::event);
    EXPECT_EQ(result.event.name(), "STOP");
    EXPECT_TRUE(result.error.empty());
}

TEST(ClassifyMessage, EventWithDataIsAnEvent)
{
    expect_event(qemu_job_status_change, "JOB_STATUS_CHANGE");
    expect_event(R"({"event": "BLOCK_JOB_COMPLETED", "data": {"device": "j", "len": 1, "offset": 1,
        "speed": 0, "type": "mirror", "list": [{"event": "nested"}, "x", null, 1.5e3, true]}})",
        "BLOCK_JOB_COMPLETED");
}

TEST(ClassifyMessage, KeyOrderDoesNotMatter)
{
    expect_event(
        R"({"event": "STOP", "timestamp": {"seconds": 1795603764, "microseconds": 142232}})",
        "STOP");
    expect_event(R"({"data": {"a": 1}, "event": "X", "timestamp": {"seconds": 1,
        "microseconds": 2}})",
        "X");
    expect_event(R"({"event": "ALONE"})", "ALONE");
    expect_event(" \n{\"event\":\"SPACES\"}\r\n\t", "SPACES");
}

TEST(ClassifyMessage, EscapedKeyAndNameAreUnescaped)
{
    expect_event(R"({"\u0065vent": "ST\u004fP"})", "STOP");
    expect_event(
        R"({"event": "caf\u00e9 \ud83d\ude00 \"q\""})", "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\"");
}

TEST(ClassifyMessage, LastOfRepeatedEventKeysCounts)
{
    expect_event(R"({"event": "FIRST", "event": "LAST"})", "LAST");
    expect_event(R"({"event": 1, "event": "LAST"})", "LAST");
    expect_event(R"({"event": {"event": "INNER"}, "data": {}, "event": "LAST"})", "LAST");
    expect_event(R"({"event": ["A"], "event": null, "event": "LAST"})", "LAST");
}

TEST(ClassifyMessage, LastEventKeyNotAStringIsOther)
{
    expect_other(R"({"event": "FIRST", "event": 1})");
    expect_other(R"({"event": "FIRST", "data": {}, "event": null})");
    expect_other(R"({"event": "FIRST", "event": {"event": "INNER"}})");
    expect_other(R"({"event": "FIRST", "event": ["SECOND"]})");
}

TEST(ClassifyMessage, EventNotAStringIsOther)
{
    expect_other(R"({"event": 42})");
    expect_other(R"({"event": -1.5})");
    expect_other(R"({"event": null})");
    expect_other(R"({"event": true})");
    expect_other(R"({"event": {"name": "STOP"}})");
    expect_other(R"({"event": {}})");
    expect_other(R"({"event": ["STOP"]})");
    expect_other(R"({"event": []})");
}

TEST(ClassifyMessage, NestedEventKeysDoNotCount)
{
    expect_other(R"({"data": {"event": "STOP"}})");
    expect_other(R"({"timestamp": {"event": "STOP"}, "data": [{"event": "STOP"}]})");
    expect_other(R"({"event": 1, "data": {"event": "STOP"}})");
    expect_other(R"({"event": {"event": "STOP"}})");
    expect_event(R"({"event": "OUTER", "data": {"event": "INNER"}})", "OUTER");
    expect_event(R"({"data": {"x": {"event": "INNER"}}, "event": "OUTER"})", "OUTER");
}

TEST(ClassifyMessage, RepliesErrorsAndGreetingAreOther)
{
    expect_other(R"({"return": {}, "id": "1"})");
    expect_other(R"({"id": "1", "return": {}})");
    expect_other(R"({"return": {"status": "running", "singlestep": false, "running": true}})");
    expect_other(R"({"error": {"class": "GenericError", "desc": "JSON parse error"}})");
    expect_other(
        R"({"id": "4", "error": {"class": "CommandNotFound", "desc": "The command query-nonexistent has not been found"}})");
    expect_other(R"({"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7},
        "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}})");
    expect_other("{}");
    expect_other(R"({"timestamp": {"seconds": 1, "microseconds": 2}, "data": {}})");
}

TEST(ClassifyMessage, EventWithAnExtraTopLevelKeyIsOther)
{
    expect_other(R"({"event": "STOP", "id": "1"})");
    expect_other(R"({"id": "1", "event": "STOP"})");
    expect_other(R"({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP", "x": 1})");
    expect_other(R"({"event": "STOP", "Event": "STOP"})");
    expect_other(R"({"event": "STOP", "return": {}})");
}

TEST(ClassifyMessage, TopLevelNotAnObjectIsOther)
{
    expect_other(R"([{"event": "STOP"}])");
    expect_other("[]");
    expect_other(R"("event")");
    expect_other("42");
    expect_other("-0.5e3");
    expect_other("null");
    expect_other("true");
}

// The classifier stops at the first top-level member no event has, or at a top-level array,
// without reading further: the caller's tree parse then reports the error.
TEST(ClassifyMessage, InvalidJsonAfterItStoppedIsOther)
{
    expect_other(R"({"return": tru})");
    expect_other(R"({"id": "1", "event": "STOP", "data": {"a": tru}})");
    expect_other(R"([1, tru])");
    expect_other(R"({"QMP": {)");
}

TEST(ClassifyMessage, MalformedEventIsMalformed)
{
    expect_malformed(R"({"event": "STOP", "data": {"a": tru}})");
    expect_malformed(R"({"event": "ST\qOP"})"); // bad escape
    expect_malformed(R"({"event": "STOP", "data": "\u12"})"); // short \u escape
    expect_malformed(R"({"event": "STOP", "data": "\udc00"})"); // lone low surrogate
    expect_malformed("{\"event\": \"ST\xffOP\"}"); // invalid UTF-8
    expect_malformed("{\"event\": \"STOP\", \"data\": \"\xc3\x28\"}"); // bad continuation byte
    expect_malformed("{\"event\": \"STOP\", \"data\": \"\xc0\xaf\"}"); // overlong encoding
    expect_malformed("{\"event\": \"ST\nOP\"}"); // control character in a string
    expect_malformed(R"({"event": "STOP"} x)"); // trailing garbage
    expect_malformed(R"({"event": "STOP"}})");
    expect_malformed(R"({"event": "STOP"}{"event": "STOP"})");
    expect_malformed(R"({"event": "STOP")"); // truncated
    expect_malformed(R"({"event": "STOP",})");
    expect_malformed(R"({"event": "STOP", "data": 1e999})"); // number overflow
    expect_malformed(R"({"event": "STOP", "data": 01})");
    expect_malformed(R"({"timestamp": {"seconds": 1,}, "event": "STOP"})");
    expect_malformed(R"({'event': 'STOP'})");
    expect_malformed("");
    expect_malformed(" \n");
}

// Word for word what json::parse() throws: a parse_error, or out_of_range for a number too large
// for a double.
TEST(ClassifyMessage, MalformedErrorIsTheParsersMessage)
{
    for (const std::string text : {R"({"event": "STOP", "data": {"a": tru}})",
             R"({"event": "STOP", "data": 1e999})", R"({"event": "STOP"} x)"}) {
        SCOPED_TRACE(text);
        std::string expected;
        try {
            const json tree = json::parse(text);
            ADD_FAILURE() << "parsed: " << tree.dump();
        } catch (const json::exception& e) {
            expected = e.what();
        }
        EXPECT_FALSE(expected.empty());
        EXPECT_EQ(classify_message(text).error, expected);
    }
}

TEST(TakeEvent, QemuStopHasNameTimestampAndRaw)
{
    const qmp::Event event = taken(qemu_stop);
    EXPECT_EQ(event.name, "STOP");
    EXPECT_TRUE(event.data.is_null());
    EXPECT_EQ(event.timestamp, at(1795603764, 142232));
    EXPECT_EQ(event.timestamp.time_since_epoch(), 1795603764s + 142232us);
    EXPECT_EQ(event.raw, json::parse(qemu_stop));
}

TEST(TakeEvent, DataIsTheDataMember)
{
    const qmp::Event event = taken(qemu_job_status_change);
    EXPECT_EQ(event.name, "JOB_STATUS_CHANGE");
    EXPECT_EQ(event.data, json({{"status", "created"}, {"id", "job0"}}));
    EXPECT_EQ(event.timestamp, at(1795623062, 719369));
    EXPECT_EQ(event.raw, json::parse(qemu_job_status_change));
}

// The tree built from the record is the one json::parse() makes of the text, for every kind of
// value and length: integers and string lengths of one to many varint bytes, the sign of -0.0,
// escapes, containers inside containers, repeated keys inside data.
TEST(TakeEvent, RawIsWhatJsonParseMakesOfTheText)
{
    std::string many; // an array that grows while the arrays inside it are filled
    for (int i = 0; i < 300; ++i)
        many += (i ? ", [" : "[") + std::to_string(i) + ", [" + std::to_string(-i) + "], {}]";
    const std::string text = R"({"event": "E", "timestamp": {"seconds": 1, "microseconds": 2},
        "data": {
        "ints": [0, -0, 1, -1, 63, -64, 64, -65, 127, 128, -128, 16383, 16384, -8193,
            -9223372036854775808, 9223372036854775807, 9223372036854775808,
            18446744073709551615],
        "floats": [0.0, -0.0, 1.5, -2.25e-3, 1e308, -1.7976931348623157e308, 5e-324, 1E2, 0.1],
        "strings": ["", "\u0000", "a\"b\\c\/d\b\f\n\r\t", "\u00e9\ud83d\ude00\u001f", ")k{[s"],
        "short": ")" +
        std::string(127, 'x') + R"(", "medium": ")" + std::string(128, 'y') + R"(", "long": ")" +
        std::string(20000, 'z') + R"(",
        ")" +
        std::string(300, 'K') + R"(": [true, false, null],
        "nested": [[[]], [{}], [[1, [2, [3]]], {"a": [{"b": {}}]}], {"": {"": ""}}],
        "many": [)" +
        many + R"(],
        "repeated": {"k": 1, "k": [2], "k": {"last": true}},
        "deep": [[[[[[[[[[[[[[[[[[[[{"x": [[[1]]]}]]]]]]]]]]]]]]]]]]]]
        }, "data": {"replaced": "the last data counts"},
        "data": {"replaced": [1, 2, 3]}})";
    const json expected = json::parse(text);
    const qmp::Event event = taken(text);
    EXPECT_EQ(event.raw, expected);
    EXPECT_EQ(event.raw.dump(), expected.dump()); // also tells -0.0 from 0.0
    EXPECT_EQ(event.data, json({{"replaced", {1, 2, 3}}}));
    EXPECT_EQ(event.timestamp, at(1, 2));

    // The same values inside the last "data".
    const std::string inner = text.substr(text.find("\"data\""));
    const std::string as_data =
        R"({"event": "E", )" + inner.substr(0, inner.find("}, \"data\"")) + "}}";
    const qmp::Event event2 = taken(as_data);
    EXPECT_EQ(event2.raw, json::parse(as_data));
    EXPECT_EQ(event2.raw.dump(), json::parse(as_data).dump());
    EXPECT_EQ(event2.data["ints"].size(), 18u);
    EXPECT_EQ(event2.data["short"].get<std::string>().size(), 127u);
    EXPECT_EQ(event2.data["long"].get<std::string>().size(), 20000u);
    EXPECT_TRUE(std::signbit(event2.data["floats"][1].get<double>()));
    EXPECT_EQ(event2.data["repeated"], json({{"k", {{"last", true}}}}));
}

TEST(TakeEvent, TimestampMinusOneOrMissingIsTheEpoch)
{
    const auto epoch = std::chrono::system_clock::time_point();
    const auto time_of = [](const std::string& text) { return taken(text).timestamp; };
    EXPECT_EQ(
        time_of(R"({"event": "X", "timestamp": {"seconds": -1, "microseconds": -1}})"), epoch);
    EXPECT_EQ(time_of(R"({"event": "X"})"), epoch);
    EXPECT_EQ(time_of(R"({"event": "X", "timestamp": {"seconds": 5}})"), epoch);
    EXPECT_EQ(time_of(R"({"event": "X", "timestamp": {"microseconds": 5}})"), epoch);
    EXPECT_EQ(time_of(R"({"event": "X", "timestamp": null})"), epoch);
    EXPECT_EQ(
        time_of(R"({"event": "X", "timestamp": {"seconds": "1", "microseconds": 0}})"), epoch);
    EXPECT_EQ(
        time_of(R"({"event": "X", "timestamp": {"seconds": 1.5, "microseconds": 0}})"), epoch);
    EXPECT_EQ(time_of(R"({"event": "X", "timestamp": {"seconds": 0, "microseconds": 0}})"), epoch);
    EXPECT_EQ(
        time_of(R"({"event": "X", "timestamp": {"seconds": 0, "microseconds": 1}})"), epoch + 1us);
}

// Beyond what system_clock holds, or microseconds outside a second: the epoch, not overflow.
TEST(TakeEvent, TimestampOutOfRangeIsTheEpoch)
{
    const auto epoch = std::chrono::system_clock::time_point();
    const auto time_of = [](const std::string& text) { return taken(text).timestamp; };
    EXPECT_EQ(
        time_of(R"({"event": "X", "timestamp": {"seconds": 1, "microseconds": 1000000}})"), epoch);
    EXPECT_EQ(time_of(R"({"event": "X", "timestamp": {"seconds": 1, "microseconds": -5}})"), epoch);
    EXPECT_EQ(
        time_of(
            R"({"event": "X", "timestamp": {"seconds": 9223372036854775807, "microseconds": 0}})"),
        epoch);
    EXPECT_EQ(
        time_of(
            R"({"event": "X", "timestamp": {"seconds": 18446744073709551615, "microseconds": 0}})"),
        epoch);
}

TEST(TakeEvent, TakesAnAlreadyParsedEventWithoutARecord)
{
    qmp::Event parsed;
    parsed.name = "STOP";
    parsed.data = json{{"k", 1}};
    QueuedEvent queued = QueuedEvent::built(std::move(parsed));
    EXPECT_EQ(queued.name(), "STOP");
    const qmp::Event event = qmp::detail::take_event(std::move(queued));
    EXPECT_EQ(event.name, "STOP");
    EXPECT_EQ(event.data, json({{"k", 1}}));
}

// Records are made by classify_message() alone; a damaged one is an internal error, reported
// as qmp::Error rather than read out of bounds.
TEST(ParseInPlace, DamagedRecordIsAnInternalError)
{
    const std::string whole(queued_event(qemu_job_status_change).record.view());
    // Octal escapes: they end after three digits, where a hex escape would eat the next letter.
    std::vector<std::string> records = {
        "", // nothing
        "{", // not closed
        "[)", // not an object
        "n", // not an object
        "{)}", // closed twice
        "{)x", // an unknown tag
        "{s\001a)", // a value without a key
        "{k\005event)", // a key without a value
        "{k\005event", // a key without a value, not closed
        "k\005event", // a key outside any object
        "{k\005events\177STOP)", // a string longer than the record
        "{k\005events\200\200\200\200\200\200\200\200\200\200\001)", // a varint too long
        "{k\004datad\001\002)", // a double cut short
        "{){)", // two top-level objects
        "{)", // an object without "event"
        "{k\005eventi\002)", // "event": 1
    };
    for (std::size_t size = 0; size < whole.size(); ++size)
        records.push_back(whole.substr(0, size)); // cut short anywhere
    for (const auto& record : records) {
        SCOPED_TRACE(testing::PrintToString(record));
        QueuedEvent queued;
        queued.record.append(record);
        EXPECT_THROW(qmp::detail::parse_in_place(queued), qmp::Error);
        EXPECT_FALSE(queued.parsed);
        EXPECT_THROW(qmp::detail::take_event(std::move(queued)), qmp::Error);
    }
}

TEST(ParseInPlace, ParsesOnce)
{
    QueuedEvent queued = queued_event(qemu_stop);
    const qmp::Event& first = qmp::detail::parse_in_place(queued);
    EXPECT_EQ(first.name, "STOP");
    ASSERT_TRUE(queued.parsed);
    EXPECT_EQ(&first, &*queued.parsed);
    EXPECT_EQ(first.raw, json::parse(qemu_stop));
    // A second call returns the event built by the first: it neither reads the record (damaged
    // here, so building again would throw) nor replaces the event (marked here).
    queued.record.clear();
    queued.record.push_back('{');
    queued.parsed->raw["marked"] = true;
    const qmp::Event* second = nullptr;
    ASSERT_NO_THROW(second = &qmp::detail::parse_in_place(queued));
    EXPECT_EQ(second, &first);
    EXPECT_EQ(second->name, "STOP");
    EXPECT_TRUE(second->raw.contains("marked"));
    const qmp::Event taken = qmp::detail::take_event(std::move(queued));
    EXPECT_TRUE(taken.raw.contains("marked"));
    EXPECT_EQ(taken.timestamp, at(1795603764, 142232));
}

TEST(EventFromMessage, TakesNameDataAndTimestampFromTheTree)
{
    json message = {{"event", "DEVICE_DELETED"}, {"data", {{"device", "nic0"}}},
        {"timestamp", {{"seconds", 1795603764}, {"microseconds", 142232}}}};
    const json copy = message;
    const qmp::Event event = qmp::detail::event_from_message(std::move(message));
    EXPECT_EQ(event.name, "DEVICE_DELETED");
    EXPECT_EQ(event.data, json({{"device", "nic0"}}));
    EXPECT_EQ(event.timestamp, at(1795603764, 142232));
    EXPECT_EQ(event.raw, copy);
}

// Every input the classifier calls an event parses, and its Event agrees with the tree.
TEST(ClassifyMessage, EveryEventParsesToTheSameEvent)
{
    const std::vector<std::string> texts = {
        qemu_stop,
        qemu_job_status_change,
        R"({"event": "STOP", "timestamp": {"seconds": 1795603764, "microseconds": 142232}})",
        R"({"event": 1, "event": "LAST", "data": [1, 2]})",
        R"({"event": "A", "data": {"event": "B"}, "timestamp": {"seconds": -1, "microseconds": -1}})",
        R"({"data": null, "event": "N"})",
        R"({"timestamp": "late", "event": "T"})",
        R"({"data": "d", "data": {"last": true}, "event": "D"})",
        "{\n    \"timestamp\": {\n        \"seconds\": 1795605082,\n        \"microseconds\": "
        "899288\n    },\n    \"event\": \"STOP\"\n}",
    };
    for (const auto& text : texts) {
        SCOPED_TRACE(text);
        MessageClass result = classify_message(text);
        ASSERT_EQ(result.kind, Kind::event);
        expect_event_matches_tree(text, std::move(result.event));
    }
}

// ---- QEMU's own spelling is read without the parser --------------------------------------------

namespace {

std::string canonical(const std::string& seconds, const std::string& micros,
    const std::string& name, const std::string& data_member = "")
{
    return R"({"timestamp": {"seconds": )" + seconds + R"(, "microseconds": )" + micros +
        R"(}, "event": ")" + name + "\"" + data_member + "}";
}

} // namespace

// The reader takes QEMU's spelling and records it byte for byte as the parser does, so the
// consumer builds the same tree (the types of numbers included: "-0" is a signed 0).
TEST(CanonicalEvent, RecordsWhatTheParserRecords)
{
    const std::vector<std::string> texts = {
        qemu_stop,
        qemu_job_status_change,
        canonical("-1", "-1", "RTC_CHANGE", R"(, "data": {"offset": -2, "qom-path": "/m/rtc"})"),
        canonical("0", "-0", "E"),
        canonical("999999999999999999", "-999999999999999999", "BIG"),
        canonical("1", "2", ""),
        canonical("1", "2", "ODD name-with.chars/~!", R"(, "data": [1, "x", {"event": null}])"),
        canonical("1", "2", "SCALAR_DATA", R"(, "data": 3.5e2)"),
        canonical("1", "2", "STRING_DATA", R"(, "data": "caf\u00e9 \"quoted\"")"),
        canonical("1", "2", "SPACED", R"(, "data": { "a" : [ ] } )") + "\r\n",
        canonical("1", "2", "NESTED", R"(, "data": {"a": {"b": {"c": [[{"d": -0.0}]]}}})"),
        // Deeper than build_tree() keeps inline (16 containers): the rest go on the heap.
        canonical("1", "2", "DEEP",
            ", \"data\": " + std::string(20, '[') + R"({"x": [1, {"y": 2}], "z": 3})" +
                std::string(20, ']')),
    };
    for (const auto& text : texts) {
        SCOPED_TRACE(text);
        const auto read = qmp::detail::read_canonical_event(text);
        ASSERT_TRUE(read.has_value());
        MessageClass parsed = qmp::detail::classify_message_by_parser(text);
        ASSERT_EQ(parsed.kind, Kind::event);
        EXPECT_EQ(read->name(), parsed.event.name());
        EXPECT_EQ(read->record.view(), parsed.event.record.view());
        EXPECT_FALSE(read->parsed);
        expect_event_matches_tree(text, QueuedEvent(*read));
    }
}

// Any other spelling, valid or not, is left to the parser, which then decides.
TEST(CanonicalEvent, LeavesEveryOtherSpellingToTheParser)
{
    const std::vector<std::string> texts = {
        R"({"timestamp":{"seconds":1,"microseconds":2},"event":"TIGHT"})",
        R"({"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}})",
        canonical("1", "2", R"(ESC\"APED)"),
        canonical("1", "2", "caf\xc3\xa9"), // UTF-8: the parser checks it
        canonical("1", "2", "TAB\tINSIDE"), // a control character: invalid JSON
        canonical("1234567890123456789", "2", "LONG"), // 19 digits
        canonical("01", "2", "LEADING_ZERO"),
        canonical("1.5", "2", "FRACTION"),
        canonical("1e3", "2", "EXPONENT"),
        canonical("-", "2", "SIGN_ONLY"),
        canonical("1", "2", "EXTRA", R"(, "data": {}, "more": 1)"),
        canonical("1", "2", "EXTRA_FIRST", R"(, "more": 1, "data": {})"),
        canonical("1", "2", "BAD_DATA", R"(, "data": {"a": tru})"),
        canonical("1", "2", "NO_DATA", R"(, "data": )"),
        canonical("1", "2", "TWO_DATA", R"(, "data": 1, "data": 2)"),
        canonical("1", "2", "NUL_IN_DATA", std::string(", \"data\": 4\0x", 13)), // found by fuzzing
        canonical("1", "2", "BOM_IN_DATA", ", \"data\": \xef\xbb\xbf{}"),
        canonical("1", "2", "SPACE_BEFORE_DATA", ", \"data\":  {}"),
        canonical("1", "2", "GARBAGE") + "x",
        canonical("1", "2", "CLOSED_TWICE") + "}",
        canonical("1", "2", "CUT").substr(0, 60),
    };
    for (const auto& text : texts) {
        SCOPED_TRACE(text);
        EXPECT_FALSE(qmp::detail::read_canonical_event(text).has_value());
        // And classify_message() says what the parser says.
        const MessageClass fast = classify_message(text);
        const MessageClass parsed = qmp::detail::classify_message_by_parser(text);
        EXPECT_EQ(fast.kind, parsed.kind);
        EXPECT_EQ(fast.event.name(), parsed.event.name());
        EXPECT_EQ(fast.event.record.view(), parsed.event.record.view());
        EXPECT_EQ(fast.error, parsed.error);
    }
}

// ---- EventRecord: inline up to inline_capacity bytes, then on the heap --------------------------

TEST(EventRecord, KeepsItsBytesInlineAndOnTheHeapAlike)
{
    using qmp::detail::EventRecord;
    constexpr std::size_t inline_capacity = EventRecord::inline_capacity;
    for (const std::size_t size : {std::size_t(0), std::size_t(1), inline_capacity - 1,
             inline_capacity, inline_capacity + 1, 5 * inline_capacity}) {
        SCOPED_TRACE(size);
        std::string bytes;
        for (std::size_t i = 0; i < size; ++i)
            bytes.push_back(static_cast<char>('a' + i % 26));
        EventRecord by_byte, by_pieces, reserved;
        for (const char byte : bytes)
            by_byte.push_back(byte);
        by_pieces.append(std::string_view(bytes).substr(0, size / 2));
        by_pieces.append(std::string_view(bytes).substr(size / 2));
        reserved.reserve(size + 16);
        reserved.append(bytes);
        for (const EventRecord* record : {&by_byte, &by_pieces, &reserved}) {
            EXPECT_EQ(record->view(), bytes);
            EXPECT_EQ(record->size(), size);
            EXPECT_EQ(record->empty(), size == 0);
        }

        EventRecord copy(by_byte);
        EXPECT_EQ(copy.view(), bytes);
        EXPECT_EQ(by_byte.view(), bytes); // a copy leaves its source alone
        EventRecord moved(std::move(copy));
        EXPECT_EQ(moved.view(), bytes);
        EXPECT_TRUE(copy.empty()); // NOLINT(bugprone-use-after-move): moved from is empty
        EventRecord assigned;
        assigned.append("old bytes, to be replaced");
        assigned = moved;
        EXPECT_EQ(assigned.view(), bytes);
        EventRecord move_assigned;
        move_assigned.append(std::string(3 * inline_capacity, 'x')); // on the heap before
        move_assigned = std::move(moved);
        EXPECT_EQ(move_assigned.view(), bytes);
        EXPECT_TRUE(moved.empty()); // NOLINT(bugprone-use-after-move)

        move_assigned.clear();
        EXPECT_TRUE(move_assigned.empty());
        move_assigned.append("again");
        EXPECT_EQ(move_assigned.view(), "again");
    }
}
