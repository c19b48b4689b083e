// SPDX-License-Identifier: MIT
// The thread behind a qmp::testing fake: accepts one client at a time, reads its commands,
// records them, and answers by the rules (or as QEMU or qemu-ga would by itself).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <qmp/json.hpp>
#include <qmp/testing.hpp>

#include "accept_loop.hpp"
#include "fd.hpp"
#include "rule_state.hpp"
#include "schema_checker.hpp"

namespace qmp::testing::detail {

/// Which peer the engine plays.
enum class Dialect { qmp, guest_agent };

/// Thread safety: every member thread-safe except the destructor.
class Engine {
public:
    /// Listens at once, in a fresh private directory. \throws qmp::Error.
    explicit Engine(Dialect dialect);
    /// Stops the thread (promptly: every wait of it watches the stop pipe), closes everything.
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    std::string address() const { return "unix:" + loop_.path(); }

    Rule add_rule(std::string command, std::optional<json> arguments, bool on_connect);

    std::vector<json> received(const std::string& command) const;
    std::vector<json> messages() const;
    std::vector<json> unexpected() const;
    bool wait_for(
        const std::string& command, std::chrono::milliseconds timeout, std::size_t count) const;
    bool wait_for_connections(std::size_t count, std::chrono::milliseconds timeout) const;
    bool wait_for_disconnect(std::chrono::milliseconds timeout) const;
    std::size_t connections() const;
    bool is_connected() const;

    /// Has the serving thread close the connection, and waits (bounded) until it has.
    void close_connection(bool abrupt);
    bool emit(const std::string& name, const json& data);

    void set_greeting(std::optional<json> greeting);
    void use_schema(std::shared_ptr<const SchemaChecker> schema);

    void serve_with(FakeEndpoint::Script script);
    bool wait_for_scripts(std::size_t count, std::chrono::milliseconds timeout) const;
    std::vector<std::string> script_failures() const;
    void stop() { loop_.stop(); }
    void serve_connection(int fd) { loop_.hand_over(fd); }

private:
    friend class ScriptedLink;

    /// What happens to the connection after a step.
    enum class Outcome { go_on, hang_up, reset, peer_gone, stopping };
    struct Session;

    Outcome serve(int fd);
    Outcome converse(int fd, const std::optional<json>& greeting);
    Outcome run_script(const FakeEndpoint::Script& script, int fd);
    /// Records a command the client sent (messages(), received(), wait_for()).
    void record(const json& message);
    /// Closes the connection now (abruptly: SO_LINGER 0) unless it is closed already.
    void close_now(bool abrupt);
    Outcome feed(Session& session, const char* data, std::size_t size);
    Outcome handle(Session& session, std::string_view text);
    Outcome answer_qmp(Session& session, const std::string& name, const json& message);
    Outcome answer_agent(Session& session, const std::string& name, const json& message);
    Outcome refuse(Session& session, const json& message, const json* id,
        const std::string& error_class, const std::string& description);
    Outcome run_actions(Session& session, const std::vector<Action>& actions, const json* id);
    Outcome write(const std::string& bytes);
    Outcome wake_up();
    std::optional<std::vector<Action>> take_rule(
        const std::string& command, const json& arguments, bool on_connect);
    std::string terminated(const json& message) const;

    const Dialect dialect_;
    Pipe wake_; // close_connection() -> serving thread

    // Guarded by *mutex_ (shared with the rules, whose handles may outlive the engine).
    std::shared_ptr<std::mutex> mutex_;
    mutable std::condition_variable changed_;
    std::vector<std::shared_ptr<RuleState>> rules_;
    std::vector<json> messages_;
    std::vector<json> unexpected_;
    std::size_t connections_ = 0;
    bool connected_ = false;
    std::uint64_t close_requested_ = 0; // close_connection() calls so far
    std::uint64_t close_done_ = 0; // of them, handled
    bool close_abrupt_ = false;
    std::optional<json> greeting_;
    std::shared_ptr<const SchemaChecker> schema_;
    FakeEndpoint::Script script_;
    std::size_t scripts_done_ = 0;
    std::vector<std::string> script_failures_;

    // Guarded by write_mutex_: the connected socket, written by the serving thread and emit(),
    // closed by the serving thread (a script's hang-up too).
    std::mutex write_mutex_;
    qmp::detail::Fd connection_;

    // Last: its thread starts when everything else is ready, and ends before anything else goes.
    AcceptLoop loop_;
};

} // namespace qmp::testing::detail
