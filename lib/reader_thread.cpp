// SPDX-License-Identifier: MIT
#include "reader_thread.hpp"

#include "session.hpp"

namespace qmp::detail {

ReaderThread::~ReaderThread()
{
    {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->stop = true;
    }
    state_->changed.notify_all();
    std::lock_guard<std::mutex> lock(thread_mutex_);
    if (!thread_.joinable())
        return;
    if (thread_.get_id() == std::this_thread::get_id())
        thread_.detach(); // its last session let go of it here: it ends right after this
    else
        thread_.join();
}

void ReaderThread::serve(std::shared_ptr<Session> session)
{
    {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->next = std::move(session);
    }
    state_->changed.notify_all();
    std::lock_guard<std::mutex> lock(thread_mutex_);
    if (!thread_.joinable())
        thread_ = std::thread([state = state_] { run(state); });
}

void ReaderThread::wait_done(const Session* session)
{
    {
        std::lock_guard<std::mutex> lock(thread_mutex_);
        if (thread_.get_id() == std::this_thread::get_id())
            return;
    }
    std::unique_lock<std::mutex> lock(state_->mutex);
    state_->changed.wait(lock, [&] {
        return state_->current != session && (state_->next.get() != session || state_->stop);
    });
}

void ReaderThread::run(const std::shared_ptr<State>& state)
{
    for (;;) {
        std::shared_ptr<Session> session;
        {
            std::unique_lock<std::mutex> lock(state->mutex);
            state->changed.wait(lock, [&] { return state->next || state->stop; });
            if (state->stop)
                return;
            session = std::move(state->next);
            state->current = session.get();
        }
        session->read_loop();
        // Let go before telling: whoever waits in wait_done() may then hold the last reference,
        // and its socket closes when that thread lets go (disconnect() returns with it closed).
        // This may destroy the session, and with it this object's owner.
        session.reset();
        {
            std::lock_guard<std::mutex> lock(state->mutex);
            state->current = nullptr;
        }
        state->changed.notify_all();
    }
}

} // namespace qmp::detail
