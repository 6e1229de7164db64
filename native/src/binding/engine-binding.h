// The Engine class exposed to JS: load / complete / cancel / stats / close. Work runs on libuv worker threads;
// the engine is held by shared_ptr so that close() during a request never frees it under the request.
#pragma once

#include <napi.h>

namespace specqd::binding {

void register_engine(Napi::Env env, Napi::Object exports);

}  // namespace specqd::binding
