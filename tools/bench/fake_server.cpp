// SPDX-License-Identifier: MIT
#include "fake_server.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bench {

namespace {

// What QEMU 7.2 sends, byte for byte, so both clients parse the same shapes and sizes.
const std::string greeting =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n";
const std::string status_return =
    "{\"status\": \"running\", \"singlestep\": false, \"running\": true}";
// 81 bytes with the line end, like QEMU's STOP event.
const std::string event_line =
    "{\"timestamp\": {\"seconds\": 1795603764, \"microseconds\": 142232}, \"event\": \"STOP\"}\r\n";

// Events are produced in chunks as the socket drains, so a million of them never sit in memory.
constexpr std::size_t event_chunk = 512;
constexpr std::size_t output_high_water = 256 * 1024;

// Splits the byte stream into requests. Only this benchmark's two clients talk to the server, and
// they send compact JSON objects back to back (no line end), so a scanner that counts brackets
// outside strings is enough; it is not a JSON validator.
class RequestScanner {
public:
    /// Calls \p on_request with each complete request in the bytes received so far.
    /// \returns false on bytes that cannot start a request, or a request over 1 MB.
    template <typename OnRequest>
    bool feed(const char* data, std::size_t size, OnRequest&& on_request)
    {
        buffer_.append(data, size);
        std::size_t start = 0;
        for (std::size_t i = scanned_; i < buffer_.size(); ++i) {
            const char c = buffer_[i];
            if (in_string_) {
                if (escape_)
                    escape_ = false;
                else if (c == '\\')
                    escape_ = true;
                else if (c == '"')
                    in_string_ = false;
            } else if (depth_ == 0) {
                if (c == '{') {
                    start = i;
                    depth_ = 1;
                } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                    return false;
                } else {
                    start = i + 1;
                }
            } else if (c == '"') {
                in_string_ = true;
            } else if (c == '{' || c == '[') {
                ++depth_;
            } else if ((c == '}' || c == ']') && --depth_ == 0) {
                on_request(std::string_view(buffer_.data() + start, i + 1 - start));
                start = i + 1;
            }
        }
        buffer_.erase(0, start);
        scanned_ = buffer_.size();
        return buffer_.size() <= 1024 * 1024;
    }

private:
    std::string buffer_;
    std::size_t scanned_ = 0; // bytes of buffer_ already scanned
    int depth_ = 0;
    bool in_string_ = false;
    bool escape_ = false;
};

struct Session {
    RequestScanner requests;
    std::string output;
    std::size_t output_sent = 0;
    std::size_t events_left = 0;
    bool want_write = false;
};

class Server {
public:
    Server(int listener, std::string schema_path)
        : listener_(listener),
          schema_path_(std::move(schema_path)),
          epoll_(::epoll_create1(EPOLL_CLOEXEC))
    {
        add(listener_, EPOLLIN);
    }

    void run()
    {
        epoll_event events[64];
        for (;;) {
            const int n = ::epoll_wait(epoll_, events, 64, -1);
            if (n < 0 && errno == EINTR)
                continue;
            for (int i = 0; i < n; ++i) {
                const int fd = events[i].data.fd;
                if (fd == listener_)
                    accept_all();
                else
                    serve(fd, events[i].events);
            }
        }
    }

private:
    void add(int fd, std::uint32_t mask)
    {
        epoll_event ev{};
        ev.events = mask;
        ev.data.fd = fd;
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
    }

    void set_mask(int fd, Session& session, bool want_write)
    {
        if (session.want_write == want_write)
            return;
        session.want_write = want_write;
        epoll_event ev{};
        ev.events = EPOLLIN | (want_write ? EPOLLOUT : 0u);
        ev.data.fd = fd;
        ::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
    }

    void accept_all()
    {
        for (;;) {
            const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0)
                return;
            Session& session = sessions_[fd];
            session = Session{};
            session.output = greeting;
            add(fd, EPOLLIN);
            flush(fd, session);
        }
    }

    void drop(int fd)
    {
        ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        sessions_.erase(fd);
    }

    void serve(int fd, std::uint32_t mask)
    {
        Session& session = sessions_[fd];
        if (mask & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            char buffer[64 * 1024];
            const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                drop(fd);
                return;
            }
            if (n > 0 &&
                !session.requests.feed(buffer, static_cast<std::size_t>(n),
                    [&](std::string_view request) { answer(session, request); })) {
                drop(fd); // only the benchmark's own clients talk to this server
                return;
            }
        }
        if (!flush(fd, session))
            drop(fd);
    }

    // Only this benchmark's two clients talk to the server, and both put the id last, so the
    // request is read with string searches instead of a JSON parser: the server must cost as
    // little as possible.
    void answer(Session& session, std::string_view request)
    {
        const std::size_t id_at = request.rfind("\"id\":");
        const std::string_view id = id_at == std::string_view::npos
            ? std::string_view("null")
            : request.substr(id_at + 5, request.size() - 1 - (id_at + 5));
        const auto command = [&] {
            const std::size_t at = request.find("\"execute\":");
            if (at == std::string_view::npos)
                return std::string_view();
            const std::size_t open = request.find('"', at + 10);
            const std::size_t close = request.find('"', open + 1);
            return request.substr(open + 1, close - open - 1);
        }();

        std::string& out = session.output;
        if (command == "query-status") {
            out += "{\"return\": ";
            out += status_return;
        } else if (command == "qmp_capabilities") {
            out += "{\"return\": {}";
        } else if (command == "query-qmp-schema") {
            out += "{\"return\": ";
            out += schema();
        } else if (command == "bench-events") {
            const std::size_t at = request.find("\"count\":");
            session.events_left += at == std::string_view::npos
                ? 0
                : std::strtoull(request.data() + at + 8, nullptr, 10);
            out += "{\"return\": {}";
        } else {
            out += "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command ";
            out += command;
            out += " has not been found\"}";
        }
        out += ", \"id\": ";
        out += id;
        out += "}\r\n";
    }

    const std::string& schema()
    {
        if (schema_.empty()) {
            std::ifstream file(schema_path_, std::ios::binary);
            std::ostringstream text;
            text << file.rdbuf();
            schema_ = text.str();
            if (schema_.empty())
                schema_ = "[]";
        }
        return schema_;
    }

    // Writes what it can without blocking. \returns false when the peer is gone.
    bool flush(int fd, Session& session)
    {
        for (;;) {
            while (session.events_left > 0 &&
                session.output.size() - session.output_sent < output_high_water) {
                const std::size_t n = std::min(session.events_left, event_chunk);
                for (std::size_t i = 0; i < n; ++i)
                    session.output += event_line;
                session.events_left -= n;
            }
            if (session.output_sent == session.output.size()) {
                session.output.clear();
                session.output_sent = 0;
                set_mask(fd, session, false);
                return true;
            }
            const ssize_t n = ::send(fd, session.output.data() + session.output_sent,
                session.output.size() - session.output_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno != EAGAIN)
                    return false;
                set_mask(fd, session, true);
                return true;
            }
            session.output_sent += static_cast<std::size_t>(n);
            if (session.output_sent > output_high_water) {
                session.output.erase(0, session.output_sent);
                session.output_sent = 0;
            }
        }
    }

    const int listener_;
    const std::string schema_path_;
    const int epoll_;
    std::string schema_;
    std::unordered_map<int, Session> sessions_;
};

sockaddr_un unix_address(const std::string& path)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path)
        throw std::runtime_error("socket path too long: " + path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}

} // namespace

int run_fake_server(const std::string& socket_path, const std::string& schema_path)
{
    ::signal(SIGPIPE, SIG_IGN);
    const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const sockaddr_un address = unix_address(socket_path);
    ::unlink(socket_path.c_str());
    if (::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener, 4096) != 0) {
        std::perror("qmp-bench fake server");
        return 1;
    }
    Server(listener, schema_path).run();
    return 0;
}

FakeServerProcess::FakeServerProcess(
    const std::string& self, const std::string& socket_path, const std::string& schema_path)
    : socket_path_(socket_path)
{
    pid_ = ::fork();
    if (pid_ < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
        ::execl(self.c_str(), self.c_str(), "--fake-server", socket_path.c_str(),
            schema_path.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // Wait until it accepts: connect attempts are cheap and the server starts in milliseconds.
    const sockaddr_un address = unix_address(socket_path);
    for (int attempt = 0; attempt < 500; ++attempt) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const bool ok =
            ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
        ::close(fd);
        if (ok)
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("the fake server did not start on " + socket_path);
}

FakeServerProcess::~FakeServerProcess()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
    }
    ::unlink(socket_path_.c_str());
}

} // namespace bench
