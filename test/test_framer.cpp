// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "framer.hpp"

using qmp::detail::Framer;
using qmp::detail::FramingError;

namespace {

std::vector<std::string> frame(Framer& framer, const std::string& bytes)
{
    std::vector<std::string> out;
    framer.feed(
        bytes.data(), bytes.size(), [&](std::string_view message) { out.emplace_back(message); });
    return out;
}

std::vector<std::string> frame(const std::string& bytes)
{
    Framer framer(1 << 20, 64);
    return frame(framer, bytes);
}

} // namespace

TEST(Framer, QemuLineEndings)
{
    EXPECT_EQ(
        frame("{\"a\":1}\r\n{\"b\":2}\r\n"), (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
}

TEST(Framer, GuestAgentLineEndings)
{
    EXPECT_EQ(frame("{\"return\":1}\n{\"return\":2}\n").size(), 2u);
}

TEST(Framer, NoNewlineNeeded)
{
    EXPECT_EQ(frame("{\"a\":1}{\"b\":2}"), (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
}

TEST(Framer, PrettyPrintedMessageSpansLines)
{
    const std::string pretty = "{\n    \"QMP\": {\n        \"version\": {\n"
                               "            \"qemu\": {\"major\": 7}\n        },\n"
                               "        \"capabilities\": [\n            \"oob\"\n        ]\n"
                               "    }\n}\n";
    const auto out = frame(pretty);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].front(), '{');
    EXPECT_EQ(out[0].back(), '}');
}

TEST(Framer, BracesAndQuotesInsideStrings)
{
    const std::string message = R"({"desc":"a } ] { [ \" \\ \\\" end","x":"\\"})";
    EXPECT_EQ(frame(message + "\r\n"), std::vector<std::string>{message});
}

TEST(Framer, OneByteAtATime)
{
    Framer framer(1 << 20, 64);
    const std::string stream = R"({"event":"STOP","data":{"s":"}"}})"
                               "\r\n"
                               R"({"return":{}})";
    std::vector<std::string> out;
    for (char c : stream) {
        auto part = frame(framer, std::string(1, c));
        out.insert(out.end(), part.begin(), part.end());
    }
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1], R"({"return":{}})");
    EXPECT_EQ(framer.buffered(), 0u);
}

TEST(Framer, PartialMessageStaysBuffered)
{
    Framer framer(1 << 20, 64);
    EXPECT_TRUE(frame(framer, "{\"return\": {\"a\"").empty());
    EXPECT_GT(framer.buffered(), 0u);
    EXPECT_EQ(frame(framer, ": 1}}\r\n").size(), 1u);
}

TEST(Framer, GarbageBetweenMessagesIsAnError)
{
    EXPECT_THROW(frame("{\"a\":1}\r\nhello"), FramingError);
    EXPECT_THROW(frame("\xff"), FramingError);
}

TEST(Framer, GarbageErrorNamesTheByte)
{
    try {
        frame("x");
        FAIL();
    } catch (const FramingError& e) {
        EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
    }
}

TEST(Framer, OversizedCompleteMessageIsAnError)
{
    Framer framer(16, 64);
    EXPECT_THROW(frame(framer, "{\"a\":\"0123456789abcdef\"}"), FramingError);
}

TEST(Framer, OversizedPartialMessageIsAnErrorBeforeItEnds)
{
    Framer framer(1000, 64);
    EXPECT_THROW(
        {
            for (int i = 0; i < 100; ++i)
                frame(framer, i == 0 ? std::string("{\"a\":\"") : std::string(100, 'x'));
        },
        FramingError);
    EXPECT_LT(framer.buffered(), 1200u);
}

TEST(Framer, MessageAtTheLimitIsAccepted)
{
    Framer framer(9, 64);
    EXPECT_EQ(frame(framer, "{\"a\":123}").size(), 1u);
}

TEST(Framer, TooDeepIsAnErrorWithoutReadingFurther)
{
    Framer framer(1 << 20, 4);
    EXPECT_EQ(frame(framer, "[[[[]]]]").size(), 1u);
    EXPECT_THROW(frame(framer, "[[[[[]]]]]"), FramingError);
}

TEST(Framer, HugeNestingDoesNotRecurse)
{
    Framer framer(1 << 22, 1024);
    EXPECT_THROW(frame(framer, std::string(200000, '[')), FramingError);
}

TEST(Framer, ManyMessagesInOneRead)
{
    std::string stream;
    for (int i = 0; i < 1000; ++i)
        stream += "{\"return\":{},\"id\":\"" + std::to_string(i) + "\"}\r\n";
    const auto out = frame(stream);
    ASSERT_EQ(out.size(), 1000u);
    EXPECT_EQ(out[999], "{\"return\":{},\"id\":\"999\"}");
}

TEST(Framer, WholeMessagesAreViewsOfTheFedBytes)
{
    Framer framer(1 << 20, 64);
    const std::string stream = "{\"a\":1}\r\n{\"b\":2}\r\n{\"c\"";
    std::vector<std::string_view> views;
    framer.feed(stream.data(), stream.size(), [&](std::string_view m) { views.push_back(m); });
    ASSERT_EQ(views.size(), 2u);
    EXPECT_EQ(views[0].data(), stream.data());
    EXPECT_EQ(views[1].data(), stream.data() + 9);
    EXPECT_EQ(framer.buffered(), 4u); // the incomplete message, from its opening brace
}

TEST(Framer, WhitespaceBeforeAPartialMessageIsNotBuffered)
{
    Framer framer(1 << 20, 64);
    EXPECT_TRUE(frame(framer, "\r\n  \t{\"a\"").empty());
    EXPECT_EQ(framer.buffered(), 4u);
    EXPECT_TRUE(frame(framer, "\r\n").empty()); // inside the message: pretty-printed
    EXPECT_EQ(framer.buffered(), 6u);
    EXPECT_EQ(frame(framer, ":1}\r\n \r\n").size(), 1u);
    EXPECT_EQ(framer.buffered(), 0u);
}

// Escapes, quotes and brackets at every position around the 16- and 64-byte blocks the scan
// works in, fed whole and in every chunk size up to 80.
TEST(Framer, EscapesAndBracketsAcrossBlocks)
{
    for (std::size_t pad = 0; pad < 140; ++pad) {
        const std::string message = "{\"k\":\"" + std::string(pad, 'a') + "\\\"}]\\\\\",\"l\":[" +
            std::string(pad % 7, ' ') + "{\"m\":\"\\\\\"}]}";
        const std::string stream = message + "\r\n" + message + "\n" + message;
        const std::vector<std::string> expected{message, message, message};
        EXPECT_EQ(frame(stream), expected) << pad;
        for (std::size_t chunk = 1; chunk <= 80; ++chunk) {
            Framer framer(1 << 20, 64);
            std::vector<std::string> out;
            for (std::size_t at = 0; at < stream.size(); at += chunk) {
                auto part = frame(framer, stream.substr(at, chunk));
                out.insert(out.end(), part.begin(), part.end());
            }
            ASSERT_EQ(out, expected) << "pad " << pad << " chunk " << chunk;
            EXPECT_EQ(framer.buffered(), 0u);
        }
    }
}

TEST(Framer, TooDeepAfterLongStrings)
{
    for (std::size_t pad = 0; pad < 140; ++pad) {
        Framer framer(1 << 20, 4);
        const std::string ok = "{\"s\":\"" + std::string(pad, 'x') + "\",\"t\":[[[\"]]]]\"]]]}";
        EXPECT_EQ(frame(framer, ok).size(), 1u) << pad;
        EXPECT_THROW(frame(framer, "{\"s\":\"" + std::string(pad, 'x') + "\",\"t\":[[[[1]]]]}"),
            FramingError)
            << pad;
    }
}

TEST(Framer, MessageEndingInALaterFeedIsWhole)
{
    Framer framer(1 << 20, 64);
    const std::string first = "{\"return\": [{\"name\": \"" + std::string(100, 'n') + "\"}, ";
    EXPECT_TRUE(frame(framer, first).empty());
    EXPECT_EQ(framer.buffered(), first.size());
    const auto out = frame(framer, "{\"name\": \"}\"}]}\r\n{\"event\":\"STOP\"}\r\n");
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], first + "{\"name\": \"}\"}]}");
    EXPECT_EQ(out[1], "{\"event\":\"STOP\"}");
    EXPECT_EQ(framer.buffered(), 0u);
}

TEST(Framer, OversizedMessageSpanningFeedsIsAnError)
{
    Framer framer(20, 64);
    EXPECT_TRUE(frame(framer, "{\"a\":\"0123456789").empty());
    EXPECT_THROW(frame(framer, "abcdef\"}"), FramingError);
}

// If the callback throws, the bytes after its message are not lost: the next feed() (even of no
// bytes) goes on with them.
TEST(Framer, CallbackThrowingKeepsTheRest)
{
    Framer framer(1 << 20, 64);
    const std::string stream = "{\"a\":1}\r\n{\"b\":2}\r\n{\"c\":";
    std::vector<std::string> out;
    const auto throwing = [&](std::string_view m) {
        out.emplace_back(m);
        throw std::runtime_error("callback");
    };
    EXPECT_THROW(framer.feed(stream.data(), stream.size(), throwing), std::runtime_error);
    EXPECT_THROW(framer.feed(nullptr, 0, throwing), std::runtime_error);
    EXPECT_EQ(out, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
    EXPECT_EQ(frame(framer, "3}"), std::vector<std::string>{"{\"c\":3}"});
    EXPECT_EQ(framer.buffered(), 0u);
}
