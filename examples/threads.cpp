// SPDX-License-Identifier: MIT
// Blocking calls from many threads at once on one Client: each thread gets its own reply.
#include <atomic>
#include <iostream>
#include <thread>
#include <vector>

#include <qmp/qmp.hpp>

int main()
{
    try {
        qmp::Machine vm;
        vm.start();
        // [snippet threads]
        qmp::Client& client = vm.client(); // thread-safe: share it, no lock of yours needed
        std::atomic<int> answered{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&client, &answered, t] {
                for (int i = 0; i < 25; ++i) {
                    // Each call waits for *its* reply (30 s at most by default).
                    qmp::json type =
                        client.execute("qom-get", {{"path", "/machine"}, {"property", "type"}});
                    if (type == "none-machine")
                        ++answered;
                }
                std::cout << "thread " << t << " done\n";
            });
        }
        for (auto& thread : threads)
            thread.join();
        // [end]
        std::cout << answered << " replies\n";
        vm.shutdown();
        return answered == 8 * 25 ? 0 : 1;
    } catch (const qmp::Error& e) {
        // An exception thrown in a thread would end the program: catch it there in real code.
        std::cerr << e.what() << "\n";
        return 1;
    }
}
