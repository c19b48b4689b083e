// SPDX-License-Identifier: MIT
// Compiles the umbrella header alone: the public API must not need any private header, and
// spdlog must not be needed by a consumer that does not log.
#include <qmp/qmp.hpp>

int main()
{
    qmp::ClientOptions options;
    qmp::Client client{options};
    return client.is_connected() ? 1 : 0;
}
