// SPDX-License-Identifier: MIT
// The qmp-shell input language, without QEMU.
#include <gtest/gtest.h>

#include "command_syntax.hpp"

using qmp::json;
using qmp_tools::CommandReader;
using qmp_tools::parse_command;
using qmp_tools::parse_value;
using qmp_tools::SyntaxError;

namespace {

// The column of the SyntaxError \p line raises through parse_command(), or -1.
long error_column(const std::string& line)
{
    try {
        parse_command(line);
    } catch (const SyntaxError& e) {
        return static_cast<long>(e.column());
    }
    return -1;
}

json arguments_of(const std::string& line)
{
    return parse_command(line)->arguments;
}

} // namespace

TEST(CommandSyntax, CommandWithoutArgumentsHasEmptyObject)
{
    const auto request = parse_command("query-status");
    ASSERT_TRUE(request);
    EXPECT_EQ(request->command, "query-status");
    EXPECT_EQ(request->arguments, json::object());
}

TEST(CommandSyntax, BlankLineIsNoCommand)
{
    EXPECT_FALSE(parse_command(""));
    EXPECT_FALSE(parse_command("   \t"));
}

TEST(CommandSyntax, JsonValuesAreJson)
{
    EXPECT_EQ(arguments_of("c n=42 f=1.5 neg=-3 t=true f2=false z=null"),
        (json{{"n", 42}, {"f", 1.5}, {"neg", -3}, {"t", true}, {"f2", false}, {"z", nullptr}}));
    EXPECT_EQ(arguments_of(R"(c s="42" a=[1,"x"] o={"k":{"l":[]}})"),
        (json{{"s", "42"}, {"a", {1, "x"}}, {"o", {{"k", {{"l", json::array()}}}}}}));
}

TEST(CommandSyntax, OtherTextIsAString)
{
    EXPECT_EQ(arguments_of("c driver=virtio-rng-pci id=rng0 path=/tmp/x.img v=08 w=Truly"),
        (json{{"driver", "virtio-rng-pci"}, {"id", "rng0"}, {"path", "/tmp/x.img"}, {"v", "08"},
            {"w", "Truly"}}));
}

TEST(CommandSyntax, EmptyValueIsEmptyString)
{
    EXPECT_EQ(arguments_of("c id="), (json{{"id", ""}}));
}

TEST(CommandSyntax, SingleQuotesMakeAStringEvenOfANumber)
{
    EXPECT_EQ(arguments_of("c id='123' s='two words' e='it\\'s'"),
        (json{{"id", "123"}, {"s", "two words"}, {"e", "it's"}}));
}

TEST(CommandSyntax, DoubleQuotedStringKeepsSpaces)
{
    EXPECT_EQ(
        arguments_of(R"(c command-line="info status")"), (json{{"command-line", "info status"}}));
}

TEST(CommandSyntax, JsonWithSpacesIsOneWord)
{
    EXPECT_EQ(arguments_of(R"(c o={"a": 1, "b": [1, 2]} x=1)"),
        (json{{"o", {{"a", 1}, {"b", {1, 2}}}}, {"x", 1}}));
}

TEST(CommandSyntax, DottedKeysNest)
{
    EXPECT_EQ(arguments_of("blockdev-add driver=null-co node-name=n0 cache.direct=true "
                           "cache.no-flush=false a.b.c=1"),
        (json{{"driver", "null-co"}, {"node-name", "n0"},
            {"cache", {{"direct", true}, {"no-flush", false}}}, {"a", {{"b", {{"c", 1}}}}}}));
}

TEST(CommandSyntax, WholeJsonObjectIsSentAsItIs)
{
    const auto request =
        parse_command(R"(  {"execute": "qom-list", "arguments": {"path": "/"}, "id": 7})");
    ASSERT_TRUE(request);
    EXPECT_EQ(request->command, "qom-list");
    EXPECT_EQ(request->arguments, (json{{"path", "/"}}));
    EXPECT_EQ(
        request->raw, (json{{"execute", "qom-list"}, {"arguments", {{"path", "/"}}}, {"id", 7}}));
}

TEST(CommandSyntax, KeyValueCommandHasNoRawMessage)
{
    EXPECT_TRUE(parse_command("stop")->raw.is_null());
}

TEST(CommandSyntax, JsonObjectWithoutExecuteIsAnError)
{
    EXPECT_EQ(error_column(R"(  {"arguments": {}})"), 2);
}

TEST(CommandSyntax, BrokenJsonObjectPointsAtTheBadCharacter)
{
    //                      0123456789012345
    EXPECT_EQ(error_column(R"({"execute": x})"), 12);
}

TEST(CommandSyntax, MissingEqualsPointsAtTheWord)
{
    //                     0123456789
    EXPECT_EQ(error_column("cmd a=1 oops b=2"), 8);
}

TEST(CommandSyntax, BrokenJsonValuePointsIntoTheValue)
{
    //                     0         1
    //                     0123456789012345
    EXPECT_EQ(error_column(R"(cmd a=1 o={"k":x})"), 15);
}

TEST(CommandSyntax, UnclosedBracketPointsAtIt)
{
    EXPECT_EQ(error_column("cmd a=[1,2 b=3"), 6);
}

TEST(CommandSyntax, StrayClosingBracketPointsAtIt)
{
    EXPECT_EQ(error_column("cmd a=1]"), 7);
}

TEST(CommandSyntax, UnterminatedQuotePointsAtTheQuote)
{
    EXPECT_EQ(error_column("cmd a='abc"), 6);
    EXPECT_EQ(error_column("cmd a=\"abc"), 6);
}

TEST(CommandSyntax, EmptyKeyComponentIsAnError)
{
    EXPECT_EQ(error_column("cmd a..b=1"), 6);
    EXPECT_EQ(error_column("cmd =1"), 4);
}

TEST(CommandSyntax, DuplicateKeyIsAnError)
{
    EXPECT_EQ(error_column("cmd a=1 a=2"), 8);
}

TEST(CommandSyntax, KeyUsedAsValueAndObjectIsAnError)
{
    EXPECT_EQ(error_column("cmd a=1 a.b=2"), 8);
    EXPECT_EQ(error_column("cmd a.b=1 a=2"), 10);
}

TEST(CommandSyntax, CommandNameMustNotBeKeyValue)
{
    EXPECT_EQ(error_column("  a=1"), 2);
}

// Found by fuzz_shell_syntax: a line of form feeds or vertical tabs (whitespace to the word
// splitter, not to the blank-line check) made parse_command() read the first of zero words;
// qmp-shell died of SIGSEGV on `printf '\f\n' | qmp-shell`.
TEST(CommandSyntax, LineOfFormFeedsAndVerticalTabsIsBlank)
{
    EXPECT_FALSE(parse_command("\f"));
    EXPECT_FALSE(parse_command(" \v\f\t\r"));
    CommandReader reader;
    EXPECT_FALSE(reader.feed("\f"));
    EXPECT_FALSE(reader.in_transaction());
    EXPECT_EQ(parse_command("\fquery-status")->command, "query-status");
}

// Found by fuzz_shell_syntax: text that is not UTF-8 became a string that cannot be serialised,
// so the request failed only when sent (a UsageError from the library), while the same text in
// a whole JSON command is a syntax error. Now both are syntax errors at the offending byte.
// Found by fuzz_shell_syntax: nlohmann/json reports a number no double holds as out_of_range,
// which escaped qmp-shell as an exception other than SyntaxError.
TEST(CommandSyntax, NumberTooLargeIsASyntaxErrorAtTheValue)
{
    EXPECT_EQ(error_column(R"({"execute": "c", "arguments": {"x": 1e999}})"), 0);
    // In key=value a value that is not JSON is a string, as in Python's qmp-shell.
    EXPECT_EQ(arguments_of("c x=1e999"), (json{{"x", "1e999"}}));
}

TEST(CommandSyntax, InvalidUtf8IsAnErrorAtTheByte)
{
    EXPECT_EQ(error_column("c x=ab\xb0"), 6);
    EXPECT_EQ(error_column("c x='\xff'"), 5);
    EXPECT_EQ(error_column("c k\xc3=1"), 3); // truncated sequence in a key
    EXPECT_EQ(error_column("c\xed\xa0\x80 x=1"), 1); // a surrogate in the command name
    EXPECT_EQ(error_column("c x=\xc0\xaf"), 4); // overlong '/'
    EXPECT_EQ(error_column(R"({"execute": "c", "arguments": {"x": ")"
                           "\xb0"
                           R"("}})"),
        37);
    EXPECT_THROW(parse_value("\xf5\x80\x80\x80"), SyntaxError); // beyond U+10FFFF
    EXPECT_EQ(arguments_of("c x=\xc3\xa9t\xc3\xa9 y=\xf0\x9f\x98\x80"),
        (json{{"x", "\xc3\xa9t\xc3\xa9"}, {"y", "\xf0\x9f\x98\x80"}}));
    EXPECT_NO_THROW(arguments_of("c x=\xc3\xa9t\xc3\xa9").dump());
}

TEST(CommandSyntax, FormattedErrorHasCaretUnderColumn)
{
    const std::string line = "cmd a=1 oops";
    try {
        parse_command(line);
        FAIL() << "no error";
    } catch (const SyntaxError& e) {
        EXPECT_EQ(
            qmp_tools::format_syntax_error(line, e), "cmd a=1 oops\n        ^ expected key=value");
    }
}

TEST(ValueSyntax, ValueRuleIsSharedWithQom)
{
    EXPECT_EQ(parse_value("1024"), json(1024));
    EXPECT_EQ(parse_value("on"), json("on"));
    EXPECT_EQ(parse_value("'1024'"), json("1024"));
    EXPECT_THROW(parse_value("[1,"), SyntaxError);
}

TEST(ValueSyntax, PythonBooleansAndNoneAsInPythonsQmpShell)
{
    EXPECT_EQ(arguments_of("c a=True b=False c=TRUE d=false e=None f=none"),
        (json{
            {"a", true}, {"b", false}, {"c", true}, {"d", false}, {"e", nullptr}, {"f", "none"}}));
}

TEST(ValueSyntax, PythonLiteralsInsideObjectsAndArrays)
{
    EXPECT_EQ(arguments_of("blockdev-add file={'driver':'null-co','read-zeroes':True}"),
        (json{{"file", {{"driver", "null-co"}, {"read-zeroes", true}}}}));
    EXPECT_EQ(parse_value("['a', \"b\", None, 1.5, -2, (3,), {'k': \"it's\"},]"),
        json::parse(R"(["a", "b", null, 1.5, -2, [3], {"k": "it's"}])"));
    EXPECT_EQ(parse_value(R"({'q': 'say \'hi\' "there"'})"), (json{{"q", "say 'hi' \"there\""}}));
}

TEST(ValueSyntax, DeeplyNestedLiteralIsAnErrorNotACrash)
{
    const std::string deep = std::string(100000, '[') + "'a'" + std::string(100000, ']');
    EXPECT_THROW(parse_value(deep), SyntaxError);
    EXPECT_EQ(parse_value("[[['a']]]"), json::parse(R"([[["a"]]])"));
}

TEST(ValueSyntax, BrokenLiteralSaysWhatToWriteInOneLine)
{
    const auto message = [](const std::string& line) {
        try {
            parse_command(line);
        } catch (const SyntaxError& e) {
            return qmp_tools::format_syntax_error(line, e);
        }
        return std::string("no error");
    };
    EXPECT_EQ(message("c file={driver:'null-co'}"),
        "c file={driver:'null-co'}\n"
        "        ^ expected a quoted key, e.g. {'driver': 'null-co'}");
    EXPECT_EQ(message("c x=[1, yes]"),
        "c x=[1, yes]\n"
        "        ^ 'yes' is not a value: quote strings ('yes'); true/True, false/False and "
        "null/None are the names known");
    EXPECT_EQ(message("c x={'a': 1"), "c x={'a': 1\n    ^ unclosed '{'");
}

TEST(Transaction, MultiLineBlockBecomesOneTransaction)
{
    CommandReader reader;
    EXPECT_FALSE(reader.feed("transaction("));
    EXPECT_TRUE(reader.in_transaction());
    EXPECT_FALSE(reader.feed("block-dirty-bitmap-add node=d0 name=b1"));
    EXPECT_FALSE(reader.feed("  "));
    EXPECT_FALSE(reader.feed("block-dirty-bitmap-clear node=d0 name=b0"));
    const auto request = reader.feed(")");
    ASSERT_TRUE(request);
    EXPECT_FALSE(reader.in_transaction());
    EXPECT_EQ(request->command, "transaction");
    EXPECT_EQ(request->arguments,
        (json{{"actions",
            {{{"type", "block-dirty-bitmap-add"}, {"data", {{"node", "d0"}, {"name", "b1"}}}},
                {{"type", "block-dirty-bitmap-clear"},
                    {"data", {{"node", "d0"}, {"name", "b0"}}}}}}}));
}

TEST(Transaction, OneLineTransaction)
{
    CommandReader reader;
    const auto request = reader.feed("transaction( abort )");
    ASSERT_TRUE(request);
    EXPECT_EQ(
        request->arguments, (json{{"actions", {{{"type", "abort"}, {"data", json::object()}}}}}));
}

TEST(Transaction, FirstActionOnTheOpeningLine)
{
    CommandReader reader;
    EXPECT_FALSE(reader.feed("transaction( abort"));
    const auto request = reader.feed("abort )");
    ASSERT_TRUE(request);
    EXPECT_EQ(request->arguments["actions"].size(), 2u);
}

TEST(Transaction, BadActionIsDroppedAndTransactionStaysOpen)
{
    CommandReader reader;
    reader.feed("transaction(");
    EXPECT_THROW(reader.feed("abort x"), SyntaxError);
    EXPECT_TRUE(reader.in_transaction());
    reader.feed("abort");
    const auto request = reader.feed(")");
    ASSERT_TRUE(request);
    EXPECT_EQ(request->arguments["actions"].size(), 1u);
}

TEST(Transaction, TextAfterClosingParenthesisIsAnError)
{
    CommandReader reader;
    reader.feed("transaction(");
    try {
        reader.feed(") stop");
        FAIL() << "no error";
    } catch (const SyntaxError& e) {
        EXPECT_EQ(e.column(), 2u);
    }
}

TEST(Transaction, OrdinaryCommandsPassThrough)
{
    CommandReader reader;
    const auto request = reader.feed("stop");
    ASSERT_TRUE(request);
    EXPECT_EQ(request->command, "stop");
}
