// Loading an engine and completing a prompt, for the native tests that drive the whole engine.
#pragma once

#include <memory>
#include <string>

#include "check.h"
#include "engine/engine.h"

namespace test_engine {

// An engine with `options`; null after a failed check that names the file and the reason.
inline std::unique_ptr<specqd::Engine> load(const specqd::EngineOptions& options) {
    std::unique_ptr<specqd::Engine> engine;
    const specqd::Status st = specqd::Engine::load(options, &engine);
    CHECK_MSG(st.is_ok(), options.target + ": " + st.message());
    return engine;
}

// The greedy completion of a plain prompt; empty after a failed check.
inline specqd::CompletionResult complete(specqd::Engine& engine, const std::string& prompt, int32_t max_tokens) {
    specqd::CompletionRequest request;
    request.prompt = prompt;
    request.max_tokens = max_tokens;
    specqd::CompletionResult result;
    const specqd::Status st = engine.complete(request, &result);
    CHECK_MSG(st.is_ok(), st.message());
    return result;
}

}  // namespace test_engine
