// The N-API module: converts arguments, runs engine work on libuv's worker threads (never on the JS thread), and
// turns failed Status values into JS errors. No engine logic lives here.
#include <napi.h>

#include "binding/convert.h"
#include "binding/engine-binding.h"
#include "engine/inspect.h"

namespace specqd::binding {
namespace {

// inspect(path) -> Promise<Inspection>
class InspectWorker : public Napi::AsyncWorker {
public:
    InspectWorker(Napi::Env env, std::string path)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}

    Napi::Promise promise() { return deferred_.Promise(); }

    void Execute() override {
        const Status st = inspect_model(path_, &result_);
        if (!st) SetError(st.message());
    }
    void OnOK() override { deferred_.Resolve(inspection_to_js(Env(), result_)); }
    void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

private:
    Napi::Promise::Deferred deferred_;
    std::string path_;
    ModelInspection result_;
};

Napi::Value inspect(const Napi::CallbackInfo& info) {
    std::string path;
    if (!get_string_arg(info, 0, "inspect(path): path", &path)) return info.Env().Undefined();
    auto* worker = new InspectWorker(info.Env(), std::move(path));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

}  // namespace
}  // namespace specqd::binding

static Napi::Object init_specqd_addon(Napi::Env env, Napi::Object exports) {
    using namespace specqd::binding;
    exports.Set("inspect", Napi::Function::New(env, inspect, "inspect"));
    register_engine(env, exports);
    exports.Set("abiVersion", Napi::Number::New(env, 1));
    return exports;
}

NODE_API_MODULE(specqd, init_specqd_addon)
