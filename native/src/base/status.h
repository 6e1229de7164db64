// Status: how the engine core reports failure without exceptions.
//
// Every fallible core function returns a Status (or fills an out-parameter and returns one). The binding turns a
// failed Status into a JS exception carrying `message`; the CLI prints it. The core never throws across N-API and
// never exits the process.
#pragma once

#include <exception>
#include <new>
#include <stdexcept>
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

// Runs `body` (a callable returning Status) and returns its Status, turning an exception into a failed Status.
// The core itself does not throw, but the standard library does: std::bad_alloc (and std::length_error) when memory
// runs out, std::system_error when a thread cannot start. One escaping into an N-API worker or a pool thread would
// terminate the editor's extension host, so the core's entry points (engine load, complete, evaluate, inspect,
// convert) run their bodies through this. `what` completes "out of memory ..." (e.g. "while loading 'm.gguf'").
template <typename Body>
Status run_guarded(const std::string& what, Body&& body) {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return Status::error("out of memory " + what);
    } catch (const std::length_error&) {
        return Status::error("out of memory " + what + " (a size too large to allocate)");
    } catch (const std::exception& e) {
        return Status::error("failed " + what + ": " + e.what());
    }
}

}  // namespace specqd
