// Engine: a loaded model and everything one completion needs — KV cache with prompt-prefix reuse, scratch buffers,
// the thread pool — behind a small API the binding and the native tools call.
//
// Thread rules: complete() may be called from any thread, but calls are serialized (one request runs at a time, on
// the calling thread plus the engine's pool). stats() may be called concurrently with complete(). Cancellation:
// set the request's `cancel` flag from any thread; it is checked between forward passes, so a cancelled request
// returns within one pass. Nothing here throws or exits: running out of memory (at load: KV caches, scratch, the
// MXFP4 copy) is a failed Status saying so, and the engine stays usable, or a later load starts afresh.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kernels/thread-pool.h"
#include "model/model.h"
#include "speculative/speculative.h"

namespace specqd {

struct EngineOptions {
    std::string target;          // path of the target model (GGUF)
    std::string draft;           // optional: a smaller model with the same tokenizer (GGUF)
    // The speculation stack, top first: "target", then any of "mxfp4", "draft", "ngram" in the order they draft
    // for each other. Empty: just the target.
    std::vector<std::string> levels;
    bool adaptive_drafts = true; // tune draft lengths online; false: the paper's fixed 8
    // The most tokens a level drafts per round (1..kMaxDraft): the online control chooses up to it; the fixed
    // setting drafts min(8, max_draft).
    int32_t max_draft = kMaxDraft;
    static constexpr int32_t kMaxDraft = 16;
    // The most runner-up tokens of the level under the target verified beside its draft (speculative.h,
    // DraftBranch), 0..kMaxBranches; the online control chooses up to it. Off by default: on the development VM
    // they did not pay (CHANGELOG).
    int32_t max_branches = 0;
    static constexpr int32_t kMaxBranches = 8;
    // A level that is the same network as the level above (the MXFP4 copy) reads that level's KV cache instead of
    // keeping its own (speculative.h). false: every level keeps a full cache of its own.
    bool share_kv = true;
    int32_t threads = 0;         // 0: one per core, at most 8
    int32_t context_length = 0;  // 0: the model's training context, at most 4096
    // Weights of the "mxfp4" level: "auto" casts the target's projections (and head, unless mxfp4_keep_head) to
    // MXFP4 in memory at load time; a path loads an MXFP4 GGUF of the same network (e.g. from `specqd quantize`);
    // "off" refuses the level. Only read when levels contains "mxfp4".
    std::string mxfp4 = "auto";
    bool mxfp4_keep_head = false;
    // Drafting model levels compute logits only for token ids below this, plus the end-of-generation tokens
    // (ModelLevel::limit_head); 0 = the whole vocabulary. 100000: measured on code in Qwen2.5's tokenizer, ids at or
    // above it are 0.005-0.3% of the tokens (docs/draft-vocabulary.md), and the head rows past it are a third of a
    // 151,936-token head. A vocabulary no larger is unaffected.
    int32_t draft_vocab = kDefaultDraftVocab;
    static constexpr int32_t kDefaultDraftVocab = 100000;
    // Read the model files' weights in place from a memory map instead of copying them into memory on huge pages
    // (base/mapped-file.h): less memory when several processes load the same files, slower decode.
    bool map_weights = false;
};

struct CompletionRequest {
    // Either a plain prompt, or fill-in-the-middle (prefix + suffix) when `fim` is set. A FIM prompt longer than
    // the context keeps the tokens nearest the cursor; a plain prompt longer than the context is refused.
    std::string prompt;
    bool fim = false;
    std::string prefix;
    std::string suffix;
    int32_t max_tokens = 128;
    // Token healing: back off the prompt's last token (of the prefix, for FIM) and let the model choose how its
    // text goes on, among the tokens that begin with that text or that it begins with. A prompt cut at a cursor
    // (mid-word, right after indentation, after "return ") ends in a token the model rarely saw at that place —
    // a lone "    " where the text it learned has "   " + " return" — and a model steered by it writes worse, or
    // stops. The backed-off text is already in the document: it is not part of `text`, though the tokens that
    // re-typed it are in `tokens` and count as generated (and against max_tokens).
    bool heal = false;
    std::vector<std::string> stop;          // stop strings: the text ends before the first one found
    double time_budget_ms = 0;              // 0: none; else stop generating once this much time has passed
    const std::atomic<bool>* cancel = nullptr;
};

// Why generation ended.
enum class StopReason { EndOfGeneration, MaxTokens, StopString, Cancelled, TimeBudget, ContextFull };
const char* stop_reason_name(StopReason r);

struct CompletionStats {
    int32_t n_prompt = 0;      // prompt tokens
    int32_t n_reused = 0;      // prompt tokens whose KV was reused from the previous request
    int32_t n_generated = 0;   // tokens generated (including a final end-of-generation token)
    double prefill_ms = 0;     // computing the prompt's new tokens
    double decode_ms = 0;      // generating
    double total_ms = 0;
    std::vector<LevelStats> levels;  // per speculation level, top (target) first
    double prefill_tokens_per_s() const { return prefill_ms > 0 ? (n_prompt - n_reused) * 1000.0 / prefill_ms : 0; }
    double decode_tokens_per_s() const { return decode_ms > 0 ? n_generated * 1000.0 / decode_ms : 0; }
};

struct CompletionResult {
    std::string text;                   // the generated text (stop string and end-of-generation token excluded)
    std::vector<int32_t> prompt_tokens;
    std::vector<int32_t> tokens;        // generated token ids, as sampled (end-of-generation token included)
    StopReason stop_reason = StopReason::MaxTokens;
    CompletionStats stats;
};

// Cumulative figures since load.
struct EngineStats {
    int64_t n_requests = 0;
    int64_t n_cancelled = 0;
    int64_t n_prompt = 0, n_reused = 0, n_generated = 0;
    double prefill_ms = 0, decode_ms = 0;
    std::vector<LevelStats> levels;
    CompletionStats last;
};

// What the model predicts after a position, under teacher forcing.
struct PositionPrediction {
    int32_t top1 = 0;     // argmax of the logits (lowest id on ties)
    float margin = 0;     // logit of top1 minus the second-highest logit
};

class Engine {
public:
    static Status load(const EngineOptions& options, std::unique_ptr<Engine>* out);

    Status complete(const CompletionRequest& request, CompletionResult* result);
    EngineStats stats() const;

    // Teacher forcing: runs `tokens` through the model from position 0 and returns, for every position i, the
    // prediction for position i + 1. Used by parity tests and agreement measurements. Resets the prompt cache.
    Status evaluate(const std::vector<int32_t>& tokens, std::vector<PositionPrediction>* out,
                    const std::atomic<bool>* cancel = nullptr);

    const Model& model() const { return model_; }
    int32_t context_length() const { return n_ctx_; }
    std::vector<std::string> level_names() const;
    int32_t threads() const { return pool_ ? pool_->n_threads() : 1; }

    // The tokens a request's prompt becomes (BOS, FIM markers per the model's tokenizer). A FIM prompt is fitted
    // to the context (fit_fim_to_context); a plain prompt that does not fit is refused. With request.heal, the last
    // token of the prompt text is left out and its text goes to *healed (empty when nothing was backed off).
    Status build_prompt(const CompletionRequest& request, std::vector<int32_t>* tokens, std::string* healed) const;
    // The tokens token healing may choose next while `owed` (the backed-off text not yet re-typed) remains:
    // Vocab::tokens_beginning(owed), less the tokens that would add blanks to blanks. When `owed` is only spaces
    // and tabs (the cursor sits after indentation, or after a space), a token that re-types it and goes on with
    // another space or tab ("        " where "    " was typed) would indent the completion deeper than the user
    // did; the fixture model picked such tokens at a third of the after-indentation cursors. A token that goes on
    // with anything else ("    return"), or stops inside `owed`, stays.
    std::vector<int32_t> healing_candidates(std::string_view owed) const;
    // Drops the prefix's first and the suffix's last tokens until both fit the context with room for the
    // completion: the tokens nearest the cursor stay.
    void fit_fim_to_context(int32_t max_tokens, std::vector<int32_t>* prefix, std::vector<int32_t>* suffix) const;

    // Milliseconds load() spent building the in-memory MXFP4 copy (0 without an "mxfp4" level or with a file).
    double mxfp4_build_ms() const { return mxfp4_model_ ? 0 : mxfp4_build_ms_; }

private:
    Engine() = default;
    Status build_stack(const EngineOptions& options);
    Status build_mxfp4_weights(const EngineOptions& options);
    // complete() and evaluate() without the exception guard, under request_mutex_.
    Status complete_locked(const CompletionRequest& request, CompletionResult* result);
    Status evaluate_locked(const std::vector<int32_t>& tokens, std::vector<PositionPrediction>* out,
                           const std::atomic<bool>* cancel);
    // Token healing (CompletionRequest::heal): the target alone generates, each token the best of those that agree
    // with `owed`, until on_token has taken all of `owed` off (it must: the loop ends when `owed` is empty). Stops
    // as SpecStack::generate does; *reason 1 means the budget is not spent and generation goes on.
    Status heal(std::vector<int32_t>* context, const std::string& owed, const GenerateLimits& limits,
                const std::function<bool(int32_t)>& on_token, int* reason);
    // Drops every level's KV cache (the next request prefills from scratch).
    void forget_caches();
    // Fails when a model file was truncated or overwritten under the engine (see base/mapped-file.h).
    Status check_files() const;

    Model model_;
    std::unique_ptr<Model> draft_model_;
    ModelWeights mxfp4_weights_;           // the "mxfp4" level's weights (cast in memory, or views into mxfp4_model_)
    std::unique_ptr<Model> mxfp4_model_;   // the MXFP4 file, when one was given
    double mxfp4_build_ms_ = 0;            // load-time cost of the in-memory cast
    std::unique_ptr<ThreadPool> pool_;
    int32_t n_ctx_ = 0;
    SpecStack stack_;  // level 0 is the target and owns the prompt's KV cache
    std::mutex request_mutex_;
    mutable std::mutex stats_mutex_;
    EngineStats stats_;
};

}  // namespace specqd
