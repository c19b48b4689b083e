// SPDX-License-Identifier: MIT
#include "traffic_log.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include "session.hpp"

namespace qmp_tools {

namespace {

// Prints the library's "--> {json}" trace lines on stderr as "-> {json}".
class SentEchoSink : public spdlog::sinks::base_sink<std::mutex> {
protected:
    void sink_it_(const spdlog::details::log_msg& message) override
    {
        const std::string text(message.payload.data(), message.payload.size());
        if (text.compare(0, 4, "--> ") == 0)
            std::fprintf(stderr, "-> %s\n", text.c_str() + 4);
    }
    void flush_() override { std::fflush(stderr); }
};

} // namespace

std::shared_ptr<spdlog::logger> make_traffic_logger(const std::string& path, bool echo_sent)
{
    if (path.empty() && !echo_sent)
        return nullptr;
    std::vector<spdlog::sink_ptr> sinks;
    if (!path.empty()) {
        // spdlog would create missing directories: a typo in the path must not.
        std::FILE* file = std::fopen(path.c_str(), "a");
        if (!file)
            throw UsageError("cannot write the log file " + path + ": " + std::strerror(errno));
        std::fclose(file);
        auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/true);
        sink->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
        sinks.push_back(std::move(sink));
    }
    if (echo_sent)
        sinks.push_back(std::make_shared<SentEchoSink>());
    auto logger = std::make_shared<spdlog::logger>("qmp-traffic", sinks.begin(), sinks.end());
    logger->set_level(spdlog::level::trace);
    // Every line reaches the file even when the tool is killed or crashes.
    logger->flush_on(spdlog::level::trace);
    return logger;
}

} // namespace qmp_tools
