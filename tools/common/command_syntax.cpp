// SPDX-License-Identifier: MIT
#include "command_syntax.hpp"

#include <cctype>
#include <cstdio>

#include "python_literal.hpp"

namespace qmp_tools {

namespace {

bool is_space(char c)
{
    return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// nlohmann's messages start with "[json.exception.parse_error.101] parse error at line 1,
// column 5: " — the position is shown by the caret already, so keep only the reason.
std::string json_reason(const std::string& what)
{
    const auto at = what.find("syntax error");
    std::string reason = at == std::string::npos ? what : what.substr(at);
    if (reason.rfind("syntax error while parsing ", 0) == 0)
        reason = "invalid JSON " + reason.substr(26);
    return reason;
}

// Parses \p text as JSON, turning a parse error into a SyntaxError at the offending byte.
qmp::json parse_json_or_throw(const std::string& text, std::size_t column_offset)
{
    try {
        return qmp::json::parse(text);
    } catch (const qmp::json::parse_error& e) {
        // e.byte is 1-based and points one past the end on premature end of input.
        const std::size_t byte = e.byte == 0 ? 0 : e.byte - 1;
        throw SyntaxError(json_reason(e.what()), column_offset + std::min(byte, text.size()));
    } catch (const qmp::json::out_of_range& e) {
        // A number no double holds (1e999): nlohmann gives no position, so point at the value.
        const std::string what = e.what();
        const auto reason = what.find("] ");
        throw SyntaxError(
            reason == std::string::npos ? what : what.substr(reason + 2), column_offset);
    }
}

std::string single_quoted(const std::string& text, std::size_t column_offset)
{
    std::string result;
    for (std::size_t i = 1; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\\' && i + 1 < text.size()) {
            result += text[++i];
        } else if (c == '\'') {
            if (i + 1 != text.size())
                throw SyntaxError("unexpected text after the closing quote", column_offset + i + 1);
            return result;
        } else {
            result += c;
        }
    }
    throw SyntaxError("unterminated quote", column_offset);
}

// The length of the valid UTF-8 sequence at \p text[i], or 0 if it is not one (a stray
// continuation byte, a truncated sequence, an overlong form, a surrogate, beyond U+10FFFF): the
// rules nlohmann/json applies when it parses and serialises strings.
std::size_t utf8_length(const std::string& text, std::size_t i)
{
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    if (lead < 0x80)
        return 1;
    std::size_t length;
    unsigned char low = 0x80, high = 0xbf; // the allowed range of the second byte
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        if (lead == 0xe0)
            low = 0xa0; // overlong
        else if (lead == 0xed)
            high = 0x9f; // surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        if (lead == 0xf0)
            low = 0x90; // overlong
        else if (lead == 0xf4)
            high = 0x8f; // beyond U+10FFFF
    } else {
        return 0;
    }
    if (i + length > text.size() || byte(i + 1) < low || byte(i + 1) > high)
        return 0;
    for (std::size_t k = 2; k < length; ++k)
        if (byte(i + k) < 0x80 || byte(i + k) > 0xbf)
            return 0;
    return length;
}

// Text that is not UTF-8 could not be sent (JSON strings are Unicode): say so at the bad byte,
// as for broken JSON, rather than build a request that fails only when it is serialised.
void require_utf8(const std::string& text, std::size_t column_offset)
{
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t length = utf8_length(text, i);
        if (length == 0) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[i]));
            throw SyntaxError(std::string("invalid UTF-8 byte ") + hex, column_offset + i);
        }
        i += length;
    }
}

// The first byte that is not whitespace, by the rule split_words() splits on (std::isspace,
// which includes \v and \f): a line of such bytes is blank, not a command without a name.
std::size_t first_non_space(const std::string& line)
{
    for (std::size_t i = 0; i < line.size(); ++i)
        if (!is_space(line[i]))
            return i;
    return std::string::npos;
}

bool is_command_name(const std::string& word)
{
    return word.find('=') == std::string::npos;
}

} // namespace

std::string format_syntax_error(const std::string& line, const SyntaxError& error)
{
    return line + "\n" + std::string(std::min(error.column(), line.size()), ' ') + "^ " +
        error.what();
}

qmp::json parse_value(const std::string& text, std::size_t column_offset)
{
    if (text.empty())
        return "";
    require_utf8(text, column_offset);
    if (text.front() == '\'')
        return single_quoted(text, column_offset);
    qmp::json value = qmp::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!value.is_discarded())
        return value;
    // Python's qmp-shell habits: True/TRUE/false... and None; {'a': True} and ['x', None].
    if (text == "None")
        return nullptr;
    std::string lower;
    for (char c : text)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "true" || lower == "false")
        return lower == "true";
    // Something that looks like JSON but is broken is almost always a typo: sending it as a
    // string would hide the mistake until QEMU complains about a type.
    if (text.front() == '{' || text.front() == '[')
        return parse_python_literal(text, column_offset);
    if (text.front() == '"')
        return parse_json_or_throw(text, column_offset);
    return text;
}

std::vector<Word> split_words(const std::string& line)
{
    require_utf8(line, 0);
    std::vector<Word> words;
    std::vector<std::pair<char, std::size_t>> open; // brackets still open, and where
    std::optional<Word> current;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (is_space(c) && open.empty()) {
            if (current)
                words.push_back(std::move(*current));
            current.reset();
            continue;
        }
        if (!current)
            current = Word{std::string(), i};
        if (c == '"' || c == '\'') {
            const std::size_t start = i;
            current->text += c;
            for (++i; i < line.size() && line[i] != c; ++i) {
                current->text += line[i];
                if (line[i] == '\\' && i + 1 < line.size())
                    current->text += line[++i];
            }
            if (i == line.size())
                throw SyntaxError("unterminated quote", start);
            current->text += c;
            continue;
        }
        if (c == '{' || c == '[') {
            open.emplace_back(c, i);
        } else if (c == '}' || c == ']') {
            const char expected = c == '}' ? '{' : '[';
            if (open.empty() || open.back().first != expected)
                throw SyntaxError(std::string("unbalanced '") + c + "'", i);
            open.pop_back();
        }
        current->text += c;
    }
    if (!open.empty())
        throw SyntaxError(std::string("unclosed '") + open.back().first + "'", open.back().second);
    if (current)
        words.push_back(std::move(*current));
    return words;
}

void add_key_values(const std::vector<Word>& words, qmp::json& target)
{
    for (const Word& word : words) {
        const auto equals = word.text.find('=');
        if (equals == std::string::npos)
            throw SyntaxError("expected key=value", word.column);
        const std::string key = word.text.substr(0, equals);
        qmp::json* parent = &target;
        std::size_t start = 0;
        for (;;) {
            const auto dot = key.find('.', start);
            const std::string name =
                key.substr(start, dot == std::string::npos ? dot : dot - start);
            const std::size_t column = word.column + start;
            if (name.empty())
                throw SyntaxError("empty key", column);
            if (dot == std::string::npos) {
                if (parent->contains(name))
                    throw SyntaxError((*parent)[name].is_object()
                            ? "'" + key + "' is both an object and a value"
                            : "'" + key + "' is set twice",
                        word.column);
                (*parent)[name] =
                    parse_value(word.text.substr(equals + 1), word.column + equals + 1);
                break;
            }
            qmp::json& child = (*parent)[name];
            if (child.is_null())
                child = qmp::json::object();
            else if (!child.is_object())
                throw SyntaxError(
                    "'" + key.substr(0, dot) + "' is both a value and an object", word.column);
            parent = &child;
            start = dot + 1;
        }
    }
}

std::optional<Request> parse_command(const std::string& line)
{
    const auto first = first_non_space(line);
    if (first == std::string::npos)
        return std::nullopt;
    if (line[first] == '{') {
        const qmp::json message = parse_json_or_throw(line.substr(first), first);
        if (!message.is_object())
            throw SyntaxError("expected a JSON object", first);
        auto execute = message.find("execute");
        if (execute == message.end())
            execute = message.find("exec-oob");
        if (execute == message.end() || !execute->is_string())
            throw SyntaxError(
                "a JSON command needs a string member \"execute\" or \"exec-oob\"", first);
        const auto arguments = message.find("arguments");
        if (arguments != message.end() && !arguments->is_object())
            throw SyntaxError("\"arguments\" must be an object", first);
        // Any other member goes to QEMU as typed: it is the judge of what it accepts.
        Request request{execute->get<std::string>(),
            arguments == message.end() ? qmp::json::object() : *arguments, message};
        return request;
    }
    const std::vector<Word> words = split_words(line);
    if (!is_command_name(words.front().text))
        throw SyntaxError("expected a command name", words.front().column);
    Request request{words.front().text, qmp::json::object(), nullptr};
    add_key_values(std::vector<Word>(words.begin() + 1, words.end()), request.arguments);
    return request;
}

std::optional<Request> CommandReader::feed(const std::string& line)
{
    if (!in_transaction_) {
        const auto first = first_non_space(line);
        if (first == std::string::npos || line[first] == '{')
            return parse_command(line);
    }
    std::vector<Word> words = split_words(line);
    if (!in_transaction_) {
        if (words.empty() || words.front().text != "transaction(")
            return parse_command(line);
        in_transaction_ = true;
        actions_ = qmp::json::array();
        words.erase(words.begin());
    }
    if (words.empty())
        return std::nullopt;
    if (words.front().text == ")") {
        if (words.size() > 1)
            throw SyntaxError("unexpected text after ')'", words[1].column);
        return finish_transaction();
    }
    bool last = false;
    if (words.back().text == ")") {
        words.pop_back();
        last = true;
    }
    // A bad action is reported and dropped; the transaction stays open so that a typo does not
    // throw away every action typed so far.
    if (!is_command_name(words.front().text))
        throw SyntaxError("expected an action name", words.front().column);
    qmp::json action{{"type", words.front().text}, {"data", qmp::json::object()}};
    add_key_values(std::vector<Word>(words.begin() + 1, words.end()), action["data"]);
    actions_.push_back(std::move(action));
    return last ? finish_transaction() : std::nullopt;
}

std::optional<Request> CommandReader::finish_transaction()
{
    in_transaction_ = false;
    Request request{"transaction", {{"actions", std::move(actions_)}}, nullptr};
    actions_ = qmp::json::array();
    return request;
}

} // namespace qmp_tools
