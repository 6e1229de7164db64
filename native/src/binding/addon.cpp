// The N-API module: converts arguments, runs engine work on libuv's worker threads (never on the JS thread), and
// turns failed Status values into JS errors. No engine logic lives here.
#include <napi.h>

#include <atomic>
#include <memory>
#include <utility>

#include "binding/convert.h"
#include "binding/engine-binding.h"
#include "engine/inspect.h"
#include "kernels/cpu-features.h"
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

// convert(src, dst, { type, keepHead }, onProgress?) -> { promise: Promise<report>, cancel() }: a copy of the model
// with its matrices cast. Progress reaches JS through a thread-safe function (called on the JS thread, after each
// tensor, with (fraction, tensorName)); cancel() sets a flag the converter checks between tensors and every 1024
// rows, and the promise then rejects with "cancelled" (no output is left behind).
class ConvertWorker : public Napi::AsyncWorker {
public:
    ConvertWorker(Napi::Env env, std::string src, std::string dst, ConvertOptions options, Napi::Function on_progress)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), src_(std::move(src)),
          dst_(std::move(dst)), options_(std::move(options)), cancel_(std::make_shared<std::atomic<bool>>(false)) {
        options_.cancel = cancel_.get();
        if (!on_progress.IsEmpty()) {
            progress_ = Napi::ThreadSafeFunction::New(env, on_progress, "specqd-convert-progress", 0, 1);
            has_progress_ = true;
        }
    }
    Napi::Promise promise() { return deferred_.Promise(); }
    std::shared_ptr<std::atomic<bool>> cancel_flag() const { return cancel_; }

    void Execute() override {
        if (has_progress_) {
            options_.on_progress = [this](double fraction, const std::string& tensor) {
                auto* update = new std::pair<double, std::string>(fraction, tensor);
                const napi_status st = progress_.NonBlockingCall(
                    update, [](Napi::Env env, Napi::Function fn, std::pair<double, std::string>* u) {
                        // Exceptions from the callback are left pending for Node to report; a progress callback must
                        // not stop the conversion.
                        if (env != nullptr && !fn.IsEmpty()) {
                            fn.Call({Napi::Number::New(env, u->first), Napi::String::New(env, u->second)});
                        }
                        delete u;
                    });
                if (st != napi_ok) delete update;
            };
        }
        const Status st = convert_model(src_, dst_, options_, &report_);
        if (!st) SetError(st.message());
    }
    void OnOK() override {
        release_progress();
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
    void OnError(const Napi::Error& e) override {
        release_progress();
        deferred_.Reject(e.Value());
    }

private:
    void release_progress() {
        if (has_progress_) {
            progress_.Release();
            has_progress_ = false;
        }
    }

    Napi::Promise::Deferred deferred_;
    std::string src_, dst_;
    ConvertOptions options_;
    ConvertReport report_;
    std::shared_ptr<std::atomic<bool>> cancel_;
    Napi::ThreadSafeFunction progress_;
    bool has_progress_ = false;
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
    Napi::Function on_progress;
    if (info.Length() >= 4 && info[3].IsFunction()) on_progress = info[3].As<Napi::Function>();
    options.convert_embedding = options.type != GgmlType::MXFP4;
    auto* worker = new ConvertWorker(env, std::move(src), std::move(dst), std::move(options), on_progress);
    Napi::Object handle = Napi::Object::New(env);
    handle.Set("promise", worker->promise());
    std::shared_ptr<std::atomic<bool>> flag = worker->cancel_flag();
    handle.Set("cancel", Napi::Function::New(env, [flag](const Napi::CallbackInfo& ci) {
                   flag->store(true);
                   return ci.Env().Undefined();
               }, "cancel"));
    worker->Queue();
    return handle;
}

// buildInfo: how the addon was compiled and what this CPU offers, so a packaging step can refuse a binary that only
// runs on the build machine (scripts/check-portable.mjs). The ISA extensions in effect are reported for two baseline
// translation units: the core's cpu-features.cpp (flags of the whole build or of the core library) and this file
// (flags given to the addon target alone). Both are empty in a portable x86-64 build.
Napi::Object build_info_to_js(Napi::Env env) {
    const BuildInfo& b = build_info();
    static constexpr const char kBindingIsa[] = SPECQD_TU_ISA_EXTENSIONS;
    Napi::Object o = Napi::Object::New(env);
    o.Set("compiler", b.compiler);
#if defined(__x86_64__) || defined(_M_X64)
    o.Set("arch", "x64");
#elif defined(__aarch64__) || defined(_M_ARM64)
    o.Set("arch", "arm64");
#else
    o.Set("arch", "other");
#endif
    o.Set("baselineIsa", b.baseline_isa);
    o.Set("bindingIsa", kBindingIsa[0] == ' ' ? kBindingIsa + 1 : kBindingIsa);
    o.Set("kernelPaths", b.kernel_paths);
    o.Set("cpuFeatures", cpu_features_string());
    o.Set("isaSupported", isa_level_name(isa_level_supported()));
    return o;
}

}  // namespace
}  // namespace specqd::binding

static Napi::Object init_specqd_addon(Napi::Env env, Napi::Object exports) {
    using namespace specqd::binding;
    exports.Set("inspect", Napi::Function::New(env, inspect, "inspect"));
    exports.Set("convert", Napi::Function::New(env, convert, "convert"));
    register_engine(env, exports);
    exports.Set("buildInfo", build_info_to_js(env));
    exports.Set("abiVersion", Napi::Number::New(env, 1));
    return exports;
}

NODE_API_MODULE(specqd, init_specqd_addon)
