// SPDX-License-Identifier: MIT
#include "baseline_client.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace bench {

namespace {

std::runtime_error system_error(const std::string& what)
{
    return std::runtime_error("baseline: " + what + ": " + std::strerror(errno));
}

} // namespace

BaselineClient::~BaselineClient()
{
    close();
}

void BaselineClient::connect(const std::string& path)
{
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
        throw system_error("connect " + path);
    const std::string_view line = read_raw_message();
    const auto greeting = nlohmann::json::parse(line.begin(), line.end());
    bool oob = false;
    for (const auto& capability : greeting.at("QMP").at("capabilities"))
        oob = oob || capability == "oob";
    const std::string id = std::to_string(++next_id_);
    write_all(oob
            ? "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]},\"id\":\"" +
                id + "\"}"
            : "{\"execute\":\"qmp_capabilities\",\"id\":\"" + id + "\"}");
    receive_reply();
}

void BaselineClient::close()
{
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
    input_.clear();
    input_start_ = scan_ = 0;
}

void BaselineClient::write_all(const std::string& bytes)
{
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw system_error("send");
        }
        sent += static_cast<std::size_t>(n);
    }
    last_request_size_ = bytes.size();
}

void BaselineClient::send(const std::string& command)
{
    // The same compact form and short string id as the library's requests.
    write_all("{\"execute\":\"" + command + "\",\"id\":\"" + std::to_string(++next_id_) + "\"}");
}

void BaselineClient::send(const std::string& command, const std::string& arguments)
{
    write_all("{\"execute\":\"" + command + "\",\"arguments\":" + arguments + ",\"id\":\"" +
        std::to_string(++next_id_) + "\"}");
}

std::string_view BaselineClient::read_raw_message()
{
    for (;;) {
        const std::size_t end = input_.find('\n', scan_);
        if (end != std::string::npos) {
            const std::string_view line(input_.data() + input_start_, end + 1 - input_start_);
            input_start_ = scan_ = end + 1;
            return line;
        }
        // Drop consumed bytes only when they dominate, so the copy stays amortised.
        if (input_start_ > 0 && input_start_ * 2 >= input_.size()) {
            input_.erase(0, input_start_);
            input_start_ = 0;
        }
        scan_ = input_.size();
        // recv into a fixed buffer, then append: growing input_ itself would zero-fill 64 KB
        // per read.
        chunk_.resize(64 * 1024);
        const ssize_t n = ::recv(fd_, chunk_.data(), chunk_.size(), 0);
        if (n > 0)
            input_.append(chunk_.data(), static_cast<std::size_t>(n));
        if (n == 0)
            throw std::runtime_error("baseline: connection closed by the peer");
        if (n < 0 && errno != EINTR)
            throw system_error("recv");
    }
}

nlohmann::json BaselineClient::receive_reply()
{
    for (;;) {
        const std::string_view line = read_raw_message();
        auto message = nlohmann::json::parse(line.begin(), line.end());
        if (message.contains("event"))
            continue;
        const auto error = message.find("error");
        if (error != message.end())
            throw std::runtime_error("baseline: error reply: " + error->dump());
        return std::move(message["return"]);
    }
}

nlohmann::json BaselineClient::execute(const std::string& command)
{
    send(command);
    return receive_reply();
}

} // namespace bench
