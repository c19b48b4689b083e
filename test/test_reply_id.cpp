// SPDX-License-Identifier: MIT
// reply_id_at_end(): which messages the reader hands to their caller unparsed, and by which id.
// Its contract is that a valid message is never routed by an id that is not its own; anything
// it is unsure of is left to the reader's parse (std::nullopt). fuzz_reply_id checks the same
// against nlohmann's parser on arbitrary input.
#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "reply_id.hpp"

using qmp::detail::reply_id_at_end;

namespace {

struct Case {
    const char* name;
    std::string message;
    std::optional<std::string> id;
};

// Named in test output by its name: gtest's fallback prints the struct's bytes, padding
// included, which valgrind rightly reports as reading uninitialised memory.
void PrintTo(const Case& c, std::ostream* out)
{
    *out << c.name;
}

class ReplyIdAtEnd : public ::testing::TestWithParam<Case> { };

} // namespace

TEST_P(ReplyIdAtEnd, FindsTheIdOnlyWhereItIsCertain)
{
    const Case& c = GetParam();
    const auto found = reply_id_at_end(c.message);
    ASSERT_EQ(found.has_value(), c.id.has_value()) << c.message;
    if (found) {
        EXPECT_EQ(std::string(*found), *c.id) << c.message;
        EXPECT_GE(found->data(), c.message.data()) << "a view into the message";
        EXPECT_LE(found->data() + found->size(), c.message.data() + c.message.size());
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ReplyIdAtEnd,
    ::testing::Values(
        // What QEMU 7.2 writes.
        Case{"QemuReply", R"({"return": {"status": "running"}, "id": "3"})", "3"},
        Case{"Compact", R"({"return":[1,2,3],"id":"17"})", "17"},
        Case{"PrettyPrinted", "{\n    \"return\": {\n    },\n    \"id\": \"9\"\n}", "9"},
        Case{"EmptyId", R"({"return": 1, "id": ""})", ""},
        Case{"IdWithSpacesAndUtf8", R"({"return": 1, "id": "my id é"})", "my id é"},
        Case{"StringReturnEndingInBackslash", R"({"return": "x\\", "id": "7"})", "7"},
        // The last "id" is the one a parser keeps.
        Case{"RepeatedIdTheLastCounts", R"({"return": 1, "id": "1", "id": "2"})", "2"},
        // Not a reply QEMU writes that way: left to the reader.
        Case{"IdFirst", R"({"id": "4", "return": {}})", std::nullopt},
        Case{"ErrorReply", R"({"id": "4", "error": {"class": "GenericError", "desc": "x"}})",
            std::nullopt},
        Case{"ReturnAfterAnotherMember", R"({"x": 1, "return": 1, "id": "3"})", std::nullopt},
        Case{"Event", R"({"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}})",
            std::nullopt},
        Case{"NumericId", R"({"return": 1, "id": 3})", std::nullopt},
        Case{"ObjectId", R"({"return": 1, "id": {"a": "b"}})", std::nullopt},
        Case{"EscapedId", R"({"return": 1, "id": "a\"b"})", std::nullopt},
        Case{"IdWithEscapedBackslash", R"({"return": 1, "id": "a\\"})", std::nullopt},
        Case{"OnlyReturn", R"({"return": {"id": "5"}})", std::nullopt},
        Case{"OnlyId", R"({"id": "5"})", std::nullopt},
        Case{"TopLevelArray", R"([{"return": 1, "id": "5"}])", std::nullopt},
        // Text that looks like an id member inside a string is never taken for one.
        Case{"IdInsideAStringValue", R"({"return": "\", \"id\": \"5\""})", std::nullopt},
        Case{"IdInsideALongerKey", R"({"return": 1, "x\"id": "5"})", std::nullopt},
        Case{"KeyEndingInId", R"({"return": 1, "xid": "5"})", std::nullopt},
        Case{"IdOfANestedObject", R"({"return": {"a": 1, "id": "5"}})", std::nullopt},
        // Not valid JSON: found or not, the caller's parse rejects it; never out of bounds.
        Case{"Empty", "", std::nullopt}, Case{"JustBraces", "{}", std::nullopt},
        Case{"ControlCharacterInId", std::string("{\"return\": 1, \"id\": \"a\x01\"}"),
            std::nullopt},
        Case{"NoCommaBeforeId", R"({"return": 1 "id": "5"})", std::nullopt},
        Case{"ReturnIsTheIdKey", R"({"return": "id": "5"})", std::nullopt},
        Case{"UnterminatedFront", R"({"return")", std::nullopt}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });
