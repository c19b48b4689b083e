// SPDX-License-Identifier: MIT
// Secrets never reach the log: trace logging shows requests with the values of secret-bearing
// arguments replaced, unless ClientOptions::redact_secrets is off; below trace no arguments are
// logged at all. The peer always receives the real values.
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>

#include <qmp/client.hpp>
#include <qmp/testing.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include "redact.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::detail::redact_secrets;

namespace {

const std::string secret = "hunter2-do-not-log";

TEST(Redaction, SecretObjectDataIsHidden)
{
    json arguments = {{"qom-type", "secret"}, {"id", "sec0"}, {"data", secret}};
    EXPECT_TRUE(redact_secrets("object-add", arguments));
    EXPECT_EQ(arguments["data"], "<redacted>");
    EXPECT_EQ(arguments["id"], "sec0");
    EXPECT_EQ(arguments["qom-type"], "secret");
}

TEST(Redaction, PropsOfOldStyleObjectAddAreHidden)
{
    json arguments = {{"qom-type", "secret"}, {"id", "s"}, {"props", {{"data", secret}}}};
    EXPECT_TRUE(redact_secrets("object-add", arguments));
    EXPECT_EQ(arguments["props"]["data"], "<redacted>");
}

TEST(Redaction, OtherObjectsKeepTheirData)
{
    json arguments = {{"qom-type", "memory-backend-ram"}, {"id", "m"}, {"data", "x"}};
    EXPECT_FALSE(redact_secrets("object-add", arguments));
    EXPECT_EQ(arguments["data"], "x");
}

TEST(Redaction, PasswordsAreHiddenAtAnyDepth)
{
    json vnc = {{"protocol", "vnc"}, {"password", secret}};
    EXPECT_TRUE(redact_secrets("set_password", vnc));
    EXPECT_EQ(vnc["password"], "<redacted>");
    EXPECT_EQ(vnc["protocol"], "vnc");

    json nested = {{"driver", "x"}, {"opts", json::array({{{"passphrase", secret}}})}};
    EXPECT_TRUE(redact_secrets("blockdev-add", nested));
    EXPECT_EQ(nested["opts"][0]["passphrase"], "<redacted>");
}

TEST(Redaction, HmpCommandLineKeepsOnlyItsCommandName)
{
    json arguments = {{"command-line", "object_add secret,id=s,data=" + secret}};
    EXPECT_TRUE(redact_secrets("human-monitor-command", arguments));
    EXPECT_EQ(arguments["command-line"], "object_add <redacted>");

    json harmless = {{"command-line", "info status"}};
    EXPECT_FALSE(redact_secrets("human-monitor-command", harmless));
    EXPECT_EQ(harmless["command-line"], "info status");
}

TEST(Redaction, GuestAgentDataIsHidden)
{
    json write = {{"handle", 1}, {"buf-b64", "c2VjcmV0"}};
    EXPECT_TRUE(redact_secrets("guest-file-write", write));
    EXPECT_EQ(write["buf-b64"], "<redacted>");
    EXPECT_EQ(write["handle"], 1);
    json user = {{"username", "root"}, {"password", "c2VjcmV0"}, {"crypted", false}};
    EXPECT_TRUE(redact_secrets("guest-set-user-password", user));
    EXPECT_EQ(user["password"], "<redacted>");
}

TEST(Redaction, CommandsWithoutSecretsAreUntouched)
{
    json arguments = {{"path", "/machine"}, {"property", "type"}};
    const json before = arguments;
    EXPECT_FALSE(redact_secrets("qom-get", arguments));
    EXPECT_EQ(arguments, before);
    json none;
    EXPECT_FALSE(redact_secrets("query-status", none));
}

// A client logging into a string at \p level, against a peer that records what it received.
struct LoggedSession {
    std::ostringstream log_text;
    std::shared_ptr<spdlog::logger> logger;
    qmp::testing::FakeQemu server;

    explicit LoggedSession(spdlog::level::level_enum level)
        : logger(std::make_shared<spdlog::logger>(
              "redaction", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text)))
    {
        logger->set_level(level);
        server.on("object-add").reply();
        server.on("change-vnc-password").reply(); // the raw message
    }

    // The arguments of the object-add the peer read.
    json received() const { return server.received("object-add").at(0); }

    void run(bool redact)
    {
        qmp::ClientOptions options;
        options.logger = logger;
        options.redact_secrets = redact;
        options.command_timeout = 5s;
        qmp::Client client(options);
        client.connect(server.address());
        client.execute("object-add", {{"qom-type", "secret"}, {"id", "sec0"}, {"data", secret}});
        client.execute_raw(
            {{"execute", "change-vnc-password"}, {"arguments", {{"password", secret}}}});
        client.disconnect();
        ASSERT_TRUE(server.wait_for_disconnect(5s));
        ASSERT_TRUE(server.unexpected().empty());
        logger->flush();
    }
};

TEST(Redaction, TraceLogHidesSecretsButThePeerGetsThem)
{
    LoggedSession session(spdlog::level::trace);
    session.run(true);
    const std::string log = session.log_text.str();
    EXPECT_EQ(log.find(secret), std::string::npos) << log;
    EXPECT_NE(log.find(R"("data":"<redacted>")"), std::string::npos) << log;
    EXPECT_NE(log.find(R"("password":"<redacted>")"), std::string::npos) << log;
    EXPECT_NE(log.find(R"("qom-type":"secret")"), std::string::npos) << log;
    EXPECT_EQ(session.received()["data"], secret);
}

TEST(Redaction, TraceLogShowsSecretsWhenRedactionIsOff)
{
    LoggedSession session(spdlog::level::trace);
    session.run(false);
    const std::string log = session.log_text.str();
    EXPECT_NE(log.find(R"("data":")" + secret), std::string::npos) << log;
    EXPECT_NE(log.find(R"("password":")" + secret), std::string::npos) << log;
}

TEST(Redaction, DebugLogNeverShowsArguments)
{
    LoggedSession session(spdlog::level::debug);
    session.run(false);
    const std::string log = session.log_text.str();
    EXPECT_FALSE(log.empty()); // connects and disconnects are logged at debug
    EXPECT_EQ(log.find(secret), std::string::npos) << log;
    EXPECT_EQ(log.find("sec0"), std::string::npos) << log;
}

} // namespace
