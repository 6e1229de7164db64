#include "binding/engine-binding.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "engine/engine.h"
#include "kernels/cpu-features.h"

namespace specqd::binding {
namespace {

Napi::Array levels_to_js(Napi::Env env, const std::vector<LevelStats>& levels) {
    Napi::Array a = Napi::Array::New(env, levels.size());
    for (size_t i = 0; i < levels.size(); ++i) {
        const LevelStats& l = levels[i];
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", l.name);
        o.Set("rounds", static_cast<double>(l.rounds));
        o.Set("proposed", static_cast<double>(l.proposed));
        o.Set("accepted", static_cast<double>(l.accepted));
        o.Set("acceptance", l.acceptance());
        o.Set("branches", static_cast<double>(l.branches));
        o.Set("branchesKept", static_cast<double>(l.branches_kept));
        o.Set("meanDraftLength", l.mean_draft());
        o.Set("ms", l.ms);
        a.Set(static_cast<uint32_t>(i), o);
    }
    return a;
}

Napi::Object completion_stats_to_js(Napi::Env env, const CompletionStats& s) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("levels", levels_to_js(env, s.levels));
    o.Set("promptTokens", s.n_prompt);
    o.Set("reusedTokens", s.n_reused);
    o.Set("generatedTokens", s.n_generated);
    o.Set("prefillMs", s.prefill_ms);
    o.Set("decodeMs", s.decode_ms);
    o.Set("totalMs", s.total_ms);
    o.Set("prefillTokensPerSecond", s.prefill_tokens_per_s());
    o.Set("decodeTokensPerSecond", s.decode_tokens_per_s());
    return o;
}

Napi::Array ids_to_js(Napi::Env env, const std::vector<int32_t>& ids) {
    Napi::Array a = Napi::Array::New(env, ids.size());
    for (size_t i = 0; i < ids.size(); ++i) a.Set(static_cast<uint32_t>(i), ids[i]);
    return a;
}

// Shared between the JS object and its in-flight workers.
struct EngineHandle {
    std::shared_ptr<Engine> engine;
    std::mutex mutex;  // guards `cancels`
    std::map<double, std::shared_ptr<std::atomic<bool>>> cancels;  // in-flight requests by id

    void cancel_all() {
        std::lock_guard<std::mutex> lock(mutex);
        for (auto& [id, flag] : cancels) flag->store(true);
    }
};

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
public:
    static Napi::FunctionReference* constructor;

    static Napi::Function define(Napi::Env env) {
        return DefineClass(env, "Engine",
                           {InstanceMethod("complete", &EngineWrap::complete),
                            InstanceMethod("cancel", &EngineWrap::cancel), InstanceMethod("stats", &EngineWrap::stats),
                            InstanceMethod("close", &EngineWrap::close), InstanceMethod("info", &EngineWrap::info),
                            InstanceMethod("evaluate", &EngineWrap::evaluate)});
    }

    explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {}

    std::shared_ptr<EngineHandle> handle = std::make_shared<EngineHandle>();

private:
    Napi::Value complete(const Napi::CallbackInfo& info);
    Napi::Value evaluate(const Napi::CallbackInfo& info);
    Napi::Value cancel(const Napi::CallbackInfo& info) {
        if (info.Length() >= 1 && info[0].IsNumber()) {
            const double id = info[0].As<Napi::Number>().DoubleValue();
            std::lock_guard<std::mutex> lock(handle->mutex);
            if (auto it = handle->cancels.find(id); it != handle->cancels.end()) it->second->store(true);
        }
        return info.Env().Undefined();
    }
    Napi::Value stats(const Napi::CallbackInfo& info) {
        Napi::Env env = info.Env();
        if (!handle->engine) {
            Napi::Error::New(env, "the engine is closed").ThrowAsJavaScriptException();
            return env.Undefined();
        }
        const EngineStats s = handle->engine->stats();
        Napi::Object o = Napi::Object::New(env);
        o.Set("requests", static_cast<double>(s.n_requests));
        o.Set("cancelled", static_cast<double>(s.n_cancelled));
        o.Set("promptTokens", static_cast<double>(s.n_prompt));
        o.Set("reusedTokens", static_cast<double>(s.n_reused));
        o.Set("generatedTokens", static_cast<double>(s.n_generated));
        o.Set("prefillMs", s.prefill_ms);
        o.Set("decodeMs", s.decode_ms);
        o.Set("prefillTokensPerSecond", s.prefill_ms > 0 ? (s.n_prompt - s.n_reused) * 1000.0 / s.prefill_ms : 0.0);
        o.Set("decodeTokensPerSecond", s.decode_ms > 0 ? s.n_generated * 1000.0 / s.decode_ms : 0.0);
        o.Set("levels", levels_to_js(env, s.levels));
        o.Set("last", completion_stats_to_js(env, s.last));
        return o;
    }
    Napi::Value info(const Napi::CallbackInfo& info) {
        Napi::Env env = info.Env();
        Napi::Object o = Napi::Object::New(env);
        if (!handle->engine) return env.Null();
        const Engine& e = *handle->engine;
        o.Set("architecture", e.model().hparams.architecture);
        o.Set("contextLength", e.context_length());
        o.Set("threads", e.threads());
        o.Set("fim", e.model().vocab.fim_supported());
        o.Set("kernelPath", kernel_path_name());
        const auto names = e.level_names();
        Napi::Array levels = Napi::Array::New(env, names.size());
        for (size_t i = 0; i < names.size(); ++i) levels.Set(static_cast<uint32_t>(i), names[i]);
        o.Set("levels", levels);
        o.Set("mxfp4BuildMs", e.mxfp4_build_ms());
        return o;
    }
    Napi::Value close(const Napi::CallbackInfo& info) {
        // In-flight requests keep their own reference; they are cancelled and the engine is freed after the last.
        handle->cancel_all();
        handle->engine.reset();
        return info.Env().Undefined();
    }
};

Napi::FunctionReference* EngineWrap::constructor = nullptr;

class LoadWorker : public Napi::AsyncWorker {
public:
    LoadWorker(Napi::Env env, EngineOptions options)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), options_(std::move(options)) {}
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override {
        // Engine::load reports running out of memory as a status; the guard also covers the shared_ptr's control
        // block, so no exception can leave Execute() (which would terminate the extension host).
        const Status st = run_guarded("while loading '" + options_.target + "'", [&] {
            std::unique_ptr<Engine> engine;
            SPECQD_TRY(Engine::load(options_, &engine));
            engine_ = std::move(engine);
            return Status::ok();
        });
        if (!st) SetError(st.message());
    }
    void OnOK() override {
        Napi::Object obj = EngineWrap::constructor->New({});
        EngineWrap::Unwrap(obj)->handle->engine = std::move(engine_);
        deferred_.Resolve(obj);
    }
    void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

private:
    Napi::Promise::Deferred deferred_;
    EngineOptions options_;
    std::shared_ptr<Engine> engine_;
};

class CompleteWorker : public Napi::AsyncWorker {
public:
    CompleteWorker(Napi::Env env, std::shared_ptr<EngineHandle> handle, std::shared_ptr<Engine> engine,
                   CompletionRequest request, double id, std::shared_ptr<std::atomic<bool>> cancel)
        : Napi::AsyncWorker(env),
          deferred_(Napi::Promise::Deferred::New(env)),
          handle_(std::move(handle)),
          engine_(std::move(engine)),
          request_(std::move(request)),
          id_(id),
          cancel_(std::move(cancel)) {
        request_.cancel = cancel_.get();
    }
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override {
        const Status st = engine_->complete(request_, &result_);
        if (!st) SetError(st.message());
    }
    void OnOK() override {
        forget();
        Napi::Env env = Env();
        Napi::Object o = Napi::Object::New(env);
        o.Set("text", result_.text);
        o.Set("tokens", ids_to_js(env, result_.tokens));
        o.Set("promptTokens", ids_to_js(env, result_.prompt_tokens));
        o.Set("stopReason", stop_reason_name(result_.stop_reason));
        o.Set("stats", completion_stats_to_js(env, result_.stats));
        deferred_.Resolve(o);
    }
    void OnError(const Napi::Error& e) override {
        forget();
        deferred_.Reject(e.Value());
    }

private:
    void forget() {
        std::lock_guard<std::mutex> lock(handle_->mutex);
        handle_->cancels.erase(id_);
    }
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<EngineHandle> handle_;
    std::shared_ptr<Engine> engine_;
    CompletionRequest request_;
    CompletionResult result_;
    double id_;
    std::shared_ptr<std::atomic<bool>> cancel_;
};

class EvaluateWorker : public Napi::AsyncWorker {
public:
    EvaluateWorker(Napi::Env env, std::shared_ptr<Engine> engine, std::vector<int32_t> tokens)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), engine_(std::move(engine)),
          tokens_(std::move(tokens)) {}
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override {
        const Status st = engine_->evaluate(tokens_, &predictions_);
        if (!st) SetError(st.message());
    }
    void OnOK() override {
        Napi::Env env = Env();
        Napi::Array top1 = Napi::Array::New(env, predictions_.size());
        Napi::Array margin = Napi::Array::New(env, predictions_.size());
        for (size_t i = 0; i < predictions_.size(); ++i) {
            top1.Set(static_cast<uint32_t>(i), predictions_[i].top1);
            margin.Set(static_cast<uint32_t>(i), predictions_[i].margin);
        }
        Napi::Object o = Napi::Object::New(env);
        o.Set("top1", top1);
        o.Set("margin", margin);
        deferred_.Resolve(o);
    }
    void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<Engine> engine_;
    std::vector<int32_t> tokens_;
    std::vector<PositionPrediction> predictions_;
};

bool read_string(Napi::Object o, const char* key, std::string* out) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return true;
    if (!v.IsString()) return false;
    *out = v.As<Napi::String>().Utf8Value();
    return true;
}

bool read_number(Napi::Object o, const char* key, double* out) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return true;
    if (!v.IsNumber()) return false;
    *out = v.As<Napi::Number>().DoubleValue();
    return true;
}

// An optional whole-number option in min..max: true when absent or valid (then *out is set); false otherwise.
bool read_whole_number(Napi::Object o, const char* key, int64_t min, int64_t max, int32_t* out) {
    double v = static_cast<double>(*out);
    if (!read_number(o, key, &v)) return false;
    if (!(v >= static_cast<double>(min) && v <= static_cast<double>(max)) ||
        v != static_cast<double>(static_cast<int64_t>(v))) {
        return false;
    }
    *out = static_cast<int32_t>(v);
    return true;
}

Napi::Value reject(Napi::Env env, const std::string& message) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(Napi::TypeError::New(env, message).Value());
    return d.Promise();
}

Napi::Value EngineWrap::complete(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber()) {
        return reject(env, "complete(request, id): request must be an object and id a number");
    }
    std::shared_ptr<Engine> engine = handle->engine;
    if (!engine) return reject(env, "the engine is closed");
    Napi::Object o = info[0].As<Napi::Object>();
    CompletionRequest req;
    double max_tokens = req.max_tokens, budget = 0;
    if (!read_string(o, "prompt", &req.prompt) || !read_string(o, "prefix", &req.prefix) ||
        !read_string(o, "suffix", &req.suffix) || !read_number(o, "maxTokens", &max_tokens) ||
        !read_number(o, "timeBudgetMs", &budget)) {
        return reject(env, "complete(): prompt/prefix/suffix must be strings, maxTokens/timeBudgetMs numbers");
    }
    req.fim = o.Get("fim").ToBoolean().Value();
    req.heal = o.Get("heal").ToBoolean().Value();
    if (!(max_tokens >= 0) || max_tokens > 1e6) return reject(env, "complete(): maxTokens must be in 0..1000000");
    req.max_tokens = static_cast<int32_t>(max_tokens);
    req.time_budget_ms = budget;
    Napi::Value stop = o.Get("stop");
    if (stop.IsArray()) {
        Napi::Array a = stop.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); ++i) {
            if (!a.Get(i).IsString()) return reject(env, "complete(): stop must be an array of strings");
            req.stop.push_back(a.Get(i).As<Napi::String>().Utf8Value());
        }
    } else if (!stop.IsUndefined()) {
        return reject(env, "complete(): stop must be an array of strings");
    }
    const double id = info[1].As<Napi::Number>().DoubleValue();
    auto flag = std::make_shared<std::atomic<bool>>(false);
    {
        std::lock_guard<std::mutex> lock(handle->mutex);
        handle->cancels[id] = flag;
    }
    auto* worker = new CompleteWorker(env, handle, std::move(engine), std::move(req), id, flag);
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
}

Napi::Value EngineWrap::evaluate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArray()) return reject(env, "evaluate(tokens): tokens must be an array");
    std::shared_ptr<Engine> engine = handle->engine;
    if (!engine) return reject(env, "the engine is closed");
    Napi::Array a = info[0].As<Napi::Array>();
    std::vector<int32_t> tokens(a.Length());
    for (uint32_t i = 0; i < a.Length(); ++i) {
        Napi::Value v = a.Get(i);
        if (!v.IsNumber()) return reject(env, "evaluate(tokens): tokens must be numbers");
        tokens[i] = v.As<Napi::Number>().Int32Value();
    }
    auto* worker = new EvaluateWorker(env, std::move(engine), std::move(tokens));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
}

Napi::Value load_engine(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) return reject(env, "loadEngine(options): options must be an object");
    Napi::Object o = info[0].As<Napi::Object>();
    EngineOptions options;
    double threads = 0, context = 0;
    if (!read_string(o, "target", &options.target) || !read_number(o, "threads", &threads) ||
        !read_number(o, "contextLength", &context)) {
        return reject(env, "loadEngine(): target must be a string, threads/contextLength numbers");
    }
    options.threads = static_cast<int32_t>(threads);
    options.context_length = static_cast<int32_t>(context);
    if (!read_string(o, "draft", &options.draft)) return reject(env, "loadEngine(): draft must be a string");
    Napi::Value levels = o.Get("levels");
    if (levels.IsArray()) {
        Napi::Array a = levels.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); ++i) {
            if (!a.Get(i).IsString()) return reject(env, "loadEngine(): levels must be an array of strings");
            options.levels.push_back(a.Get(i).As<Napi::String>().Utf8Value());
        }
    } else if (!levels.IsUndefined()) {
        return reject(env, "loadEngine(): levels must be an array of strings");
    }
    if (!read_string(o, "mxfp4", &options.mxfp4)) return reject(env, "loadEngine(): mxfp4 must be a string");
    options.mxfp4_keep_head = o.Get("mxfp4KeepHead").ToBoolean().Value();
    Napi::Value adaptive = o.Get("adaptiveDrafts");
    if (adaptive.IsBoolean()) options.adaptive_drafts = adaptive.As<Napi::Boolean>().Value();
    options.map_weights = o.Get("mapWeights").ToBoolean().Value();
    if (!read_whole_number(o, "draftVocab", 0, 2147483647, &options.draft_vocab)) {
        return reject(env, "loadEngine(): draftVocab must be a whole number, 0 or more");
    }
    if (!read_whole_number(o, "maxDraft", 1, EngineOptions::kMaxDraft, &options.max_draft)) {
        return reject(env, "loadEngine(): maxDraft must be a whole number from 1 to " +
                               std::to_string(EngineOptions::kMaxDraft));
    }
    if (!read_whole_number(o, "maxBranches", 0, EngineOptions::kMaxBranches, &options.max_branches)) {
        return reject(env, "loadEngine(): maxBranches must be a whole number from 0 to " +
                               std::to_string(EngineOptions::kMaxBranches));
    }
    Napi::Value share_kv = o.Get("shareKv");
    if (share_kv.IsBoolean()) options.share_kv = share_kv.As<Napi::Boolean>().Value();
    auto* worker = new LoadWorker(env, std::move(options));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
}

}  // namespace

void register_engine(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = EngineWrap::define(env);
    EngineWrap::constructor = new Napi::FunctionReference(Napi::Persistent(ctor));
    exports.Set("loadEngine", Napi::Function::New(env, load_engine, "loadEngine"));
}

}  // namespace specqd::binding
