#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "kernels/ops.h"

namespace specqd {
namespace {

constexpr int32_t kMaxBatch = 64;  // prefill chunk: bounds scratch memory; results do not depend on it

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

const char* stop_reason_name(StopReason r) {
    switch (r) {
        case StopReason::EndOfGeneration: return "eog";
        case StopReason::MaxTokens: return "max_tokens";
        case StopReason::StopString: return "stop";
        case StopReason::Cancelled: return "cancelled";
        case StopReason::TimeBudget: return "time_budget";
        case StopReason::ContextFull: return "context_full";
    }
    return "unknown";
}

Status Engine::load(const EngineOptions& options, std::unique_ptr<Engine>* out) {
    if (options.target.empty()) return Status::error("no target model given");
    std::unique_ptr<Engine> e(new Engine());
    SPECQD_TRY(model_load(options.target, &e->model_));
    const ModelHparams& hp = e->model_.hparams;
    int32_t threads = options.threads;
    if (threads <= 0) threads = static_cast<int32_t>(std::min(8u, std::max(1u, std::thread::hardware_concurrency())));
    if (threads > 256) return Status::error("threads must be at most 256");
    int32_t n_ctx = options.context_length;
    if (n_ctx <= 0) n_ctx = static_cast<int32_t>(std::min<uint32_t>(hp.n_ctx_train, 4096));
    if (n_ctx < 16 || n_ctx > (1 << 20)) return Status::error("context length " + std::to_string(n_ctx) + " is out of range");
    e->pool_ = std::make_unique<ThreadPool>(threads);
    SPECQD_TRY(e->kv_.init(hp, n_ctx));
    e->scratch_.init(hp, kMaxBatch, n_ctx);
    e->logits_.assign(hp.n_vocab, 0.0f);
    *out = std::move(e);
    return Status::ok();
}

Status Engine::build_prompt(const CompletionRequest& request, std::vector<int32_t>* tokens) const {
    const Vocab& vocab = model_.vocab;
    tokens->clear();
    if (!request.fim) {
        *tokens = vocab.encode(request.prompt, vocab.add_bos(), false);
    } else {
        if (!vocab.fim_supported()) {
            return Status::error("this model has no fill-in-the-middle tokens; send a plain prompt instead");
        }
        // PSM order: <prefix-marker> prefix <suffix-marker> suffix <middle-marker>, the order Qwen2.5-Coder,
        // StarCoder and CodeLlama were trained on. User text never turns into special tokens.
        if (vocab.add_bos() && vocab.bos_id() >= 0) tokens->push_back(vocab.bos_id());
        tokens->push_back(vocab.fim_pre_id());
        const auto pre = vocab.encode(request.prefix, false, false);
        tokens->insert(tokens->end(), pre.begin(), pre.end());
        tokens->push_back(vocab.fim_suf_id());
        const auto suf = vocab.encode(request.suffix, false, false);
        tokens->insert(tokens->end(), suf.begin(), suf.end());
        tokens->push_back(vocab.fim_mid_id());
    }
    if (tokens->empty()) return Status::error("the prompt is empty");
    return Status::ok();
}

// Computes tokens[from..] in chunks (the KV of tokens[0..from) is already cached); logits of the last one.
Status Engine::prefill(const std::vector<int32_t>& tokens, int32_t from, float* logits) {
    const int32_t n = static_cast<int32_t>(tokens.size());
    for (int32_t i = from; i < n; i += kMaxBatch) {
        const int32_t chunk = std::min(kMaxBatch, n - i);
        SPECQD_TRY(model_forward(model_.hparams, model_.weights, kv_, scratch_, pool_.get(), tokens.data() + i, chunk,
                                 LogitsFor::Last, logits));
    }
    return Status::ok();
}

Status Engine::complete(const CompletionRequest& request, CompletionResult* result) {
    std::lock_guard<std::mutex> lock(request_mutex_);
    const auto t_start = Clock::now();
    *result = CompletionResult();
    CompletionStats& st = result->stats;
    if (request.max_tokens < 0) return Status::error("maxTokens must not be negative");

    std::vector<int32_t>& prompt = result->prompt_tokens;
    SPECQD_TRY(build_prompt(request, &prompt));
    const int32_t n_prompt = static_cast<int32_t>(prompt.size());
    st.n_prompt = n_prompt;
    if (n_prompt >= kv_.n_ctx) {
        return Status::error("the prompt is " + std::to_string(n_prompt) + " tokens, longer than the context length " +
                             std::to_string(kv_.n_ctx) + "; shorten it");
    }

    // Reuse the KV of the longest common prefix with the previous request; recompute at least the last prompt
    // token, whose logits start generation.
    int32_t n_keep = 0;
    const int32_t n_cached = std::min<int32_t>(kv_.n_past, static_cast<int32_t>(cached_tokens_.size()));
    while (n_keep < n_cached && n_keep < n_prompt && cached_tokens_[n_keep] == prompt[n_keep]) ++n_keep;
    n_keep = std::min(n_keep, n_prompt - 1);
    kv_.rollback(n_keep);
    cached_tokens_.assign(prompt.begin(), prompt.begin() + n_keep);
    st.n_reused = n_keep;

    auto cancelled = [&] { return request.cancel && request.cancel->load(std::memory_order_relaxed); };
    auto out_of_time = [&] { return request.time_budget_ms > 0 && ms_since(t_start) >= request.time_budget_ms; };
    auto finish = [&](StopReason reason) {
        result->stop_reason = reason;
        st.total_ms = ms_since(t_start);
        std::lock_guard<std::mutex> slock(stats_mutex_);
        stats_.n_requests += 1;
        stats_.n_cancelled += reason == StopReason::Cancelled;
        stats_.n_prompt += st.n_prompt;
        stats_.n_reused += st.n_reused;
        stats_.n_generated += st.n_generated;
        stats_.prefill_ms += st.prefill_ms;
        stats_.decode_ms += st.decode_ms;
        stats_.last = st;
        return Status::ok();
    };
    if (cancelled()) return finish(StopReason::Cancelled);

    const auto t_prefill = Clock::now();
    const Status pst = prefill(prompt, n_keep, logits_.data());
    if (!pst) {
        kv_.rollback(0);  // the cache may hold a partial prompt: forget it
        cached_tokens_.clear();
        return pst;
    }
    cached_tokens_ = prompt;
    st.prefill_ms = ms_since(t_prefill);

    const Vocab& vocab = model_.vocab;
    const auto t_decode = Clock::now();
    StopReason reason = StopReason::MaxTokens;
    for (int32_t i = 0; i < request.max_tokens; ++i) {
        // Greedy: the most likely token (the lowest id wins ties).
        const int32_t next = static_cast<int32_t>(argmax(logits_.data(), model_.hparams.n_vocab));
        result->tokens.push_back(next);
        st.n_generated += 1;
        if (vocab.is_eog(next)) {
            reason = StopReason::EndOfGeneration;
            break;
        }
        result->text += vocab.token_to_piece(next);
        if (!request.stop.empty()) {
            size_t cut = std::string::npos;
            for (const std::string& s : request.stop) {
                if (s.empty()) continue;
                const size_t at = result->text.find(s);
                if (at != std::string::npos) cut = std::min(cut, at);
            }
            if (cut != std::string::npos) {
                result->text.resize(cut);
                reason = StopReason::StopString;
                break;
            }
        }
        if (i + 1 == request.max_tokens) break;
        if (cancelled()) {
            reason = StopReason::Cancelled;
            break;
        }
        if (out_of_time()) {
            reason = StopReason::TimeBudget;
            break;
        }
        if (kv_.n_past + 1 > kv_.n_ctx) {
            reason = StopReason::ContextFull;
            break;
        }
        // The new token's KV goes into the cache; its logits pick the one after.
        SPECQD_TRY(model_forward(model_.hparams, model_.weights, kv_, scratch_, pool_.get(), &next, 1, LogitsFor::Last,
                                 logits_.data()));
        cached_tokens_.push_back(next);
    }
    st.decode_ms = ms_since(t_decode);
    return finish(reason);
}

Status Engine::evaluate(const std::vector<int32_t>& tokens, std::vector<PositionPrediction>* out,
                        const std::atomic<bool>* cancel) {
    std::lock_guard<std::mutex> lock(request_mutex_);
    out->clear();
    const int32_t n = static_cast<int32_t>(tokens.size());
    if (n == 0) return Status::error("nothing to evaluate");
    if (n > kv_.n_ctx) {
        return Status::error(std::to_string(n) + " tokens do not fit the context length " + std::to_string(kv_.n_ctx));
    }
    kv_.rollback(0);
    cached_tokens_.clear();
    const uint32_t n_vocab = model_.hparams.n_vocab;
    std::vector<float> logits(static_cast<size_t>(kMaxBatch) * n_vocab);
    for (int32_t i = 0; i < n; i += kMaxBatch) {
        if (cancel && cancel->load()) return Status::error("cancelled");
        const int32_t chunk = std::min(kMaxBatch, n - i);
        const Status st = model_forward(model_.hparams, model_.weights, kv_, scratch_, pool_.get(), tokens.data() + i,
                                        chunk, LogitsFor::All, logits.data());
        if (!st) {
            kv_.rollback(0);
            return st;
        }
        for (int32_t t = 0; t < chunk; ++t) {
            const float* row = logits.data() + static_cast<size_t>(t) * n_vocab;
            PositionPrediction p;
            p.top1 = static_cast<int32_t>(argmax(row, n_vocab));
            float second = -INFINITY;
            for (uint32_t v = 0; v < n_vocab; ++v) {
                if (static_cast<int32_t>(v) != p.top1 && row[v] > second) second = row[v];
            }
            p.margin = row[p.top1] - second;
            out->push_back(p);
        }
    }
    cached_tokens_ = tokens;
    return Status::ok();
}

EngineStats Engine::stats() const {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    return stats_;
}

}  // namespace specqd
