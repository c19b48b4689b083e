// SPDX-License-Identifier: MIT
// Compiles qmp/testing.hpp alone, with nothing but the installed API of qmp and qmp-testing.
#include <qmp/testing.hpp>

int main()
{
    qmp::testing::FakeQemu fake;
    return fake.is_connected() ? 1 : 0;
}
