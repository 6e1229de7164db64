// The N-API module: converts arguments, runs engine work on libuv's worker threads (never on the JS thread), and
// turns failed Status values into JS errors. No engine logic lives here.
#include <napi.h>

#include "binding/convert.h"
#include "binding/engine-binding.h"
#include "engine/inspect.h"
#include "model/convert.h"

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

// convert(src, dst, { type, keepHead }) -> Promise<report>: a copy of the model with its matrices cast.
class ConvertWorker : public Napi::AsyncWorker {
public:
    ConvertWorker(Napi::Env env, std::string src, std::string dst, ConvertOptions options)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), src_(std::move(src)),
          dst_(std::move(dst)), options_(std::move(options)) {}
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override {
        const Status st = convert_model(src_, dst_, options_, &report_);
        if (!st) SetError(st.message());
    }
    void OnOK() override {
        Napi::Env env = Env();
        Napi::Object o = Napi::Object::New(env);
        o.Set("converted", report_.n_converted);
        Napi::Array kept = Napi::Array::New(env, report_.kept.size());
        for (size_t i = 0; i < report_.kept.size(); ++i) kept.Set(static_cast<uint32_t>(i), report_.kept[i]);
        o.Set("kept", kept);
        o.Set("bytesIn", static_cast<double>(report_.bytes_in));
        o.Set("bytesOut", static_cast<double>(report_.bytes_out));
        deferred_.Resolve(o);
    }
    void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

private:
    Napi::Promise::Deferred deferred_;
    std::string src_, dst_;
    ConvertOptions options_;
    ConvertReport report_;
};

Napi::Value convert(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string src, dst;
    if (!get_string_arg(info, 0, "convert(src, dst, options): src", &src) ||
        !get_string_arg(info, 1, "convert(src, dst, options): dst", &dst)) {
        return env.Undefined();
    }
    ConvertOptions options;
    if (info.Length() >= 3 && info[2].IsObject()) {
        Napi::Object o = info[2].As<Napi::Object>();
        Napi::Value type = o.Get("type");
        if (type.IsString() && !parse_weight_type(type.As<Napi::String>().Utf8Value(), &options.type)) {
            Napi::TypeError::New(env, "convert(): type must be f32, f16, bf16, q8_0 or mxfp4").ThrowAsJavaScriptException();
            return env.Undefined();
        }
        options.keep_head = o.Get("keepHead").ToBoolean().Value();
    }
    options.convert_embedding = options.type != GgmlType::MXFP4;
    auto* worker = new ConvertWorker(env, std::move(src), std::move(dst), std::move(options));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
}

}  // namespace
}  // namespace specqd::binding

static Napi::Object init_specqd_addon(Napi::Env env, Napi::Object exports) {
    using namespace specqd::binding;
    exports.Set("inspect", Napi::Function::New(env, inspect, "inspect"));
    exports.Set("convert", Napi::Function::New(env, convert, "convert"));
    register_engine(env, exports);
    exports.Set("abiVersion", Napi::Number::New(env, 1));
    return exports;
}

NODE_API_MODULE(specqd, init_specqd_addon)
