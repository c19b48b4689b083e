// SPDX-License-Identifier: MIT
#include "event_pump.hpp"

#include <fcntl.h>
#include <system_error>
#include <unistd.h>

namespace qmp_shell {

EventPump::EventPump(qmp::Client& client) : client_(client)
{
    if (::pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe2");
    thread_ = std::thread([this] { run(); });
}

EventPump::~EventPump()
{
    client_.disconnect();
    thread_.join();
    ::close(pipe_[0]);
    ::close(pipe_[1]);
}

void EventPump::notify()
{
    const char byte = 1;
    // A full pipe already wakes the reader: losing this byte is harmless.
    [[maybe_unused]] const auto written = ::write(pipe_[1], &byte, 1);
}

void EventPump::run()
{
    for (;;) {
        try {
            qmp::Event event = client_.events().pop();
            std::lock_guard<std::mutex> lock(mutex_);
            events_.push_back(std::move(event));
        } catch (const qmp::Error& e) {
            std::lock_guard<std::mutex> lock(mutex_);
            ended_ = e.what();
            notify();
            return;
        }
        notify();
    }
}

std::deque<qmp::Event> EventPump::take()
{
    char buffer[64];
    while (::read(pipe_[0], buffer, sizeof buffer) > 0) { }
    std::lock_guard<std::mutex> lock(mutex_);
    std::deque<qmp::Event> events;
    events.swap(events_);
    // Events still in the client's queue are newer than ours: keep the order.
    while (auto event = client_.events().try_pop())
        events.push_back(std::move(*event));
    return events;
}

std::optional<std::string> EventPump::ended()
{
    std::lock_guard<std::mutex> lock(mutex_);
    return ended_;
}

} // namespace qmp_shell
