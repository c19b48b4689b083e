// SPDX-License-Identifier: MIT
#include "qmp_protocol.hpp"

#include <algorithm>

#include <qmp/error.hpp>

#include "text.hpp"

namespace qmp::detail {

namespace {

// A string member of an object, or \p fallback when absent or not a string (peers can lie).
std::string text_member(const json& object, const char* key, const char* fallback)
{
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

int int_member(const json& object, const char* key)
{
    const auto it = object.find(key);
    return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

Greeting parse_greeting(const json& message, std::string_view text, const std::string& peer)
{
    const auto qmp = message.find("QMP");
    if (qmp == message.end() || !qmp->is_object() || !qmp->contains("version") ||
        !qmp->contains("capabilities") || !(*qmp)["capabilities"].is_array())
        throw ConnectError("qmp: " + peer +
            " is not a QMP monitor: expected a greeting "
            "{\"QMP\": {\"version\": ..., \"capabilities\": [...]}}, got " +
            excerpt(text));
    Greeting greeting;
    const json& version = (*qmp)["version"];
    if (version.is_object()) {
        const auto qemu = version.find("qemu");
        if (qemu != version.end() && qemu->is_object()) {
            greeting.version.major = int_member(*qemu, "major");
            greeting.version.minor = int_member(*qemu, "minor");
            greeting.version.micro = int_member(*qemu, "micro");
        }
        greeting.version.package = text_member(version, "package", "");
    }
    for (const auto& capability : (*qmp)["capabilities"])
        if (capability.is_string())
            greeting.capabilities.push_back(capability.get<std::string>());
    greeting.raw = message;
    return greeting;
}

} // namespace

void QmpRules::on_unrouted(json&& message, std::string_view text)
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!greeted_) {
            // The first such message is the greeting, or whatever the peer sends instead of
            // one: qmp_handshake() checks it.
            greeted_ = true;
            greeting_ = std::move(message);
            greeting_text_ = excerpt(text);
            changed_.notify_all();
            return;
        }
    }
    const auto error = message.find("error");
    if (error != message.end()) {
        // Every request carries an id, so an id-less error cannot be matched to a caller. QEMU
        // sends one when it could not parse its input at all: the stream is out of step.
        // Failing now wakes every waiter instead of leaving them to time out.
        if (error->is_object())
            throw PeerError("the peer reported an error without an id (" +
                text_member(*error, "class", "?") + ": " + text_member(*error, "desc", "?") + ")");
        throw PeerError("an error without an id: " + excerpt(text));
    }
    if (message.contains("return"))
        throw PeerError(
            "a reply without an id (the peer does not echo request ids): " + excerpt(text));
    if (message.contains("QMP"))
        logger_->warn("ignored a second greeting: {}", excerpt(text));
    else
        logger_->warn("ignored a message that is neither a reply nor an event: {}", excerpt(text));
}

void QmpRules::on_end(const SessionEnd& end) noexcept
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        end_ = end;
    }
    changed_.notify_all();
    if (ended_)
        ended_(end);
}

bool QmpRules::greeted()
{
    std::lock_guard<std::mutex> lock(mutex_);
    return greeted_;
}

std::optional<json> QmpRules::wait_greeting(
    const std::string& peer, Clock::time_point deadline, std::string& text)
{
    std::unique_lock<std::mutex> lock(mutex_);
    const auto ready = [this] { return greeting_ || end_; };
    if (!wait_with_deadline(changed_, lock, deadline, ready))
        return std::nullopt;
    if (greeting_) {
        text = greeting_text_;
        return std::move(*greeting_);
    }
    throw ConnectError(
        "qmp: " + peer + ": the connection ended before the greeting: " + end_->reason);
}

Greeting qmp_handshake(Session& session, QmpRules& rules, const ClientOptions& options,
    Clock::time_point deadline, std::chrono::milliseconds timeout)
{
    const std::string& peer = session.peer();
    std::string text;
    session.pump_until([&rules] { return rules.greeted(); }, deadline);
    std::optional<json> message = rules.wait_greeting(peer, deadline, text);
    if (!message)
        throw ConnectError("qmp: no greeting from " + peer + " within " + ms_text(timeout) +
            ": is another client connected to this monitor (QMP serves one client at a time), "
            "or is it not a QMP server?");
    Greeting greeting = parse_greeting(*message, text, peer);

    const bool offered_oob = std::find(greeting.capabilities.begin(), greeting.capabilities.end(),
                                 "oob") != greeting.capabilities.end();
    greeting.oob_enabled = offered_oob && options.enable_oob;
    const json arguments =
        greeting.oob_enabled ? json{{"enable", json::array({"oob"})}} : json::object();
    Request request;
    request.command = "qmp_capabilities";
    request.arguments = &arguments;
    request.timeout = wait_left(deadline, std::chrono::milliseconds(1));
    const std::string failed = "qmp: capabilities negotiation with " + peer + " failed: ";
    json reply;
    try {
        auto call = session.submit(request);
        session.pump_until([&call] { return call->done(); }, deadline);
        reply = session.wait(*call);
    } catch (const TimeoutError&) {
        throw ConnectError(failed + "no reply within " + ms_text(timeout));
    } catch (const DisconnectedError&) {
        const auto end = session.end();
        throw ConnectError(failed + (end ? end->reason : std::string("the connection ended")));
    }
    const auto error = reply.find("error");
    if (error != reply.end())
        throw ConnectError(failed +
            (error->is_object() ? text_member(*error, "class", "GenericError") + ": " +
                        text_member(*error, "desc", "")
                                : excerpt(*error)));
    session.set_flow_control(
        greeting.oob_enabled ? options.oob_in_band_limit : 0, greeting.oob_enabled);
    return greeting;
}

json qmp_wait(Session& session, Call& call)
{
    try {
        return session.wait(call);
    } catch (const DisconnectedError&) {
        const auto end = session.end();
        if (call.command == "quit" && end && end->by_peer())
            return json{{"return", json::object()}};
        throw;
    }
}

json qmp_result(const std::string& command, json&& reply)
{
    // One pass: a reply has two or three members (compared as string_view: no strlen).
    using namespace std::string_view_literals;
    for (auto& [key, value] : reply.get_ref<json::object_t&>()) {
        if (key == "return"sv)
            return std::move(value);
        if (key == "error"sv) {
            if (!value.is_object())
                throw ExecuteError(command, "GenericError", excerpt(value));
            throw ExecuteError(command, text_member(value, "class", "GenericError"),
                text_member(value, "desc", ""));
        }
    }
    return json();
}

} // namespace qmp::detail
