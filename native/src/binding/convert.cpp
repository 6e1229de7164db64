#include "binding/convert.h"

namespace specqd::binding {

namespace {
Napi::Value number(Napi::Env env, uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); }
}  // namespace

bool get_string_arg(const Napi::CallbackInfo& info, size_t index, const char* what, std::string* out) {
    if (info.Length() <= index || !info[index].IsString()) {
        Napi::TypeError::New(info.Env(), std::string(what) + " must be a string").ThrowAsJavaScriptException();
        return false;
    }
    *out = info[index].As<Napi::String>().Utf8Value();
    return true;
}

Napi::Object inspection_to_js(Napi::Env env, const ModelInspection& r) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("path", r.path);
    o.Set("fileSize", number(env, r.file_size));
    o.Set("ggufVersion", number(env, r.gguf_version));
    o.Set("metadataCount", number(env, r.n_metadata));
    o.Set("tensorCount", number(env, r.n_tensors));
    o.Set("architecture", r.architecture);
    o.Set("supported", r.supported);
    if (!r.supported) o.Set("unsupportedReason", r.unsupported_reason);
    if (r.supported) {
        const ModelHparams& h = r.hparams;
        Napi::Object hp = Napi::Object::New(env);
        hp.Set("name", h.name);
        hp.Set("contextLength", number(env, h.n_ctx_train));
        hp.Set("embeddingLength", number(env, h.n_embd));
        hp.Set("blockCount", number(env, h.n_layer));
        hp.Set("feedForwardLength", number(env, h.n_ff));
        hp.Set("headCount", number(env, h.n_head));
        hp.Set("headCountKv", number(env, h.n_head_kv));
        hp.Set("headDim", number(env, h.head_dim));
        hp.Set("ropeDimensionCount", number(env, h.n_rot));
        hp.Set("ropeFreqBase", Napi::Number::New(env, h.rope_freq_base));
        hp.Set("rmsEpsilon", Napi::Number::New(env, h.rms_eps));
        hp.Set("vocabularyRows", number(env, h.n_vocab));
        hp.Set("qkvBias", h.has_qkv_bias);
        hp.Set("tiedOutput", h.tied_output);
        o.Set("hparams", hp);
    }
    Napi::Array types = Napi::Array::New(env, r.tensor_types.size());
    for (size_t i = 0; i < r.tensor_types.size(); ++i) {
        Napi::Object t = Napi::Object::New(env);
        t.Set("type", r.tensor_types[i].type);
        t.Set("count", number(env, r.tensor_types[i].count));
        t.Set("bytes", number(env, r.tensor_types[i].bytes));
        types.Set(static_cast<uint32_t>(i), t);
    }
    o.Set("tensorTypes", types);
    o.Set("tensorBytes", number(env, r.tensor_bytes));
    o.Set("parameters", number(env, r.parameters));
    Napi::Object tok = Napi::Object::New(env);
    tok.Set("model", r.tokenizer_model);
    tok.Set("pre", r.tokenizer_pre);
    tok.Set("ok", r.tokenizer_ok);
    if (!r.tokenizer_ok) tok.Set("error", r.tokenizer_error);
    tok.Set("size", number(env, r.vocab_size));
    tok.Set("bos", Napi::Number::New(env, r.bos));
    tok.Set("eos", Napi::Number::New(env, r.eos));
    Napi::Object fim = Napi::Object::New(env);
    fim.Set("supported", r.fim);
    fim.Set("prefix", Napi::Number::New(env, r.fim_prefix));
    fim.Set("suffix", Napi::Number::New(env, r.fim_suffix));
    fim.Set("middle", Napi::Number::New(env, r.fim_middle));
    tok.Set("fim", fim);
    o.Set("tokenizer", tok);
    if (r.supported) {
        Napi::Object mem = Napi::Object::New(env);
        mem.Set("contextLength", number(env, r.context_length));
        mem.Set("kvBytesPerToken", number(env, r.kv_bytes_per_token));
        mem.Set("estimatedBytes", number(env, r.estimated_memory));
        o.Set("memory", mem);
    }
    return o;
}

}  // namespace specqd::binding
