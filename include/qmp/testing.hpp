// SPDX-License-Identifier: MIT
/// \file
/// qmp::testing: a scripted fake QEMU monitor and a fake guest agent for the unit tests of
/// programs that use QMP. Library `qmp_testing`: `dependency('qmp-testing')` in Meson,
/// `pkg-config qmp-testing` elsewhere.
///
/// ```cpp
/// qmp::testing::FakeQemu fake;
/// fake.on("query-status").reply({{"status", "running"}, {"running", true}});
/// fake.on("stop").emit("STOP").reply(qmp::json::object());
/// qmp::Client client;
/// client.connect(fake.address());
/// ```
///
/// Terms used below: *thread-safe* — may be called from any number of threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <qmp/event.hpp>
#include <qmp/export.hpp>
#include <qmp/json.hpp>

namespace qmp::testing {

namespace detail {
class Engine;
class ScriptedLink;
struct RuleState;
} // namespace detail

/// What a fake does when a command matches: a script of actions run in the order they were
/// added, then the rule is done with that command. Obtained from FakeQemu::on(),
/// FakeQemu::on_connect() or FakeGuestAgent::on(); every member returns the rule, so calls chain:
///
/// ```cpp
/// fake.on("stop").emit("STOP").reply(qmp::json::object());      // the event, then the reply
/// fake.on("query-block").times(1).delay(std::chrono::milliseconds(200)).reply(qmp::json::array());
/// fake.on("cont").no_reply();                                    // the client times out
/// fake.on("system_reset").raw("{\"return\": {").hang_up();      // hang-up mid-message
/// ```
///
/// A rule without reply() or error() sends no reply. Replies and errors carry the command's
/// `id` when it had one. A Rule is a handle: copies refer to the same rule, and it stays usable
/// (and in force) after the handle is gone; changing a rule while a command uses it affects
/// the next command.
///
/// \context \threadsafe.
class QMP_EXPORT Rule {
public:
    /// Sends `{"return": value}`.
    Rule& reply(json value = json::object());
    /// Sends `{"error": {"class": error_class, "desc": description}}`.
    Rule& error(std::string error_class, std::string description);
    /// Sends an error without an `id`, what QEMU sends when it could not parse its input (the
    /// client treats it as a protocol error).
    Rule& error_without_id(std::string error_class, std::string description);
    /// Sends the event \p name, timestamped now, with \p data unless it is null.
    Rule& emit(std::string name, json data = nullptr);
    /// Sends \p bytes as they are: garbage, part of a message, several messages at once.
    Rule& raw(std::string bytes);
    /// Waits \p pause before the next action. The wait ends early when the fake hangs up or is
    /// destroyed; other commands from the client wait meanwhile, as in QEMU's main loop.
    Rule& delay(std::chrono::milliseconds pause);
    /// Sends nothing more for this command: the client waits for a reply until its timeout.
    /// (Only for legibility: a rule without reply() or error() does not reply anyway.)
    Rule& no_reply();
    /// Closes the connection (the client sees end of file); the actions after it are not run.
    /// The fake then accepts the next client.
    Rule& hang_up();
    /// Closes the connection abruptly (SO_LINGER 0). On a unix socket the client sees
    /// ECONNRESET only if it sent bytes the fake has not read yet, otherwise end of file.
    Rule& reset();
    /// The rule applies to \p n commands (or connections), then is passed over, so a later rule
    /// for the same command applies. Without times() a rule applies for ever.
    Rule& times(std::size_t n);
    /// How many commands (or connections) the rule has applied to so far.
    std::size_t uses() const;

private:
    friend class detail::Engine;
    QMP_NO_EXPORT explicit Rule(std::shared_ptr<detail::RuleState> state);
    std::shared_ptr<detail::RuleState> state_;
};

/// One client's connection as a script sees it (see FakeEndpoint::serve_with()): for what rules
/// cannot say, such as replies out of order, several commands read before any answer, huge or
/// deeply nested messages, or pauses the test controls.
///
/// Nothing is sent or answered by itself: the script greets, reads and answers. Commands it
/// reads are recorded like those the rules see (FakeEndpoint::received(), messages(),
/// wait_for()). Every wait is bounded by its timeout; when the fake stops, or FakeEndpoint::
/// hang_up() or reset() is called, the script's current or next call throws and the connection
/// closes. A call on a connection the script has closed throws qmp::Error.
///
/// \context \threadbound: only on the fake's thread, inside the script that received it (the
/// object is gone once the script returns).
class QMP_EXPORT FakeConnection {
public:
    FakeConnection(const FakeConnection&) = delete;
    FakeConnection& operator=(const FakeConnection&) = delete;

    /// Sends \p bytes as they are. \throws qmp::Error when the client does not read them
    /// within 5 s or is gone.
    void send(std::string_view bytes);
    /// Sends \p message compactly, ended as the fake's peer ends it ("\r\n" for QEMU, "\n" for
    /// qemu-ga). \throws qmp::Error as send().
    void send_message(const json& message);
    /// Sends QEMU 7.2's greeting (FakeQemu::qemu_7_2_greeting()) offering \p capabilities.
    void send_greeting(json capabilities = json::array({"oob"}));
    /// Sends the event \p name, timestamped now, with \p data unless it is null.
    void send_event(const std::string& name, const json& data = nullptr);
    /// Sends `{"return": value}` with \p command's `id` when it has one.
    void reply(const json& command, json value = json::object());
    /// Sends `{"error": {"class": error_class, "desc": description}}` with \p command's `id`
    /// when it has one.
    void reply_error(
        const json& command, const std::string& error_class, const std::string& description);

    /// The next JSON value the client sent (any value; commands are also recorded). For
    /// FakeGuestAgent, byte 0xFF (what qmp::GuestAgent sends before each synchronisation) is
    /// skipped and drops a message cut short before it, as qemu-ga does; nothing is answered
    /// to it by itself.
    /// \throws qmp::Error when \p timeout passes first, when the client closed the connection
    /// or sent something that is not JSON.
    json read_message(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    /// Reads a command and replies \p value to it; returns the command.
    json answer(json value = json::object());
    /// Sends the greeting offering \p capabilities, reads `qmp_capabilities` and accepts it;
    /// returns that command. \throws qmp::Error if the client sends anything else first.
    json handshake(json capabilities = json::array({"oob"}));
    /// Reads and discards what the client sends until it closes the connection.
    /// \return false when \p timeout passes first.
    bool wait_for_close(std::chrono::milliseconds timeout = std::chrono::seconds(5));

    /// Closes the connection (the client sees end of file). The fake accepts the next client
    /// once the script returns.
    void hang_up();
    /// Closes the connection abruptly, as Rule::reset() does.
    void reset();
    /// The connected socket, for checks at the socket level (poll(2), shutdown(2)); the fake
    /// owns it: do not close it. -1 once the connection is closed.
    int fd() const;

private:
    friend class detail::Engine;
    QMP_NO_EXPORT explicit FakeConnection(detail::ScriptedLink& link);
    detail::ScriptedLink& link_;
};

/// What FakeQemu and FakeGuestAgent have in common: a private unix socket, the rules, and what
/// was received.
///
/// The fake listens from its construction on a socket in a fresh private directory (mode 0700,
/// removed by the destructor) and serves one client at a time on a thread of its own: a second
/// client is accepted once the first has gone (as QEMU 7.2's monitor does), so reconnecting
/// clients can be tested. A command is matched against the rules in the order they were added;
/// the first that matches (name, argument subset, uses left) runs its actions. A command that
/// no rule matches gets QEMU's reply `{"error": {"class": "CommandNotFound", "desc": "The
/// command NAME has not been found"}}` and is recorded as unexpected (see unexpected()).
///
/// Every wait of the fake is bounded, and nothing in it sleeps for synchronisation: tests wait
/// for what the client sent with wait_for().
///
/// \context \threadsafe (the destructor, as always, must not race with other calls). The
/// destructor returns promptly in any state (a rule's delay, a client that does not read): it
/// closes the connection and the socket.
class QMP_EXPORT FakeEndpoint {
public:
    FakeEndpoint(const FakeEndpoint&) = delete;
    FakeEndpoint& operator=(const FakeEndpoint&) = delete;
    virtual ~FakeEndpoint();

    /// Where clients connect: `"unix:/tmp/qmp-XXXXXX/qmp.sock"` (`qga.sock` for the agent; in
    /// TMPDIR when set). Fixed for the fake's life.
    std::string address() const;

    /// A rule for the command \p command with any arguments.
    Rule on(std::string command);
    /// A rule for the command \p command whose arguments contain \p arguments: every member of
    /// \p arguments must be present with an equal value (objects are compared the same way,
    /// member by member; other values must be equal).
    /// \throws qmp::UsageError if \p arguments is not an object.
    Rule on(std::string command, json arguments);

    /// The arguments of every command named \p command received so far, in order (an empty
    /// object for a command sent without arguments), whether a rule matched it or not.
    std::vector<json> received(const std::string& command) const;
    /// Every well-formed command received so far, as sent (with `execute` or `exec-oob`,
    /// `arguments` and `id`), in order, from every client.
    std::vector<json> messages() const;
    /// What the fake refused, in order: commands no rule matched, commands the schema refuses,
    /// commands before or repeating capabilities negotiation, and input that is not a command.
    /// Each entry is `{"message": what was received (a string when it was not JSON),
    /// "error": {"class": ..., "desc": ...}}` with the error the fake answered. A test asserts
    /// `EXPECT_TRUE(fake.unexpected().empty())` to fail when its program sent something QEMU
    /// would refuse.
    std::vector<json> unexpected() const;

    /// Waits until \p count commands named \p command have been received in all (counting from
    /// the fake's construction). A command counts as soon as it is read, before its rule runs.
    /// \return false when \p timeout passes first.
    bool wait_for(
        const std::string& command, std::chrono::milliseconds timeout, std::size_t count = 1) const;
    /// Waits until \p count clients have connected in all. \return false on timeout.
    bool wait_for_connections(std::size_t count, std::chrono::milliseconds timeout) const;
    /// Waits until no client is connected (the client hung up, or the fake did); true at once
    /// when none is. \return false on timeout.
    bool wait_for_disconnect(std::chrono::milliseconds timeout) const;
    /// Clients accepted so far.
    std::size_t connections() const;
    /// Whether a client is connected now.
    bool is_connected() const;

    /// Closes the current client's connection (end of file) and returns once it is closed (at
    /// most 10 s later, even while the fake waits to write to a client that does not read); the
    /// fake then accepts the next client. Does nothing when no client is connected.
    void hang_up();
    /// Like hang_up(), but abrupt (see Rule::reset()).
    void reset();

    /// A script that serves a whole connection: see FakeConnection.
    using Script = std::function<void(FakeConnection&)>;
    /// From the next connection on, \p script serves each client in place of the rules and of
    /// the fake's own answers (the greeting included): the connection is closed when the script
    /// returns. An exception from the script ends the connection and is recorded (see
    /// script_failures()). An empty \p script gives the connections back to the rules.
    void serve_with(Script script);
    /// Waits until \p count scripts have returned (or thrown) in all. \return false on timeout.
    bool wait_for_scripts(std::size_t count, std::chrono::milliseconds timeout) const;
    /// What the scripts threw, in order: each exception's `what()`. Interruptions by the fake
    /// itself (stop(), hang_up(), reset(), the destructor) are not failures.
    std::vector<std::string> script_failures() const;

    /// Serves \p fd, a stream socket already connected to a client, as it serves the clients
    /// that connect to address(): once the current client, if any, has gone. For
    /// Client::connect_fd() (one end of a `socketpair()`), and for programs that wait for QEMU
    /// to connect to them (qmp::Server: connect a socket to it and hand it here, as QEMU does
    /// with `-qmp unix:PATH` without `server=on`). The fake owns \p fd from the call on, and
    /// closes it unused if it is stopped first.
    /// \throws qmp::UsageError if \p fd is negative; qmp::Error if it cannot be used.
    void serve_connection(int fd);

    /// Stops serving: closes the client's connection and the socket, interrupts a running
    /// script or rule, and returns once the fake's thread has ended. What was recorded stays
    /// readable. Idempotent; the destructor does it.
    void stop();

protected:
    /// \cond INTERNAL
    QMP_NO_EXPORT explicit FakeEndpoint(std::unique_ptr<detail::Engine> engine);
    std::unique_ptr<detail::Engine> engine_;
    /// \endcond
};

/// A scripted QEMU monitor (QMP) on a private unix socket, greeting like QEMU 7.2 with `oob`
/// offered:
///
/// ```cpp
/// qmp::testing::FakeQemu fake;
/// fake.on("query-status").reply({{"status", "running"}, {"running", true}});
/// fake.on("blockdev-add").error("GenericError", "Duplicate nodes");
/// fake.on("stop").emit("STOP").reply(qmp::json::object());
/// ```
///
/// Like QEMU, it answers `qmp_capabilities` by itself (a rule for it takes precedence): before
/// negotiation every other command gets CommandNotFound "Expecting capabilities negotiation
/// with 'qmp_capabilities'", a second negotiation gets CommandNotFound "Capabilities
/// negotiation is already complete, command ignored", and `enable` may only name a capability
/// the greeting offered. `exec-oob` is accepted once `oob` is negotiated and matched like
/// `execute`. Input that is not a command gets QEMU's error without an id ("JSON parse error,
/// ...", "QMP input must be a JSON object", "QMP input member 'X' is unexpected", ...). All of
/// these are recorded as unexpected.
///
/// \context \threadsafe, as FakeEndpoint; rules and settings may change while a client is served,
/// and take effect from the next command (the greeting: from the next connection).
class QMP_EXPORT FakeQemu : public FakeEndpoint {
public:
    /// Listens at once. \throws qmp::Error if the socket cannot be created.
    FakeQemu();
    ~FakeQemu() override;

    /// A rule for the moment a client connects, run right after the greeting (or instead of
    /// it, with no greeting): events before negotiation, garbage, a hang-up after the greeting
    /// (`fake.on_connect().times(1).hang_up()` sends the first client away and serves the next).
    Rule on_connect();

    /// Greets with \p version and \p capabilities from the next connection on.
    void set_greeting(const Version& version, json capabilities = json::array({"oob"}));
    /// Greets with exactly \p greeting (any JSON, even a malformed greeting).
    void set_greeting_message(json greeting);
    /// Sends no greeting at all from the next connection on (the client's connect times out).
    void disable_greeting();
    /// QEMU 7.2's greeting: `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major":
    /// 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}`.
    static json qemu_7_2_greeting(json capabilities = json::array({"oob"}));

    /// Sends the event \p name, timestamped now, with \p data unless it is null, to the
    /// connected client, now (between the messages of a rule's script, never inside one).
    /// \return false when no client is connected (nothing is sent).
    bool emit(const std::string& name, const json& data = nullptr);

    /// Checks every command against \p schema from now on, as QEMU would, before the rules: an
    /// unknown command gets CommandNotFound "The command NAME has not been found"; a missing
    /// mandatory argument "Parameter 'NAME' is missing", an unknown one "Parameter 'NAME' is
    /// unexpected", a wrong JSON type "Invalid parameter type for 'NAME', expected: TYPE", a
    /// value an enum lacks "Parameter 'NAME' does not accept value 'VALUE'" (GenericError,
    /// QEMU 7.2's texts; nested members are named like QEMU names them, e.g. `cache.direct`,
    /// `capabilities[0].state`). Such commands are recorded as unexpected and no rule runs.
    /// The first error found is reported, in QEMU's order (members in schema order, unknown
    /// members last); with several unknown members QEMU's choice among them may differ. For an
    /// alternate (a member taking several JSON types) whose value has none of them, the
    /// expected TYPE lists the JSON types, where QEMU names the alternate's type, which the
    /// schema does not reveal. Integer ranges are not checked (the schema does not give them).
    /// With a schema, `query-qmp-schema` is answered with it unless a rule says otherwise.
    /// \param schema what `query-qmp-schema` returns: the array of schema entities (qmp ships
    /// QEMU 7.2's, captured from Debian 12's qemu-system-x86_64, in test/data).
    /// \throws qmp::UsageError if \p schema is not such an array.
    void use_schema(json schema);
};

/// A scripted QEMU guest agent (qemu-ga) on a private unix socket, for qmp::GuestAgent:
/// no greeting, replies ending in "\n", and the synchronisation qemu-ga does. Byte 0xFF from
/// the client resets its parser and is answered with qemu-ga 7.2's error for it
/// (`{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\uFFFD'"}}`, no id);
/// `guest-sync-delimited` is answered by itself with byte 0xFF then `{"return": ID}`, and
/// `guest-sync` with `{"return": ID}` (a rule for either takes precedence). Other commands go
/// to the rules, as with FakeQemu.
///
/// \context \threadsafe, as FakeEndpoint.
class QMP_EXPORT FakeGuestAgent : public FakeEndpoint {
public:
    /// Listens at once. \throws qmp::Error if the socket cannot be created.
    FakeGuestAgent();
    ~FakeGuestAgent() override;
};

} // namespace qmp::testing
