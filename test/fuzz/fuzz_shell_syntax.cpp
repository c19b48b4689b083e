// SPDX-License-Identifier: MIT
// libFuzzer target: qmp-shell's input language (tools/common/command_syntax.*), the parser of
// `command key.sub=value ...` lines, whole JSON commands and `transaction(` ... `)` blocks.
//
// Input: text, split into lines at '\n'. Checked for every line:
//  - parse_command(), parse_value(), split_words() and CommandReader::feed() either return or
//    throw qmp_tools::SyntaxError, whose column lies within the line (at most one past its end)
//    and which format_syntax_error() can show; nothing else escapes;
//  - parse_command() returns nothing exactly for a line of whitespace;
//  - split_words(): every word is the line's own bytes at its column, non-empty, in order, and
//    does not start with whitespace;
//  - a request has an object of arguments that can be sent (and a key=value one a non-empty
//    command name): it
//    serialises (dump() does not throw: valid UTF-8 only). A whole-JSON line keeps the object as
//    typed in `raw`, and command and arguments are taken from it; re-parsing raw.dump() gives the
//    same request;
//  - a key=value request whose command name and top-level keys are plain words round-trips:
//    `command key=<compact JSON of the value> ...` parses to the same request;
//  - parse_value() of valid JSON text is that JSON;
//  - the transaction reader's request is "transaction" with {"actions": [{"type": name,
//    "data": {...}}, ...]}.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <qmp/json.hpp>

#include "command_syntax.hpp"

namespace {

using qmp::json;
using qmp_tools::CommandReader;
using qmp_tools::Request;
using qmp_tools::SyntaxError;

[[noreturn]] void fail(const char* what, const std::string& line, const std::string& detail = {})
{
    std::fprintf(stderr, "FUZZ INVARIANT VIOLATED: %s\n  line: %s\n  %s\n", what,
        json(line).dump(-1, ' ', true, json::error_handler_t::replace).c_str(), detail.c_str());
    std::abort();
}

bool is_blank(const std::string& line)
{
    return line.find_first_not_of(" \t\n\r\v\f") == std::string::npos;
}

bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// A word that split_words() keeps whole and that is neither JSON-like nor a key path: letters,
// digits and a few punctuation marks.
bool is_plain(const std::string& word)
{
    if (word.empty())
        return false;
    for (const char c : word)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == ':' || c == '/' || c == '@' || c == '+' || c == ','))
            return false;
    return true;
}

void check_syntax_error(const SyntaxError& e, const std::string& line, const char* where)
{
    if (e.column() > line.size())
        fail("SyntaxError column beyond the end of the line", line,
            std::string(where) + ": column " + std::to_string(e.column()) + " of " +
                std::to_string(line.size()) + ": " + e.what());
    if (std::string(e.what()).empty())
        fail("SyntaxError without a message", line, where);
    const std::string shown = qmp_tools::format_syntax_error(line, e);
    if (shown.compare(0, line.size(), line) != 0)
        fail("format_syntax_error() does not start with the line", line, shown);
}

std::string dump_or_fail(const json& value, const std::string& line, const char* what)
{
    try {
        return value.dump();
    } catch (const json::exception& e) {
        fail(what, line, e.what());
    }
}

// Runs \p parse; any exception other than SyntaxError is a violation.
template <typename Parse>
auto guarded(const std::string& line, const char* where, Parse parse)
    -> std::optional<decltype(parse())>
{
    try {
        return parse();
    } catch (const SyntaxError& e) {
        check_syntax_error(e, line, where);
        return std::nullopt;
    } catch (const std::exception& e) {
        fail("an exception other than SyntaxError", line, std::string(where) + ": " + e.what());
    }
}

void check_request(const Request& request, const std::string& line, const char* where)
{
    // A JSON command goes to QEMU as typed, even {"execute": ""}: QEMU is the judge of it.
    if (request.command.empty() && request.raw.is_null())
        fail("empty command name", line, where);
    if (!request.arguments.is_object())
        fail("arguments are not an object", line, where);
    dump_or_fail(request.arguments, line, "the arguments cannot be serialised");
    if (!request.raw.is_null()) {
        if (!request.raw.is_object())
            fail("raw is not an object", line, where);
        dump_or_fail(request.raw, line, "the raw command cannot be serialised");
        const auto execute = request.raw.contains("execute") ? request.raw.find("execute")
                                                             : request.raw.find("exec-oob");
        if (execute == request.raw.end() || *execute != request.command)
            fail("raw's execute/exec-oob is not the command", line, request.raw.dump());
        const json arguments = request.raw.value("arguments", json::object());
        if (arguments != request.arguments)
            fail("raw's arguments are not the arguments", line, request.raw.dump());
    }
}

void check_words(const std::string& line)
{
    const auto words = guarded(line, "split_words", [&] { return qmp_tools::split_words(line); });
    if (!words)
        return;
    std::size_t end = 0;
    for (const auto& word : *words) {
        if (word.text.empty())
            fail("empty word", line);
        if (word.column < end || line.compare(word.column, word.text.size(), word.text) != 0)
            fail("a word is not the line's bytes at its column, in order", line,
                "column " + std::to_string(word.column));
        if (is_space(word.text.front()))
            fail("a word starts with whitespace", line, "column " + std::to_string(word.column));
        end = word.column + word.text.size();
    }
}

void check_command(const std::string& line)
{
    const auto parsed =
        guarded(line, "parse_command", [&] { return qmp_tools::parse_command(line); });
    if (!parsed)
        return;
    const std::optional<Request>& request = *parsed;
    if (!request) {
        if (!is_blank(line))
            fail("no request for a line that is not blank", line);
        return;
    }
    if (is_blank(line))
        fail("a request for a blank line", line);
    check_request(*request, line, "parse_command");

    if (!request->raw.is_null()) {
        // The JSON form round-trips through its own serialisation.
        const std::string again = request->raw.dump();
        const auto reparsed = guarded(
            again, "parse_command(raw.dump())", [&] { return qmp_tools::parse_command(again); });
        if (!reparsed || !*reparsed || (*reparsed)->command != request->command ||
            (*reparsed)->arguments != request->arguments || (*reparsed)->raw != request->raw)
            fail("raw.dump() does not parse to the same request", line, again);
        return;
    }

    // The key=value form round-trips through `command key=<JSON> ...` when the words are plain.
    if (!is_plain(request->command))
        return;
    std::string again = request->command;
    for (const auto& [key, value] : request->arguments.items()) {
        if (!is_plain(key))
            return;
        again += " " + key + "=" + value.dump();
    }
    const auto reparsed = guarded(
        again, "parse_command(serialised)", [&] { return qmp_tools::parse_command(again); });
    if (!reparsed || !*reparsed || (*reparsed)->command != request->command ||
        (*reparsed)->arguments != request->arguments)
        fail("the serialised request does not parse to the same request", line,
            again + " -> " +
                (reparsed && *reparsed ? (*reparsed)->arguments.dump() : std::string("error")));
}

void check_value(const std::string& line)
{
    const auto value = guarded(line, "parse_value", [&] { return qmp_tools::parse_value(line); });
    if (!value)
        return;
    dump_or_fail(*value, line, "a value cannot be serialised");
    const json reference = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!reference.is_discarded() && reference != *value)
        fail("parse_value() of valid JSON is not that JSON", line, value->dump());
}

void check_transaction(const Request& request, const std::string& line)
{
    if (request.command != "transaction")
        return;
    const auto actions = request.arguments.find("actions");
    if (request.arguments.size() != 1 || actions == request.arguments.end() || !actions->is_array())
        fail("a transaction without a list of actions", line, request.arguments.dump());
    for (const auto& action : *actions)
        if (!action.is_object() || action.size() != 2 || !action.contains("type") ||
            !action["type"].is_string() || action["type"].get<std::string>().empty() ||
            !action.contains("data") || !action["data"].is_object())
            fail("a malformed transaction action", line, action.dump());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string input(reinterpret_cast<const char*>(data), size);
    CommandReader reader;
    std::size_t start = 0;
    while (start <= input.size()) {
        auto end = input.find('\n', start);
        if (end == std::string::npos)
            end = input.size();
        const std::string line = input.substr(start, end - start);
        start = end + 1;

        check_words(line);
        check_command(line);
        check_value(line);

        const bool was_in = reader.in_transaction();
        const auto first = line.find_first_not_of(" \t\r\n\v\f");
        const bool opens = first != std::string::npos &&
            line.compare(first, 12, "transaction(") == 0 &&
            (first + 12 == line.size() || is_space(line[first + 12]));
        const auto fed = guarded(line, "CommandReader::feed", [&] { return reader.feed(line); });
        if (fed && *fed) {
            check_request(**fed, line, "CommandReader::feed");
            if (reader.in_transaction())
                fail("a request while the transaction is still open", line);
            if (was_in || opens)
                check_transaction(**fed, line);
        }
    }
    return 0;
}
