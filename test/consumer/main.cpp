// SPDX-License-Identifier: MIT
// Uses qmp through dependency('qmp'): starts a disposable QEMU and asks for its status.
#include <iostream>

#include <qmp/qmp.hpp>

int main()
{
    try {
        qmp::Machine vm;
        const qmp::json status = vm.start().execute("query-status");
        std::cout << "consumer: QEMU status " << status.at("status").get<std::string>() << "\n";
        vm.shutdown();
        return 0;
    } catch (const qmp::Error& e) {
        std::cerr << "consumer: " << e.what() << "\n";
        return 1;
    }
}
