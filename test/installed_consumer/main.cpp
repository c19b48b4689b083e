// SPDX-License-Identifier: MIT
// Uses an *installed* qmp, found through CMake (find_package) or pkg-config: checks that the
// library it runs with is the one whose headers it was compiled with, then starts a disposable
// QEMU and asks for its status.
#include <cstring>
#include <iostream>

#include <qmp/qmp.hpp>

int main()
{
    if (std::strcmp(qmp::version(), QMP_VERSION_STRING) != 0) {
        std::cerr << "installed consumer: headers " << QMP_VERSION_STRING << ", library "
                  << qmp::version() << "\n";
        return 1;
    }
    try {
        qmp::Machine vm;
        const qmp::json status = vm.start().execute("query-status");
        std::cout << "installed consumer (qmp " << qmp::version() << "): QEMU status "
                  << status.at("status").get<std::string>() << "\n";
        vm.shutdown();
        return 0;
    } catch (const qmp::Error& e) {
        std::cerr << "installed consumer: " << e.what() << "\n";
        return 1;
    }
}
