// SPDX-License-Identifier: MIT
// A conversation by the rules: the client's bytes framed into commands, the answers QEMU or
// qemu-ga give by themselves (negotiation, unknown commands, malformed input, synchronisation),
// and the rules' actions.
#include "engine.hpp"

#include <algorithm>
#include <cerrno>
#include <poll.h>
#include <sys/socket.h>

#include "framer.hpp"
#include "messages.hpp"
#include "socket_wait.hpp"

namespace qmp::testing::detail {

namespace {

// What qemu-ga 7.2 answers to byte 0xFF, as it writes it.
constexpr std::string_view agent_ff_error =
    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray "
    "'\\uFFFD'\"}}\n";

// Input that is not JSON, as a string that can be dumped: bytes that are not ASCII become '?'.
std::string printable(std::string bytes)
{
    for (char& c : bytes)
        if (static_cast<unsigned char>(c) > 0x7F)
            c = '?';
    return bytes;
}

} // namespace

/// One client's connection, on the serving thread only.
struct Engine::Session {
    int fd;
    qmp::detail::Framer framer{64 * 1024 * 1024, 1024};
    json offered = json::array(); // the greeting's capabilities
    bool negotiated = false;
    bool oob = false;
};

Engine::Outcome Engine::converse(int fd, const std::optional<json>& greeting)
{
    Session session{fd};
    if (greeting && greeting->contains("QMP") && (*greeting)["QMP"].is_object())
        session.offered = (*greeting)["QMP"].value("capabilities", json::array());

    Outcome outcome = Outcome::go_on;
    if (greeting)
        outcome = write(terminated(*greeting));
    if (outcome == Outcome::go_on)
        if (auto actions = take_rule("", json::object(), true))
            outcome = run_actions(session, *actions, nullptr);
    while (outcome == Outcome::go_on) {
        const Woken woken = wait_on(fd, POLLIN, loop_.stop_fd(), wake_.read_end.get(), forever);
        if (woken == Woken::stop) {
            outcome = Outcome::stopping;
        } else if (woken == Woken::wake) {
            outcome = wake_up();
        } else {
            char chunk[65536];
            const ssize_t n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
            if (n > 0)
                outcome = feed(session, chunk, static_cast<std::size_t>(n));
            else if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
                outcome = Outcome::peer_gone;
        }
    }
    return outcome;
}

Engine::Outcome Engine::feed(Session& session, const char* data, std::size_t size)
{
    const char* const end = data + size;
    while (data < end) {
        // The guest agent's byte 0xFF resets qemu-ga's parser; it answers it with an error.
        const char* const ff =
            dialect_ == Dialect::guest_agent ? std::find(data, end, static_cast<char>(0xFF)) : end;
        std::vector<std::string> texts;
        try {
            session.framer.feed(data, static_cast<std::size_t>(ff - data),
                [&](std::string_view text) { texts.emplace_back(text); });
        } catch (const qmp::detail::FramingError& e) {
            session.framer.reset();
            for (const std::string& text : texts)
                if (const Outcome outcome = handle(session, text); outcome != Outcome::go_on)
                    return outcome;
            texts.clear();
            const json message = printable(std::string(data, ff));
            const Outcome outcome = refuse(session, message, nullptr, "GenericError",
                "JSON parse error, " + std::string(e.what()));
            if (outcome != Outcome::go_on)
                return outcome;
        }
        for (const std::string& text : texts)
            if (const Outcome outcome = handle(session, text); outcome != Outcome::go_on)
                return outcome;
        if (ff == end)
            break;
        session.framer.reset();
        if (const Outcome outcome = write(std::string(agent_ff_error)); outcome != Outcome::go_on)
            return outcome;
        data = ff + 1;
    }
    return Outcome::go_on;
}

Engine::Outcome Engine::handle(Session& session, std::string_view text)
{
    const json message = json::parse(text.begin(), text.end(), nullptr, false);
    if (message.is_discarded())
        return refuse(
            session, printable(std::string(text)), nullptr, "GenericError", "JSON parse error");
    if (!message.is_object())
        return refuse(session, message, nullptr, "GenericError", "QMP input must be a JSON object");
    const auto id_it = message.find("id");
    const json* id = id_it == message.end() ? nullptr : &*id_it;
    const bool oob_allowed = dialect_ == Dialect::qmp && session.oob;
    for (const auto& item : message.items()) {
        const std::string& key = item.key();
        if (key != "execute" && key != "arguments" && key != "id" && key != "control" &&
            !(key == "exec-oob" && oob_allowed))
            return refuse(session, message, id, "GenericError",
                "QMP input member '" + key + "' is unexpected");
    }
    const auto execute = message.find(message.contains("execute") ? "execute" : "exec-oob");
    if (execute == message.end())
        return refuse(session, message, id, "GenericError", "QMP input lacks member 'execute'");
    if (!execute->is_string())
        return refuse(session, message, id, "GenericError",
            "QMP input member '" + execute.key() + "' must be a string");
    const auto arguments = message.find("arguments");
    if (arguments != message.end() && !arguments->is_object())
        return refuse(
            session, message, id, "GenericError", "QMP input member 'arguments' must be an object");
    record(message);
    const std::string name = execute->get<std::string>();
    return dialect_ == Dialect::qmp ? answer_qmp(session, name, message)
                                    : answer_agent(session, name, message);
}

Engine::Outcome Engine::answer_qmp(Session& session, const std::string& name, const json& message)
{
    const auto id_it = message.find("id");
    const json* id = id_it == message.end() ? nullptr : &*id_it;
    const json arguments = message.value("arguments", json::object());
    const bool negotiation = name == "qmp_capabilities";
    if (!session.negotiated && !negotiation)
        return refuse(session, message, id, "CommandNotFound",
            "Expecting capabilities negotiation with 'qmp_capabilities'");

    std::shared_ptr<const SchemaChecker> schema;
    {
        std::lock_guard<std::mutex> lock(*mutex_);
        schema = schema_;
    }
    if (schema && !negotiation)
        if (auto error = schema->check(name, arguments))
            return refuse(session, message, id, error->error_class, error->description);

    if (auto actions = take_rule(name, arguments, false)) {
        if (negotiation && !session.negotiated &&
            std::any_of(actions->begin(), actions->end(),
                [](const Action& a) { return a.kind == Action::Kind::reply; })) {
            session.negotiated = true;
            const auto enable = arguments.find("enable");
            session.oob = enable != arguments.end() && enable->is_array() &&
                std::count(enable->begin(), enable->end(), "oob") > 0;
        }
        return run_actions(session, *actions, id);
    }

    if (negotiation) {
        if (session.negotiated)
            return refuse(session, message, id, "CommandNotFound",
                "Capabilities negotiation is already complete, command ignored");
        bool oob = false;
        for (const auto& item : arguments.items())
            if (item.key() != "enable")
                return refuse(session, message, id, "GenericError",
                    "Parameter '" + item.key() + "' is unexpected");
        if (arguments.contains("enable")) {
            const json& enable = arguments["enable"];
            if (!enable.is_array())
                return refuse(session, message, id, "GenericError",
                    "Invalid parameter type for 'enable', expected: array");
            for (std::size_t i = 0; i < enable.size(); ++i) {
                if (!enable[i].is_string())
                    return refuse(session, message, id, "GenericError",
                        "Invalid parameter type for 'enable[" + std::to_string(i) +
                            "]', expected: string");
                if (enable[i] != "oob") // QEMU 7.2 knows no other capability, and says 'null'
                    return refuse(session, message, id, "GenericError",
                        "Parameter 'null' does not accept value '" + enable[i].get<std::string>() +
                            "'");
                if (std::count(session.offered.begin(), session.offered.end(), "oob") == 0)
                    return refuse(
                        session, message, id, "GenericError", "Capability 'oob' not available");
                oob = true;
            }
        }
        session.negotiated = true;
        session.oob = oob;
        json reply = {{"return", json::object()}};
        if (id)
            reply["id"] = *id;
        return write(terminated(reply));
    }
    if (schema && name == "query-qmp-schema") {
        json reply = {{"return", schema->entities()}};
        if (id)
            reply["id"] = *id;
        return write(terminated(reply));
    }
    return refuse(
        session, message, id, "CommandNotFound", "The command " + name + " has not been found");
}

Engine::Outcome Engine::answer_agent(Session& session, const std::string& name, const json& message)
{
    const auto id_it = message.find("id");
    const json* id = id_it == message.end() ? nullptr : &*id_it;
    const json arguments = message.value("arguments", json::object());
    if (auto actions = take_rule(name, arguments, false))
        return run_actions(session, *actions, id);
    if (name == "guest-sync-delimited" || name == "guest-sync") {
        if (!arguments.contains("id"))
            return refuse(session, message, id, "GenericError", "Parameter 'id' is missing");
        if (name == "guest-sync-delimited")
            if (const Outcome outcome = write("\xff"); outcome != Outcome::go_on)
                return outcome;
        json reply = {{"return", arguments["id"]}};
        if (id)
            reply["id"] = *id;
        return write(terminated(reply));
    }
    return refuse(
        session, message, id, "CommandNotFound", "The command " + name + " has not been found");
}

Engine::Outcome Engine::refuse(Session&, const json& message, const json* id,
    const std::string& error_class, const std::string& description)
{
    {
        std::lock_guard<std::mutex> lock(*mutex_);
        unexpected_.push_back(
            {{"message", message}, {"error", {{"class", error_class}, {"desc", description}}}});
    }
    changed_.notify_all();
    return write(terminated(error_message(error_class, description, id)));
}

Engine::Outcome Engine::run_actions(Session&, const std::vector<Action>& actions, const json* id)
{
    for (const Action& action : actions) {
        Outcome outcome = Outcome::go_on;
        switch (action.kind) {
        case Action::Kind::reply: {
            json reply = {{"return", action.value}};
            if (id)
                reply["id"] = *id;
            outcome = write(terminated(reply));
            break;
        }
        case Action::Kind::error:
            outcome = write(terminated(error_message(action.name, action.text, id)));
            break;
        case Action::Kind::error_without_id:
            outcome = write(terminated(error_message(action.name, action.text, nullptr)));
            break;
        case Action::Kind::emit:
            outcome = write(terminated(event_message(action.name, action.value)));
            break;
        case Action::Kind::raw:
            outcome = write(action.name);
            break;
        case Action::Kind::delay: {
            // Only a stop or a hang-up ends the pause early; other wake-ups resume it.
            const auto deadline = std::chrono::steady_clock::now() + action.pause;
            for (;;) {
                const auto left = std::chrono::ceil<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now());
                if (left.count() <= 0)
                    break;
                const Woken woken = wait_on(-1, 0, loop_.stop_fd(), wake_.read_end.get(), left);
                if (woken == Woken::stop)
                    return Outcome::stopping;
                if (woken == Woken::wake && (outcome = wake_up()) != Outcome::go_on)
                    return outcome;
            }
            break;
        }
        case Action::Kind::hang_up:
            return Outcome::hang_up;
        case Action::Kind::reset:
            return Outcome::reset;
        }
        if (outcome != Outcome::go_on)
            return outcome;
    }
    return Outcome::go_on;
}

std::optional<std::vector<Action>> Engine::take_rule(
    const std::string& command, const json& arguments, bool on_connect)
{
    std::lock_guard<std::mutex> lock(*mutex_);
    for (const auto& rule : rules_) {
        if (rule->on_connect != on_connect || !rule->has_uses_left())
            continue;
        if (!on_connect &&
            (rule->command != command ||
                (rule->arguments && !contains(arguments, *rule->arguments))))
            continue;
        ++rule->used;
        return rule->actions;
    }
    return std::nullopt;
}

} // namespace qmp::testing::detail
