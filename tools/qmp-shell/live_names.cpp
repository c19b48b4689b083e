// SPDX-License-Identifier: MIT
#include "live_names.hpp"

#include <algorithm>

namespace qmp_shell {

std::vector<std::string> qom_names(qmp::Client& client, const std::string& path, bool objects)
{
    std::vector<std::string> names;
    try {
        for (const auto& property : client.execute("qom-list", {{"path", path}})) {
            const std::string type = property.value("type", "");
            const bool object = type.rfind("child<", 0) == 0 || type.rfind("link<", 0) == 0;
            if (object == objects)
                names.push_back(property.value("name", ""));
        }
    } catch (const qmp::Error&) {
        // No such path (yet): nothing to offer.
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::string hmp_text(qmp::Client& client, const std::string& command)
{
    try {
        const qmp::json text = client.execute("human-monitor-command", {{"command-line", command}});
        return text.is_string() ? text.get<std::string>() : std::string();
    } catch (const qmp::Error&) {
        return {};
    }
}

} // namespace qmp_shell
