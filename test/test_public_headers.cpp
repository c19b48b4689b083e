// SPDX-License-Identifier: MIT
// Compiles the umbrella header alone: the public API must not need any private header, and
// spdlog must not be needed by a consumer that does not log. The library's version is the
// headers' (both come from this build).
#include <cstring>

#include <qmp/qmp.hpp>

static_assert(
    QMP_VERSION == QMP_VERSION_MAJOR * 10000 + QMP_VERSION_MINOR * 100 + QMP_VERSION_PATCH);

int main()
{
    qmp::ClientOptions options;
    qmp::Client client{options};
    if (std::strcmp(qmp::version(), QMP_VERSION_STRING) != 0)
        return 1;
    return client.is_connected() ? 1 : 0;
}
