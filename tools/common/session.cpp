// SPDX-License-Identifier: MIT
#include "session.hpp"

#include <iostream>

namespace qmp_tools {

Session::Session(const Target& target, const qmp::ClientOptions& options, Interrupt& interrupt,
    const std::string& program)
    : interrupt_(interrupt)
{
    try {
        open(target, options, program);
    } catch (...) {
        // The interrupt action refers to the client about to be destroyed.
        interrupt_.on_interrupt({});
        throw;
    }
}

void Session::open(
    const Target& target, const qmp::ClientOptions& options, const std::string& program)
{
    if (target.launch) {
        qmp::MachineOptions machine_options = *target.launch;
        machine_options.client = options;
        machine_ = std::make_unique<qmp::Machine>(machine_options);
        client_ = &machine_->start();
        description_ = "disposable " + machine_options.binary + " (pid " +
            std::to_string(machine_->pid()) + ", " + machine_->directory() + ")";
        interrupt_.on_interrupt([client = client_] { client->disconnect(); });
        return;
    }
    own_client_ = std::make_unique<qmp::Client>(options);
    client_ = own_client_.get();
    qmp::Client& client = *own_client_;
    if (!target.listen.empty())
        server_ = std::make_unique<qmp::Server>(target.listen);
    // Ctrl-C also ends the connect or the wait for QEMU.
    interrupt_.interruptible(
        [&] {
            if (interrupt_.requested())
                throw qmp::ConnectError("interrupted");
            if (server_) {
                std::cerr << program << ": waiting for QEMU to connect to " << server_->address()
                          << std::endl;
                client.accept(*server_, target.listen_timeout);
            } else if (target.fd) {
                client.connect_fd(*target.fd);
            } else {
                client.connect(target.address);
            }
        },
        [&client] { client.disconnect(); });
    interrupt_.on_interrupt([&client] { client.disconnect(); });
    description_ = client_->address();
}

Session::~Session()
{
    close();
}

std::string Session::describe() const
{
    return description_;
}

void Session::close() noexcept
{
    interrupt_.on_interrupt({});
    if (machine_) {
        // quit when still connected (a clean exit); the destructor SIGTERMs/SIGKILLs otherwise.
        if (machine_->client().is_connected()) {
            try {
                machine_->shutdown();
            } catch (...) {
            }
        }
        machine_.reset();
    } else if (own_client_) {
        own_client_->disconnect();
    }
}

} // namespace qmp_tools
