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
    framer.feed(bytes.data(), bytes.size(),
                [&](std::string_view message) { out.emplace_back(message); });
    return out;
}

std::vector<std::string> frame(const std::string& bytes)
{
    Framer framer(1 << 20, 64);
    return frame(framer, bytes);
}

}  // namespace

TEST(Framer, QemuLineEndings)
{
    EXPECT_EQ(frame("{\"a\":1}\r\n{\"b\":2}\r\n"),
              (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
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
    const std::string stream = R"({"event":"STOP","data":{"s":"}"}})" "\r\n" R"({"return":{}})";
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
