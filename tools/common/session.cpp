// SPDX-License-Identifier: MIT
#include "session.hpp"

namespace qmp_tools {

Session::Session(const Target& target, const qmp::ClientOptions& options, Interrupt& interrupt)
    : interrupt_(interrupt)
{
    if (target.launch) {
        qmp::MachineOptions machine_options = *target.launch;
        machine_options.client = options;
        machine_ = std::make_unique<qmp::Machine>(machine_options);
        client_ = &machine_->start();
        description_ = "disposable " + machine_options.binary + " (pid " +
            std::to_string(machine_->pid()) + ", " + machine_->directory() + ")";
    } else {
        own_client_ = std::make_unique<qmp::Client>(options);
        own_client_->connect(target.address);
        client_ = own_client_.get();
        description_ = client_->address();
    }
    qmp::Client* client = client_;
    interrupt_.on_interrupt([client] { client->disconnect(); });
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
