// Conversions between engine structs and JS values. Only the binding includes napi.h.
#pragma once

#include <napi.h>

#include "engine/inspect.h"

namespace specqd::binding {

Napi::Object inspection_to_js(Napi::Env env, const ModelInspection& r);

// Rejects a promise / throws with the engine's message. Returns false when `value` is not a string.
bool get_string_arg(const Napi::CallbackInfo& info, size_t index, const char* what, std::string* out);

}  // namespace specqd::binding
