#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "kernels/ops.h"
#include "model/convert.h"

namespace specqd {
namespace {

// Largest batch of one forward pass: bounds scratch memory (prefill runs in chunks of this size) and is more than
// the longest verification (a draft of 16 plus one). Results do not depend on it (batch invariance).
constexpr int32_t kMaxBatch = 64;

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Two models share a tokenizer when every token has the same text and type.
bool same_tokenizer(const Vocab& a, const Vocab& b) {
    if (a.n_tokens() != b.n_tokens()) return false;
    for (int32_t i = 0; i < a.n_tokens(); ++i) {
        if (a.token_text(i) != b.token_text(i)) return false;
    }
    return true;
}

FileResidency weight_residency(const EngineOptions& options) {
    return options.map_weights ? FileResidency::kMapped : FileResidency::kCopied;
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
    // Everything an engine needs is allocated here: KV caches, scratch buffers, the in-memory MXFP4 copy. When memory
    // runs out the load fails with a message instead of an exception, everything allocated so far is freed with the
    // half-built engine, and a later load starts afresh.
    return run_guarded("while loading '" + options.target + "'", [&]() -> Status {
        std::unique_ptr<Engine> e(new Engine());
        SPECQD_TRY(model_load(options.target, &e->model_, weight_residency(options)));
        const ModelHparams& hp = e->model_.hparams;
        int32_t threads = options.threads;
        if (threads <= 0) {
            threads = static_cast<int32_t>(std::min(8u, std::max(1u, std::thread::hardware_concurrency())));
        }
        if (threads > 256) return Status::error("threads must be at most 256");
        int32_t n_ctx = options.context_length;
        if (n_ctx <= 0) n_ctx = static_cast<int32_t>(std::min<uint32_t>(hp.n_ctx_train, 4096));
        if (n_ctx < 16 || n_ctx > (1 << 20)) {
            return Status::error("context length " + std::to_string(n_ctx) + " is out of range");
        }
        e->n_ctx_ = n_ctx;
        e->pool_ = std::make_unique<ThreadPool>(threads);
        SPECQD_TRY(e->build_stack(options));
        *out = std::move(e);
        return Status::ok();
    });
}

Status Engine::build_stack(const EngineOptions& options) {
    std::vector<std::string> levels = options.levels;
    if (levels.empty()) levels = {"target"};
    if (levels[0] != "target") return Status::error("the first speculation level must be \"target\"");
    if (options.max_branches < 0 || options.max_branches > EngineOptions::kMaxBranches) {
        return Status::error("the most branches must be 0 to " + std::to_string(EngineOptions::kMaxBranches));
    }
    if (options.max_draft < 1 || options.max_draft > EngineOptions::kMaxDraft) {
        return Status::error("the longest draft must be 1 to " + std::to_string(EngineOptions::kMaxDraft) + " tokens");
    }
    // A model level reads the KV cache of the level above when it is the same network with other weights.
    auto share_target = [&](size_t i, const ModelHparams& hp) -> ModelLevel* {
        if (!options.share_kv || i == 0 || !stack_.level(i - 1).is_model()) return nullptr;
        auto* above = static_cast<ModelLevel*>(&stack_.level(i - 1));
        return ModelLevel::same_kv_geometry(*above->hparams(), hp) ? above : nullptr;
    };
    for (size_t i = 0; i < levels.size(); ++i) {
        const std::string& name = levels[i];
        if (std::count(levels.begin(), levels.end(), name) > 1) {
            return Status::error("speculation level \"" + name + "\" is listed twice");
        }
        if (name == "target") {
            if (i != 0) return Status::error("\"target\" must be the first speculation level");
            auto level = std::make_unique<ModelLevel>("target", &model_.hparams, &model_.weights);
            SPECQD_TRY(level->init(n_ctx_, kMaxBatch));
            stack_.add_level(std::move(level));
        } else if (name == "draft") {
            if (options.draft.empty()) return Status::error("the \"draft\" level needs a draft model");
            draft_model_ = std::make_unique<Model>();
            SPECQD_TRY(model_load(options.draft, draft_model_.get(), weight_residency(options)).with_context("draft model"));
            if (!same_tokenizer(model_.vocab, draft_model_->vocab)) {
                return Status::error("the draft model's tokenizer differs from the target's; a draft must share it");
            }
            auto level = std::make_unique<ModelLevel>("draft", &draft_model_->hparams, &draft_model_->weights);
            SPECQD_TRY(level->init(n_ctx_, kMaxBatch, share_target(i, draft_model_->hparams)));
            stack_.add_level(std::move(level));
        } else if (name == "ngram") {
            if (i + 1 != levels.size()) return Status::error("\"ngram\" drafts for others, so it must be the last level");
            stack_.add_level(std::make_unique<NgramLevel>());
        } else if (name == "mxfp4") {
            SPECQD_TRY(build_mxfp4_weights(options));
            auto level = std::make_unique<ModelLevel>("mxfp4", &model_.hparams, &mxfp4_weights_);
            SPECQD_TRY(level->init(n_ctx_, kMaxBatch, share_target(i, model_.hparams)));
            stack_.add_level(std::move(level));
        } else {
            return Status::error("unknown speculation level \"" + name + "\" (known: target, mxfp4, draft, ngram)");
        }
    }
    stack_.control.adaptive = options.adaptive_drafts;
    stack_.control.max_draft = options.max_draft;
    stack_.control.fixed_draft = std::min(stack_.control.fixed_draft, options.max_draft);
    stack_.control.max_branches = options.max_branches;
    // A FIM marker (or BOS) inside a completion is the model losing its place, not text: no level may choose one,
    // so the completion goes on with the best real token or ends with end-of-text.
    const Vocab& vocab = model_.vocab;
    // End-of-generation tokens stay in a drafting level's limited head (limit_head), so a draft can end where the
    // completion ends.
    std::vector<int32_t> suppressed, end_of_generation;
    for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
        if (vocab.is_eog(id)) end_of_generation.push_back(id);
        else if (vocab.token_type(id) == TokenType::CONTROL) suppressed.push_back(id);
    }
    if (options.draft_vocab < 0) return Status::error("draft vocabulary size must be 0 (all) or positive");
    for (size_t i = 0; i < stack_.depth(); ++i) {
        if (!stack_.level(i).is_model()) continue;
        auto& level = static_cast<ModelLevel&>(stack_.level(i));
        level.suppress(suppressed);
        if (i > 0 && options.draft_vocab > 0) SPECQD_TRY(level.limit_head(options.draft_vocab, end_of_generation));
    }
    return Status::ok();
}

// The "mxfp4" level is the target's network with MXFP4 weights: cast in memory from the target, or read from a file
// of the same network (same shapes, same tokenizer), whose hparams must then match the target's.
Status Engine::build_mxfp4_weights(const EngineOptions& options) {
    const auto t0 = Clock::now();
    if (options.mxfp4 == "off") return Status::error("the \"mxfp4\" level was requested with mxfp4 = \"off\"");
    if (options.mxfp4.empty() || options.mxfp4 == "auto") {
        ConvertReport report;
        const Status cast = run_guarded("for the in-memory MXFP4 copy of the weights (or give an MXFP4 file)", [&] {
            return cast_model_weights(model_.weights, GgmlType::MXFP4, options.mxfp4_keep_head, pool_.get(),
                                      &mxfp4_weights_, &report);
        });
        SPECQD_TRY(cast.with_context("building the MXFP4 copy"));
    } else {
        mxfp4_model_ = std::make_unique<Model>();
        SPECQD_TRY(model_load(options.mxfp4, mxfp4_model_.get(), weight_residency(options)).with_context("MXFP4 model"));
        const ModelHparams& a = model_.hparams;
        const ModelHparams& b = mxfp4_model_->hparams;
        if (a.n_embd != b.n_embd || a.n_layer != b.n_layer || a.n_ff != b.n_ff || a.n_head != b.n_head ||
            a.n_head_kv != b.n_head_kv || a.n_vocab != b.n_vocab || !same_tokenizer(model_.vocab, mxfp4_model_->vocab)) {
            return Status::error("the MXFP4 model '" + options.mxfp4 + "' is not a copy of the target's network");
        }
        // Same hparams as the target (the level runs with the target's), the file's weights.
        mxfp4_weights_ = ModelWeights();
        mxfp4_weights_.token_embd = mxfp4_model_->weights.token_embd;
        mxfp4_weights_.layers = mxfp4_model_->weights.layers;
        mxfp4_weights_.output_norm = mxfp4_model_->weights.output_norm;
        mxfp4_weights_.output = mxfp4_model_->weights.output;
    }
    mxfp4_build_ms_ = ms_since(t0);
    return Status::ok();
}

std::vector<std::string> Engine::level_names() const {
    std::vector<std::string> names;
    for (size_t i = 0; i < stack_.depth(); ++i) names.push_back(stack_.level(i).name());
    return names;
}

void Engine::fit_fim_to_context(int32_t max_tokens, std::vector<int32_t>* prefix, std::vector<int32_t>* suffix) const {
    // An editor measures its prompt in characters, and code varies a lot in characters per token: rather than
    // refuse a prompt that overflows, keep the tokens nearest the cursor (the end of the prefix, the start of the
    // suffix), leaving room for the markers and for the completion (at most half the context). The suffix gets at
    // most a quarter of the room unless the prefix leaves more.
    const int32_t kMarkers = 4;  // BOS, prefix, suffix and middle markers
    const int32_t generate = std::clamp(max_tokens, 0, n_ctx_ / 2);
    const int64_t room = std::max<int64_t>(0, static_cast<int64_t>(n_ctx_) - generate - kMarkers);
    const int64_t n_pre = static_cast<int64_t>(prefix->size());
    const int64_t n_suf = static_cast<int64_t>(suffix->size());
    if (n_pre + n_suf <= room) return;
    const int64_t keep_suf = std::min(n_suf, std::max(room / 4, room - n_pre));
    const int64_t keep_pre = std::min(n_pre, room - keep_suf);
    prefix->erase(prefix->begin(), prefix->end() - keep_pre);
    suffix->resize(static_cast<size_t>(keep_suf));
}

Status Engine::build_prompt(const CompletionRequest& request, std::vector<int32_t>* tokens, std::string* healed) const {
    const Vocab& vocab = model_.vocab;
    tokens->clear();
    healed->clear();
    // Token healing backs off the last token of the prompt's text, as long as keep_at_least tokens remain.
    auto back_off = [&](std::vector<int32_t>* text, size_t keep_at_least) {
        if (!request.heal || text->size() <= keep_at_least) return;
        *healed = vocab.token_to_piece(text->back());
        text->pop_back();
    };
    if (!request.fim) {
        *tokens = vocab.encode(request.prompt, vocab.add_bos(), false);
        back_off(tokens, 1);  // leaves the BOS token, or one token of text
    } else {
        if (!vocab.fim_supported()) {
            return Status::error("this model has no fill-in-the-middle tokens; send a plain prompt instead");
        }
        // PSM order: <prefix-marker> prefix <suffix-marker> suffix <middle-marker>, the order Qwen2.5-Coder,
        // StarCoder and CodeLlama were trained on. User text never turns into special tokens.
        auto pre = vocab.encode(request.prefix, false, false);
        auto suf = vocab.encode(request.suffix, false, false);
        fit_fim_to_context(request.max_tokens, &pre, &suf);
        back_off(&pre, 0);
        if (vocab.add_bos() && vocab.bos_id() >= 0) tokens->push_back(vocab.bos_id());
        tokens->push_back(vocab.fim_pre_id());
        tokens->insert(tokens->end(), pre.begin(), pre.end());
        tokens->push_back(vocab.fim_suf_id());
        tokens->insert(tokens->end(), suf.begin(), suf.end());
        tokens->push_back(vocab.fim_mid_id());
    }
    if (tokens->empty()) return Status::error("the prompt is empty");
    return Status::ok();
}

Status Engine::check_files() const {
    for (const Model* m : {static_cast<const Model*>(&model_), static_cast<const Model*>(draft_model_.get())}) {
        if (m && m->file.changed_on_disk()) {
            return Status::error("the model file '" + m->file.path() +
                                 "' changed on disk while in use (truncated or overwritten); load it again");
        }
    }
    return Status::ok();
}

Status Engine::complete(const CompletionRequest& request, CompletionResult* result) {
    std::lock_guard<std::mutex> lock(request_mutex_);
    bool finished = false;
    const Status st = run_guarded("while completing", [&] {
        const Status s = complete_locked(request, result);
        finished = true;
        return s;
    });
    // An exception (out of memory) may have cut a forward pass short and left a cache half-written: forget them.
    if (!finished) forget_caches();
    return st;
}

void Engine::forget_caches() {
    for (size_t i = 0; i < stack_.depth(); ++i) {
        if (stack_.level(i).is_model()) static_cast<ModelLevel&>(stack_.level(i)).reset();
    }
}

Status Engine::complete_locked(const CompletionRequest& request, CompletionResult* result) {
    SPECQD_TRY(check_files());
    const auto t_start = Clock::now();
    *result = CompletionResult();
    CompletionStats& st = result->stats;
    if (request.max_tokens < 0) return Status::error("maxTokens must not be negative");

    std::vector<int32_t>& prompt = result->prompt_tokens;
    std::string owed;  // token healing: text the completion must start with, already in the document
    SPECQD_TRY(build_prompt(request, &prompt, &owed));
    const int32_t n_prompt = static_cast<int32_t>(prompt.size());
    st.n_prompt = n_prompt;
    if (n_prompt >= n_ctx_) {
        return Status::error("the prompt is " + std::to_string(n_prompt) + " tokens, longer than the context length " +
                             std::to_string(n_ctx_) + "; shorten it");
    }
    stack_.reset_stats();

    auto finish = [&](StopReason reason) {
        result->stop_reason = reason;
        st.total_ms = ms_since(t_start);
        for (size_t i = 0; i < stack_.depth(); ++i) st.levels.push_back(stack_.level(i).stats);
        std::lock_guard<std::mutex> slock(stats_mutex_);
        stats_.n_requests += 1;
        stats_.n_cancelled += reason == StopReason::Cancelled;
        stats_.n_prompt += st.n_prompt;
        stats_.n_reused += st.n_reused;
        stats_.n_generated += st.n_generated;
        stats_.prefill_ms += st.prefill_ms;
        stats_.decode_ms += st.decode_ms;
        if (stats_.levels.size() != st.levels.size()) stats_.levels = std::vector<LevelStats>(st.levels.size());
        for (size_t i = 0; i < st.levels.size(); ++i) {
            stats_.levels[i].name = st.levels[i].name;
            stats_.levels[i].add(st.levels[i]);
        }
        stats_.last = st;
        return Status::ok();
    };
    if (request.cancel && request.cancel->load()) return finish(StopReason::Cancelled);

    // Prefill: the target's cache keeps the longest common prefix with the previous request, so a keystroke costs
    // only the new tokens. Everything but the last prompt token goes in; the last one starts generation.
    const auto t_prefill = Clock::now();
    const Status prefill = stack_.target().sync(prompt, pool_.get(), &st.n_reused);
    st.prefill_ms = ms_since(t_prefill);
    SPECQD_TRY(check_files());
    SPECQD_TRY(prefill);

    // Generation: greedy at the target, drafted by the levels below it.
    const Vocab& vocab = model_.vocab;
    StopReason reason = StopReason::MaxTokens;
    auto on_token = [&](int32_t token) {
        result->tokens.push_back(token);
        st.n_generated += 1;
        if (vocab.is_eog(token)) {
            reason = StopReason::EndOfGeneration;
            return false;
        }
        const std::string piece = vocab.token_to_piece(token);
        const size_t repaid = std::min(owed.size(), piece.size());  // the healing steps re-type `owed` first
        owed.erase(0, repaid);
        const size_t old_size = result->text.size();
        result->text.append(piece, repaid);
        size_t cut = std::string::npos;
        for (const std::string& s : request.stop) {
            if (s.empty()) continue;
            // Earlier text held no stop string: only one that ends in the new piece can be new.
            const size_t at = result->text.find(s, old_size >= s.size() ? old_size - s.size() + 1 : 0);
            if (at != std::string::npos) cut = std::min(cut, at);
        }
        if (cut != std::string::npos) {
            result->text.resize(cut);
            reason = StopReason::StopString;
            return false;
        }
        return true;
    };
    GenerateLimits limits;
    limits.max_new = request.max_tokens;
    limits.cancel = request.cancel;
    if (request.time_budget_ms > 0) {
        limits.deadline = t_start + std::chrono::microseconds(static_cast<int64_t>(request.time_budget_ms * 1000));
    }
    std::vector<int32_t> context = prompt;
    const auto t_decode = Clock::now();
    int why = 0;
    Status gst = heal(&context, owed, limits, on_token, &why);
    if (gst && why == 1) {
        limits.max_new = request.max_tokens - st.n_generated;
        gst = stack_.generate(context, limits, pool_.get(), on_token, &why);
    }
    st.decode_ms = ms_since(t_decode);
    // Checked after the work: the guard lets a pass over a vanished file finish on zeros, and this turns it into
    // an error instead of a nonsense completion. The caches hold nonsense too: forget them.
    if (Status files = check_files(); !files) {
        forget_caches();
        return files;
    }
    SPECQD_TRY(gst);
    switch (why) {
        case 0: break;  // the callback decided: eog or a stop string
        case 1: reason = StopReason::MaxTokens; break;
        case 2: reason = StopReason::Cancelled; break;
        case 3: reason = StopReason::TimeBudget; break;
        default: reason = StopReason::ContextFull; break;
    }
    return finish(reason);
}

std::vector<int32_t> Engine::healing_candidates(std::string_view owed) const {
    std::vector<int32_t> out = model_.vocab.tokens_beginning(owed);
    const auto blank = [](char c) { return c == ' ' || c == '\t'; };
    if (owed.empty() || !std::all_of(owed.begin(), owed.end(), blank)) return out;
    std::erase_if(out, [&](int32_t id) {
        const std::string piece = model_.vocab.token_to_piece(id);
        return piece.size() > owed.size() && blank(piece[owed.size()]);
    });
    return out;
}

Status Engine::heal(std::vector<int32_t>* context, const std::string& owed, const GenerateLimits& limits,
                    const std::function<bool(int32_t)>& on_token, int* reason) {
    // One token at a time at the target, outside the speculation stack: the constraint changes which token is
    // "greedy", so drafts could not be judged by the plain argmax. These are one or two steps per request, and
    // every stack takes the same ones, so the stack's output stays the target's own.
    ModelLevel& target = stack_.target();
    *reason = 1;
    for (int32_t produced = 0; !owed.empty(); ++produced) {
        if (produced >= limits.max_new) return Status::ok();
        if (limits.cancel && limits.cancel->load(std::memory_order_relaxed)) {
            *reason = 2;
            return Status::ok();
        }
        if (Clock::now() >= limits.deadline) {
            *reason = 3;
            return Status::ok();
        }
        if (target.n_ctx() - target.n_past() - 1 < 0) {  // no position left after context->back()
            *reason = 4;
            return Status::ok();
        }
        int32_t token = -1;
        SPECQD_TRY(target.choose_among(context->back(), healing_candidates(owed), pool_.get(), &token));
        target.keep(static_cast<int32_t>(context->size()));
        context->push_back(token);
        if (!on_token(token)) {  // takes the token's text off `owed`
            *reason = 0;
            return Status::ok();
        }
    }
    return Status::ok();
}

Status Engine::evaluate(const std::vector<int32_t>& tokens, std::vector<PositionPrediction>* out,
                        const std::atomic<bool>* cancel) {
    std::lock_guard<std::mutex> lock(request_mutex_);
    // Its own cache and scratch (below), so an exception leaves nothing of the engine's half-written.
    return run_guarded("while evaluating", [&] { return evaluate_locked(tokens, out, cancel); });
}

Status Engine::evaluate_locked(const std::vector<int32_t>& tokens, std::vector<PositionPrediction>* out,
                               const std::atomic<bool>* cancel) {
    out->clear();
    const int32_t n = static_cast<int32_t>(tokens.size());
    if (n == 0) return Status::error("nothing to evaluate");
    if (n > n_ctx_) return Status::error(std::to_string(n) + " tokens do not fit the context length " + std::to_string(n_ctx_));
    // Its own cache and scratch: evaluation needs every position's logits and must not disturb the prompt cache.
    const ModelHparams& hp = model_.hparams;
    KvCache kv;
    SPECQD_TRY(kv.init(hp, n));
    ForwardScratch scratch;
    scratch.init(hp, kMaxBatch, n);
    std::vector<float> logits(static_cast<size_t>(kMaxBatch) * hp.n_vocab);
    for (int32_t i = 0; i < n; i += kMaxBatch) {
        if (cancel && cancel->load()) return Status::error("cancelled");
        const int32_t chunk = std::min(kMaxBatch, n - i);
        SPECQD_TRY(model_forward(hp, model_.weights, kv, scratch, pool_.get(), tokens.data() + i, chunk, LogitsFor::All,
                                 logits.data()));
        for (int32_t t = 0; t < chunk; ++t) {
            const float* row = logits.data() + static_cast<size_t>(t) * hp.n_vocab;
            PositionPrediction p;
            p.top1 = static_cast<int32_t>(argmax(row, hp.n_vocab));
            float second = -INFINITY;
            for (uint32_t v = 0; v < hp.n_vocab; ++v) {
                if (static_cast<int32_t>(v) != p.top1 && row[v] > second) second = row[v];
            }
            p.margin = row[p.top1] - second;
            out->push_back(p);
        }
    }
    return Status::ok();
}

EngineStats Engine::stats() const {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    return stats_;
}

}  // namespace specqd
