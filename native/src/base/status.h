// Status: how the engine core reports failure without exceptions.
//
// Every fallible core function returns a Status (or fills an out-parameter and returns one). The binding turns a
// failed Status into a JS exception carrying `message`; the CLI prints it. The core never throws across N-API and
// never exits the process.
#pragma once

#include <string>
#include <utility>

namespace specqd {

class Status {
public:
    Status() = default;  // success
    static Status ok() { return Status(); }
    static Status error(std::string message) { return Status(std::move(message)); }

    bool is_ok() const { return !failed_; }
    explicit operator bool() const { return !failed_; }
    const std::string& message() const { return message_; }

    // Prepends context ("loading model: ...") to an error; a success stays a success.
    Status with_context(const std::string& context) const {
        return failed_ ? Status(context + ": " + message_) : *this;
    }

private:
    explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
    bool failed_ = false;
    std::string message_;
};

// Propagates a failed Status to the caller.
#define SPECQD_TRY(expr)                              \
    do {                                              \
        ::specqd::Status specqd_status_ = (expr);     \
        if (!specqd_status_) return specqd_status_;   \
    } while (0)

}  // namespace specqd
