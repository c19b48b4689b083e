// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <qmp/error.hpp>

#include "address.hpp"

using qmp::detail::Address;
using qmp::detail::parse_address;

TEST(Address, PlainPathIsUnixSocket)
{
    const Address a = parse_address("/run/vm/qmp.sock");
    EXPECT_EQ(a.kind, Address::Kind::unix_socket);
    EXPECT_EQ(a.path, "/run/vm/qmp.sock");
    EXPECT_EQ(a.to_string(), "unix:/run/vm/qmp.sock");
}

TEST(Address, RelativePathIsUnixSocket)
{
    EXPECT_EQ(parse_address("qmp.sock").path, "qmp.sock");
    EXPECT_EQ(parse_address("./dir/a:1").kind, Address::Kind::unix_socket);
}

TEST(Address, UnixPrefix)
{
    const Address a = parse_address("unix:/tmp/x:1.sock");
    EXPECT_EQ(a.kind, Address::Kind::unix_socket);
    EXPECT_EQ(a.path, "/tmp/x:1.sock");
}

TEST(Address, TcpPrefix)
{
    const Address a = parse_address("tcp:127.0.0.1:4444");
    EXPECT_EQ(a.kind, Address::Kind::tcp);
    EXPECT_EQ(a.host, "127.0.0.1");
    EXPECT_EQ(a.port, "4444");
    EXPECT_EQ(a.to_string(), "tcp:127.0.0.1:4444");
}

TEST(Address, HostPortWithoutPrefixIsTcp)
{
    const Address a = parse_address("localhost:4444");
    EXPECT_EQ(a.kind, Address::Kind::tcp);
    EXPECT_EQ(a.host, "localhost");
}

TEST(Address, BracketedIpv6)
{
    const Address a = parse_address("[::1]:4444");
    EXPECT_EQ(a.kind, Address::Kind::tcp);
    EXPECT_EQ(a.host, "::1");
    EXPECT_EQ(a.port, "4444");
    EXPECT_EQ(a.to_string(), "tcp:[::1]:4444");
    EXPECT_EQ(parse_address("tcp:[::1]:5").host, "::1");
}

TEST(Address, Invalid)
{
    EXPECT_THROW(parse_address(""), qmp::UsageError);
    EXPECT_THROW(parse_address("unix:"), qmp::UsageError);
    EXPECT_THROW(parse_address("tcp:host"), qmp::UsageError);
    EXPECT_THROW(parse_address("tcp::4444"), qmp::UsageError);
    EXPECT_THROW(parse_address("tcp:host:port"), qmp::UsageError);
}
