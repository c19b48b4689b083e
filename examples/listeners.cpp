// SPDX-License-Identifier: MIT
// Waiting for the events a command causes: listeners (queues of their own), execute_and_wait(),
// and callbacks on the client's dispatcher thread.
#include <chrono>
#include <future>
#include <iostream>

#include <qmp/qmp.hpp>

int main()
{
    using namespace std::chrono_literals;
    try {
        qmp::Machine vm;
        qmp::Client& client = vm.start();

        // [snippet listeners]
        // A listener gets a copy of every matching event from its creation on.
        qmp::EventQueue lifecycle = client.listen({"STOP", "RESUME"});
        qmp::EventQueue jobs = client.listen( // a predicate, run as events are read: be quick
            [](const qmp::Event& e) { return e.name.rfind("BLOCK_JOB", 0) == 0; });
        // Race-free: the listener exists before "stop" is sent (QEMU sends STOP before the reply).
        qmp::Event stopped = client.execute_and_wait("stop", {}, "STOP", 5s);
        std::cout << "stopped; event sent at " << stopped.raw["timestamp"].dump() << "\n";

        // Callbacks run in order on the client's dispatcher thread and may call the client.
        std::promise<void> resumed;
        std::future<void> resumed_future = resumed.get_future();
        qmp::Client::CallbackId id = client.on_event([&resumed](const qmp::Event& event) {
            if (event.name == "RESUME")
                resumed.set_value();
        });
        client.execute("cont");
        bool seen = resumed_future.wait_for(5s) == std::future_status::ready;
        client.remove_callback(id); // when it returns the callback is not running, nor will it

        // The listener kept both events, in order.
        std::cout << "callback saw RESUME: " << seen << "; listener: " << lifecycle.pop().name
                  << ", " << lifecycle.pop().name << "\n";
        // [end]
        if (jobs.try_pop())
            return 1; // no block job ran
        vm.shutdown();
        return seen ? 0 : 1;
    } catch (const qmp::TimeoutError& e) {
        std::cerr << "the event did not come in time: " << e.what() << "\n";
        return 1;
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
