// SPDX-License-Identifier: MIT
// Where qmp-shell and qom connect, as chosen from their command lines, without QEMU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "target_options.hpp"
#include "timeout_option.hpp"

using qmp_tools::Target;
using qmp_tools::TargetOptions;
using qmp_tools::UsageError;

namespace {

// Owns the strings a TargetOptions points into, as main()'s argv would.
struct Argv {
    explicit Argv(std::vector<std::string> arguments) : strings(std::move(arguments))
    {
        for (std::string& s : strings)
            pointers.push_back(s.data());
    }
    int argc() const { return static_cast<int>(pointers.size()); }
    char** argv() { return pointers.data(); }

    std::vector<std::string> strings;
    std::vector<char*> pointers;
};

// Sets $QMP_SOCKET (or unsets it for nullopt) for one test, and puts it back afterwards.
class QmpSocket {
public:
    explicit QmpSocket(const std::optional<std::string>& value)
    {
        if (const char* old = std::getenv("QMP_SOCKET"))
            old_ = old;
        if (value)
            ::setenv("QMP_SOCKET", value->c_str(), 1);
        else
            ::unsetenv("QMP_SOCKET");
    }
    ~QmpSocket()
    {
        if (old_)
            ::setenv("QMP_SOCKET", old_->c_str(), 1);
        else
            ::unsetenv("QMP_SOCKET");
    }

private:
    std::optional<std::string> old_;
};

// The target of a command line whose tool part was given ADDRESS \p address (empty: none) and
// --launch when \p launch.
Target target_of(std::vector<std::string> arguments, const std::string& address = "",
    bool launch = false, bool launch_by_default = false)
{
    Argv argv(std::move(arguments));
    TargetOptions options(argv.argc(), argv.argv());
    options.address = address;
    options.launch = launch;
    return options.target(launch_by_default);
}

const qmp::MachineOptions defaults;

} // namespace

TEST(TargetOptions, ToolArgumentsEndAtDoubleDashWithNullForGetopt)
{
    Argv argv({"qom", "-p", "ls", "/", "--", "qemu-system-aarch64", "--"});
    TargetOptions options(argv.argc(), argv.argv());
    ASSERT_EQ(options.argc(), 4);
    EXPECT_STREQ(options.argv()[0], "qom");
    EXPECT_STREQ(options.argv()[3], "/");
    EXPECT_EQ(options.argv()[4], nullptr);
}

TEST(TargetOptions, AddressIsUsedAsGiven)
{
    QmpSocket socket("/from/environment");
    const Target target = target_of({"qmp-shell"}, "tcp:localhost:4444");
    EXPECT_EQ(target.address, "tcp:localhost:4444");
    EXPECT_FALSE(target.launch);
}

TEST(TargetOptions, AddressWithLaunchOrQemuArgumentsIsAUsageError)
{
    QmpSocket socket(std::nullopt);
    try {
        target_of({"qmp-shell"}, "/run/qmp.sock", true);
        FAIL() << "no UsageError";
    } catch (const UsageError& e) {
        EXPECT_STREQ(e.what(), "give either an address or --launch, not both");
    }
    // "--" implies --launch, even with nothing after it.
    EXPECT_THROW(target_of({"qmp-shell", "--"}, "/run/qmp.sock"), UsageError);
    EXPECT_THROW(target_of({"qmp-shell", "--", "-S"}, "/run/qmp.sock"), UsageError);
}

TEST(TargetOptions, EnvironmentIsUsedWithoutAddressOrLaunch)
{
    QmpSocket socket("/from/environment");
    EXPECT_EQ(target_of({"qom"}).address, "/from/environment");
    EXPECT_TRUE(target_of({"qom"}, "", true).launch);
    EXPECT_TRUE(target_of({"qom", "--"}).launch);
}

TEST(TargetOptions, NoWayInIsAUsageErrorUnlessLaunchingByDefault)
{
    for (const std::optional<std::string>& value :
        {std::optional<std::string>(""), std::optional<std::string>()}) {
        QmpSocket socket(value);
        try {
            target_of({"qom"});
            ADD_FAILURE() << "no address, no --launch: expected a UsageError";
        } catch (const UsageError& e) {
            EXPECT_NE(std::string(e.what()).find("--launch"), std::string::npos) << e.what();
        }
        const Target target = target_of({"qmp-shell"}, "", false, true);
        EXPECT_TRUE(target.address.empty());
        ASSERT_TRUE(target.launch);
        EXPECT_TRUE(target.launch_by_default);
        EXPECT_EQ(target.launch->binary, defaults.binary);
        EXPECT_EQ(target.launch->args, defaults.args);
        EXPECT_FALSE(target_of({"qom"}, "", true).launch_by_default);
    }
}

TEST(TargetOptions, FirstQemuArgumentWithoutDashIsTheProgram)
{
    QmpSocket socket(std::nullopt);
    Target target = target_of({"qom", "--", "qemu-system-aarch64", "-M", "virt"});
    ASSERT_TRUE(target.launch);
    EXPECT_EQ(target.launch->binary, "qemu-system-aarch64");
    EXPECT_EQ(target.launch->args, (std::vector<std::string>{"-M", "virt"}));

    // A program alone keeps the default arguments.
    target = target_of({"qom", "--", "/opt/qemu/bin/qemu-system-x86_64"});
    EXPECT_EQ(target.launch->binary, "/opt/qemu/bin/qemu-system-x86_64");
    EXPECT_EQ(target.launch->args, defaults.args);
}

TEST(TargetOptions, QemuArgumentsAloneReplaceTheDefaultArguments)
{
    QmpSocket socket(std::nullopt);
    const Target target = target_of({"qom", "--", "-machine", "pc", "-S"});
    ASSERT_TRUE(target.launch);
    EXPECT_EQ(target.launch->binary, defaults.binary);
    EXPECT_EQ(target.launch->args, (std::vector<std::string>{"-machine", "pc", "-S"}));
}

TEST(TargetOptions, StorageDaemonGetsItsOwnDefaultArguments)
{
    QmpSocket socket(std::nullopt);
    const Target target = target_of({"qom", "--", "qemu-storage-daemon"});
    ASSERT_TRUE(target.launch);
    EXPECT_EQ(target.launch->binary, "qemu-storage-daemon");
    EXPECT_EQ(target.launch->args, qmp::MachineOptions::storage_daemon().args);
}

TEST(TimeoutOption, SecondsRoundUpToWholeMilliseconds)
{
    EXPECT_EQ(qmp_tools::parse_timeout_seconds("30"), std::chrono::milliseconds(30000));
    EXPECT_EQ(qmp_tools::parse_timeout_seconds("0.5"), std::chrono::milliseconds(500));
    EXPECT_EQ(qmp_tools::parse_timeout_seconds("0.0001"), std::chrono::milliseconds(1));
    EXPECT_EQ(qmp_tools::parse_timeout_seconds("1e-3"), std::chrono::milliseconds(1));
}

TEST(TimeoutOption, NonPositiveNonNumericAndHugeValuesAreUsageErrors)
{
    for (const char* text : {"0", "-1", "", "x", "1s", "nan", "inf", "1e300", "1e10"}) {
        try {
            qmp_tools::parse_timeout_seconds(text);
            ADD_FAILURE() << "accepted: '" << text << "'";
        } catch (const qmp_tools::UsageError& e) {
            EXPECT_EQ(std::string(e.what()),
                std::string("--timeout: not a positive number of seconds: ") + text);
        }
    }
}

// The message for what getopt_long refused, as both tools print it.
std::string refused(std::vector<std::string> arguments)
{
    Argv argv(std::move(arguments));
    TargetOptions options(argv.argc(), argv.argv());
    static const option long_options[] = {
        {"timeout", required_argument, nullptr, 256},
        {nullptr, 0, nullptr, 0},
    };
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(options.argc(), options.argv(), "pl:", long_options, nullptr)) != -1)
        if (c == '?' || c == ':')
            return options.unknown_option().what();
    return "";
}

TEST(TargetOptions, RefusedOptionsAreNamedAsTyped)
{
    EXPECT_EQ(refused({"tool", "-x"}), "unknown option or missing value: -x");
    EXPECT_EQ(refused({"tool", "-px"}), "unknown option or missing value: -x");
    EXPECT_EQ(refused({"tool", "-l"}), "unknown option or missing value: -l");
    EXPECT_EQ(refused({"tool", "--no-such"}), "unknown option or missing value: --no-such");
    EXPECT_EQ(refused({"tool", "--timeout"}), "unknown option or missing value: --timeout");
    EXPECT_EQ(refused({"tool", "-p"}), "");
}

TEST(TargetOptions, ListenAndFdAreWaysIn)
{
    QmpSocket socket(std::string("/from/environment"));
    Argv argv({"qom"});
    TargetOptions options(argv.argc(), argv.argv());
    EXPECT_FALSE(options.given());
    options.listen = "unix:/run/qmp.sock";
    EXPECT_TRUE(options.given());
    Target target = options.target();
    EXPECT_EQ(target.listen, "unix:/run/qmp.sock");
    EXPECT_EQ(target.address, "");
    EXPECT_FALSE(target.fd);
    EXPECT_FALSE(target.launch);
    EXPECT_EQ(target.listen_timeout, Target::default_listen_timeout);

    options.listen.clear();
    options.fd = "7";
    target = options.target();
    ASSERT_TRUE(target.fd);
    EXPECT_EQ(*target.fd, 7);
    EXPECT_EQ(target.address, "");
    EXPECT_FALSE(target.launch);
}

TEST(TargetOptions, OnlyOneWayIn)
{
    QmpSocket socket(std::nullopt);
    const auto refused = [](const std::string& address, bool launch, const std::string& listen,
                             const std::string& fd) {
        Argv argv({"qom"});
        TargetOptions options(argv.argc(), argv.argv());
        options.address = address;
        options.launch = launch;
        options.listen = listen;
        options.fd = fd;
        try {
            options.target();
        } catch (const UsageError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    const std::string only_one = "give only one of ADDRESS, --listen, --fd and --launch";
    EXPECT_EQ(refused("/a", false, "unix:/b", ""), only_one);
    EXPECT_EQ(refused("", false, "unix:/b", "3"), only_one);
    EXPECT_EQ(refused("", true, "", "3"), only_one);
    EXPECT_EQ(refused("", true, "unix:/b", ""), only_one);
    for (const char* fd : {"x", "-1", "3x", "99999999999"})
        EXPECT_EQ(
            refused("", false, "", fd), std::string("--fd: not a file descriptor number: ") + fd);
    EXPECT_EQ(refused("", false, "", "0"), "");
}
