// SPDX-License-Identifier: MIT
// The baseline: the least a hand-written blocking QMP client must do, with the same JSON
// library as qmp. One socket, write a request, read lines until the reply, parse each line.
// No thread, no timeout, no error classes: what the library is compared against.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace bench {

class BaselineClient {
public:
    BaselineClient() = default;
    ~BaselineClient();
    BaselineClient(const BaselineClient&) = delete;
    BaselineClient& operator=(const BaselineClient&) = delete;

    /// Connects to a unix socket, reads the greeting and negotiates (with "oob" when offered,
    /// as the library does). \throws std::runtime_error.
    void connect(const std::string& path);
    void close();

    /// Sends \p command and returns the "return" member of its reply; events read meanwhile
    /// are parsed and discarded. \throws std::runtime_error on an error reply or EOF.
    nlohmann::json execute(const std::string& command);

    /// Pipelining, in two halves: send a request now, read the oldest reply later.
    void send(const std::string& command);
    /// As send(command), with \p arguments: the text of a JSON object.
    void send(const std::string& command, const std::string& arguments);
    nlohmann::json receive_reply();

    /// Reads one message (one line) without parsing it; valid until the next read.
    std::string_view read_raw_message();

    /// The socket, e.g. for a receive timeout or a shutdown() from another thread.
    int native_handle() const { return fd_; }

    /// Bytes of the last request sent (to compare request sizes with the library's).
    std::size_t last_request_size() const { return last_request_size_; }

private:
    void write_all(const std::string& bytes);

    int fd_ = -1;
    std::uint64_t next_id_ = 0;
    std::size_t last_request_size_ = 0;
    std::string input_;
    std::vector<char> chunk_;
    std::size_t input_start_ = 0;
    std::size_t scan_ = 0;
};

} // namespace bench
