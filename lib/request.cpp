// SPDX-License-Identifier: MIT
#include "request.hpp"

#include <algorithm>

#include <qmp/error.hpp>

#include "redact.hpp"
#include "text.hpp"

namespace qmp::detail {

namespace {

// QAPI names and the ids the client makes need no escaping: only unusual text goes through the
// serializer (whose set-up alone costs more than writing a plain name).
struct PlainBytes {
    bool plain[256] = {};
    constexpr PlainBytes()
    {
        for (int c = 'a'; c <= 'z'; ++c)
            plain[c] = plain[c - 'a' + 'A'] = true;
        for (int c = '0'; c <= '9'; ++c)
            plain[c] = true;
        plain[int('-')] = plain[int('_')] = plain[int('.')] = true;
    }
};
constexpr PlainBytes plain_bytes;

bool is_plain(const std::string& text)
{
    for (const char c : text)
        if (!plain_bytes.plain[static_cast<unsigned char>(c)])
            return false;
    return !text.empty();
}

void append_string(std::string& out, const std::string& text, bool known_plain = false)
{
    if (known_plain || is_plain(text)) {
        out += '"';
        out += text;
        out += '"';
    } else {
        out += json(text).dump(-1, ' ', false, json::error_handler_t::strict);
    }
}

std::string command_message(const std::string& prefix, const std::string& command,
    const json& arguments, const std::string& id, bool oob, bool plain_id = false)
{
    // Written by hand rather than built as a json object: a request is mostly fixed text.
    std::string text;
    text.reserve(32 + prefix.size() + command.size() + id.size());
    text += prefix;
    text += oob ? "{\"exec-oob\":" : "{\"execute\":";
    append_string(text, command);
    if (arguments.is_object() && !arguments.empty()) {
        text += ",\"arguments\":";
        text += arguments.dump(-1, ' ', false, json::error_handler_t::strict);
    }
    text += ",\"id\":";
    append_string(text, id, plain_id);
    text += '}';
    return text;
}

} // namespace

std::string raw_command_name(const json& message)
{
    if (!message.is_object())
        return "raw";
    for (const char* key : {"execute", "exec-oob"}) {
        const auto name = message.find(key);
        if (name != message.end())
            return name->is_string() ? name->get<std::string>() : name->dump();
    }
    return "raw";
}

void check_request(const Request& request)
{
    if (request.message) {
        const json& message = *request.message;
        if (!message.is_object() || !(message.contains("execute") || message.contains("exec-oob")))
            throw UsageError("qmp: a raw message must be an object with \"execute\" or "
                             "\"exec-oob\", not " +
                excerpt(message));
        const auto id = message.find("id");
        if (id != message.end() && !id->is_string())
            throw UsageError("qmp: the id of a raw message must be a string (QEMU re-serializes "
                             "other ids, so their replies cannot be matched reliably)");
        return;
    }
    if (request.arguments && !request.arguments->is_null() && !request.arguments->is_object())
        throw UsageError("qmp: arguments of '" + request.command + "' must be a JSON object, not " +
            request.arguments->type_name());
}

std::string serialize_request(
    const Request& request, const std::string& command, const std::string& id)
{
    try {
        if (request.message) {
            json message = *request.message;
            message["id"] = id;
            return request.prefix + message.dump(-1, ' ', false, json::error_handler_t::strict);
        }
        // Without a caller's message the id is one of ours: digits.
        static const json none;
        return command_message(request.prefix, command,
            request.arguments ? *request.arguments : none, id, request.oob, true);
    } catch (const json::exception& e) {
        throw UsageError("qmp: arguments of '" + command + "' cannot be serialized: " + e.what());
    }
}

std::string request_for_log(
    const Request& request, const std::string& command, const std::string& id)
{
    try {
        json arguments;
        if (request.message) {
            json message = *request.message;
            const auto given = message.find("arguments");
            if (given != message.end())
                redact_secrets(raw_command_name(message), *given);
            message["id"] = id;
            return message.dump(-1, ' ', false, json::error_handler_t::replace);
        }
        if (request.arguments && request.arguments->is_object()) {
            arguments = *request.arguments;
            redact_secrets(command, arguments);
        }
        return command_message({}, command, arguments, id, request.oob);
    } catch (const std::exception&) {
        return "{\"execute\":" + json(command).dump() + ",...}"; // never the secret
    }
}

} // namespace qmp::detail
