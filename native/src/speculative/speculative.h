// Multi-level speculative decoding (ML-SpecQD): a stack of levels where each level drafts tokens for the one above
// it, and the top level — the target — decides. A model level verifies a draft in one batched forward pass, keeps
// the longest prefix that matches its own greedy choices plus one token of its own, and rolls back the rest. A
// model level that drafts for the level above is itself accelerated the same way by the level below it.
//
// Exactness: a model level's output is exactly its own greedy output, because verification compares drafts with
// its argmax at each position and the kernels are batch-invariant (a position's logits do not depend on how many
// tokens were verified with it). So the target's output is token for token the target alone's, for every stack.
//
// Thread rules: a SpecStack is used by one request at a time (the engine serializes requests).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/model.h"

namespace specqd {

class ThreadPool;

// Counters of one level, per request and cumulative. For the target, `proposed`/`accepted` stay 0.
struct LevelStats {
    std::string name;           // "target", "mxfp4", "draft", "ngram"
    int64_t rounds = 0;         // drafts this level proposed
    int64_t proposed = 0;       // tokens proposed
    int64_t accepted = 0;       // of those, accepted by the level above
    int64_t branches = 0;       // runner-up tokens verified beside this level's drafts (DraftBranch)
    int64_t branches_kept = 0;  // of those, the level above's own choice where the draft was rejected
    double ms = 0;              // time spent in this level's own work (forward passes / lookup)
    double acceptance() const { return proposed > 0 ? static_cast<double>(accepted) / proposed : 0; }
    double mean_draft() const { return rounds > 0 ? static_cast<double>(proposed) / rounds : 0; }
    void add(const LevelStats& o) {
        rounds += o.rounds;
        proposed += o.proposed;
        accepted += o.accepted;
        branches += o.branches;
        branches_kept += o.branches_kept;
        ms += o.ms;
    }
};

// A second guess verified beside a draft: `token` in place of draft[at], the drafting level's runner-up there. The
// verifier runs it in the same pass as the draft (a branch row, model_forward), seeing what draft[at] sees. Where
// the verifier rejects draft[at] and chooses `token`, the branch is kept and its row's own choice comes free: one more
// token from the pass. On a CPU, verifying a few more rows costs next to nothing up to the kernels' tile size
// (bench/results: BF16 on 2 threads, 8 rows ~1.04x one), and the deep fixture draft's runner-up is the target's
// choice at 51% of the positions where its first choice is not (teacher-forced, torch). Measured end to end it did
// not pay on the development VM (CHANGELOG): the draft's chain already fills the rows below the tile size, past it a
// row costs a quarter of a step, and few branches were kept; so it is off by default (DraftControl::max_branches).
struct DraftBranch {
    int32_t at = 0;
    int32_t token = 0;
};

// One level of the stack.
class SpecLevel {
public:
    virtual ~SpecLevel() = default;
    virtual const std::string& name() const = 0;
    virtual bool is_model() const = 0;
    LevelStats stats;
};

// A model: the target, its MXFP4 copy, or a smaller model with the same tokenizer. Owns its KV cache.
class ModelLevel : public SpecLevel {
public:
    ModelLevel(std::string name, const ModelHparams* hp, const ModelWeights* weights);
    // share_with: the level above, when this level is the same network with other weights (the MXFP4 copy of the
    // target). Then this level reads that level's KV for every verified position and keeps only its own drafts'
    // KV: no second prefill, no second cache (model.h, KvCache). Null: a cache of its own.
    Status init(int32_t n_ctx, int32_t max_batch, ModelLevel* share_with = nullptr);
    bool shares_kv() const { return share_ != nullptr; }
    const ModelHparams* hparams() const { return hp_; }
    // Whether two networks have the same cache geometry (layers, KV heads, head size, positions), so one can read
    // the other's keys and values.
    static bool same_kv_geometry(const ModelHparams& a, const ModelHparams& b);
    const std::string& name() const override { return name_; }
    bool is_model() const override { return true; }

    // Makes the KV cache hold context[0 .. n-1) (everything but the last token), reusing the longest common prefix
    // with what it holds. Sets *n_reused to the positions kept.
    Status sync(const std::vector<int32_t>& context, ThreadPool* pool, int32_t* n_reused);
    // Runs [last] + draft at positions n_past.. and writes the argmax (and its probability, when `confidence` is
    // non-null) of each of the draft.size() + 1 rows. Appends them to the cache; call keep() after.
    // With `branches`, their rows follow the draft's (rows draft.size() + 1 ..., in order) and *top1 has one entry
    // per row; `runner_up`, when non-null, gets the second choice of each row up to the first that rejects the draft
    // (the rows whose tokens can be kept), -1 on the others and where a row has a single candidate.
    Status verify(int32_t last, const std::vector<int32_t>& draft, ThreadPool* pool, std::vector<int32_t>* top1,
                  std::vector<float>* confidence, const std::vector<DraftBranch>* branches = nullptr,
                  std::vector<int32_t>* runner_up = nullptr);
    // After verify(): the branch in batch row `row` replaces the draft token at `at`, in the cache too (its keys and
    // values move to the position). Call keep() after, as after any verify().
    void take_branch(int32_t at, int32_t row);
    // verify() without a draft, choosing among `allowed` (ascending ids) instead of the whole vocabulary: the
    // highest logit, the lowest id on ties. The constrained steps of token healing (engine.cpp). Fails when
    // `allowed` is empty.
    Status choose_among(int32_t last, const std::vector<int32_t>& allowed, ThreadPool* pool, int32_t* chosen);
    // Rolls the cache back to its first n positions.
    void keep(int32_t n);
    int32_t n_past() const { return kv_.n_past; }
    int32_t n_ctx() const { return kv_.n_ctx; }
    int32_t n_vocab() const { return static_cast<int32_t>(hp_->n_vocab); }
    // Forgets everything cached (after an error, the cache may hold a partial batch).
    void reset();
    // Tokens this level never chooses (their logits count as -inf): the control tokens that do not end generation,
    // such as FIM markers, which mean nothing inside a completion. Every level gets the same list, so verification
    // compares like with like and the stack stays exact.
    void suppress(const std::vector<int32_t>& ids);

    // A drafting level's head over part of the vocabulary: logits only for the ids below n_first and for `extra`
    // (ids at or above n_first, such as the end-of-generation tokens); every other token counts as -inf for this
    // level. On a large vocabulary the head is a large share of a draft pass (Qwen2.5-Coder-0.5B's MXFP4 copy: 28%
    // of the bytes read per token), and byte-level BPE ids are in merge order, roughly by frequency, so the tokens
    // code uses sit low (docs/draft-vocabulary.md measures it). The level's output is then its own greedy choice
    // among those tokens; the target still verifies everything, so the stack stays exact. Not for the target:
    // choose_among() refuses a limited head. n_first >= n_vocab restores the whole head.
    Status limit_head(int32_t n_first, const std::vector<int32_t>& extra);
    // Logits per row: n_vocab, or n_first + extra.size() under limit_head().
    int32_t head_size() const {
        return head_limited_ ? static_cast<int32_t>(head_first_.rows + head_extra_ids_.size()) : n_vocab();
    }

    // Measured cost of verifying k tokens in one pass (EWMA, ms), k = 1..kMaxVerify; 0 = not measured yet.
    static constexpr int32_t kMaxVerify = 17;
    double verify_ms[kMaxVerify + 1] = {};
    // verify_ms[rows], or while that size is not measured an estimate; 0 while nothing usable is measured.
    //   kInterpolate: a line between the nearest measured sizes (the nearest one where only one side is measured).
    //   kOptimistic: the largest measured size at or below `rows` — an underestimate for a size above every
    //   measured one, so that a longer draft looks worth trying once and then gets measured.
    enum class CostEstimate { kInterpolate, kOptimistic };
    double verify_cost(int32_t rows, CostEstimate estimate = CostEstimate::kInterpolate) const;

private:
    std::string name_;
    const ModelHparams* hp_;
    const ModelWeights* weights_;
    ModelLevel* share_ = nullptr;
    KvCache kv_;
    ForwardScratch scratch_;
    std::vector<int32_t> cached_;  // the tokens whose KV is in kv_ (size == kv_.n_past)
    int32_t verify_pos0_ = 0;      // the position of `last` in the latest verify()
    std::vector<float> logits_;
    std::vector<int32_t> suppressed_;
    // limit_head(): the head's first rows read in place, the extra rows copied into a matrix of their own, their
    // logits, and one row of both together (the first rows' logits, then the extra ones').
    bool head_limited_ = false;
    WeightView head_first_;
    std::vector<uint8_t> head_extra_bytes_;
    WeightView head_extra_;
    std::vector<int32_t> head_extra_ids_;
    std::vector<float> extra_logits_;
    std::vector<float> head_row_;
    // The row of logits r of the last verify() pass, over head_size() columns; column_id() maps a column to its id.
    float* logits_row(int32_t r);
    int32_t column_id(int64_t column) const;
    int64_t id_column(int32_t id) const;  // -1: the id has no column
};

// Prompt lookup: proposes the continuation of an earlier occurrence of the context's last n-gram (n from max_ngram
// down to min_ngram): the most recent one that has max_n tokens after it, else the one with the longest
// continuation. Nearly free; pays off where the middle repeats the prompt (the suffix, a signature) or itself.
class NgramLevel : public SpecLevel {
public:
    explicit NgramLevel(int32_t min_ngram = 2, int32_t max_ngram = 4) : min_(min_ngram), max_(max_ngram) {
        stats.name = name_;
    }
    const std::string& name() const override { return name_; }
    bool is_model() const override { return false; }
    void propose(const std::vector<int32_t>& context, int32_t max_n, std::vector<int32_t>* out) const;

private:
    std::string name_ = "ngram";
    int32_t min_, max_;
};

// Draft control of one level: how many tokens to draft, and the confidence under which a drafting model stops
// early. Chosen online from the measured acceptance of this level's drafts and the measured costs.
struct DraftControl {
    int32_t max_draft = 16;
    float stop_confidence = 0.4f;  // the paper's early-stop threshold: the prior until measurements say otherwise
    bool adaptive = true;
    int32_t fixed_draft = 8;       // when !adaptive (the paper's setting)
    int32_t max_branches = 0;      // DraftBranch rows beside the target's verification of a draft; 0: none
};

// What one more drafted token costs and what it can save, measured per level (ms).
struct DraftCosts {
    double alpha = 0;               // chance a drafted token is accepted given the ones before it were
    double draft_ms = 0;            // the drafting level's cost per proposed token
    double verify_step_ms = 0;      // the verifier's cost of one token on its own (what an accepted token saves)
    double verify_marginal_ms = 0;  // the verifier's extra cost per token added to its batch
};

// What the level above made of one level's drafts, across requests: the acceptance estimate draft control uses.
// Not the per-request LevelStats, which start over with every request: completions are short (often under 50
// tokens), and an estimate that started over each time would spend most of every request on its first guess.
// Older rounds fade by kDecay per round, so the estimate follows a change of file or language within a few dozen
// rounds.
struct AcceptanceHistory {
    static constexpr double kDecay = 0.98;
    double accepted = 0;  // tokens accepted (faded)
    double rejected = 0;  // drafts cut short by a token the level above disagreed with (faded)
    double proposed = 0;  // tokens proposed (faded)

    void record(int32_t n_proposed, int32_t n_accepted);
    // The chance a drafted token is accepted given the ones before it were: a draft is a run of independent trials
    // that ends at the first rejection, so the estimate is accepted / (accepted + rejected).
    double alpha() const;
};

// The early stop of a drafting model, learned: how often the level above accepted this level's tokens, by the
// confidence (probability of its own argmax) the level had in them. A fixed threshold (the paper's 0.4) is wrong for
// most pairs: the MXFP4 copy of a model is right far more often than its confidence says, a small draft model less.
// Only judged tokens count: those up to and including the first rejection of a draft.
struct ConfidenceCalibration {
    static constexpr int kBuckets = 10;          // confidence [0, 0.1), [0.1, 0.2), ... [0.9, 1]
    static constexpr int64_t kMinSamples = 16;   // fewer in a bucket: the prior threshold decides there
    int64_t judged[kBuckets] = {};
    int64_t accepted[kBuckets] = {};

    static int bucket(float confidence);
    void record(float confidence, bool was_accepted);
    // Whether to draft past a token this level gave `confidence`: the next token pays off only when this one and the
    // next are both accepted (measured chance for this bucket × alpha), and then saves the verifier one step of its
    // own; it costs the verifier's marginal cost for it, plus one more drafted token unless `next_computed` — the
    // drafting level already has the next token (its own verification pass checked a draft of the level below it
    // and kept it), so stopping would only throw it away.
    bool keep_drafting(float confidence, const DraftCosts& costs, float prior_threshold, bool next_computed) const;
    // The measured chance a token of this confidence is accepted, or the confidence itself while its bucket has
    // fewer than kMinSamples judged tokens.
    double acceptance(float confidence) const;
};

// How often a branch turned out to be the verifier's choice where the draft token it stood beside was rejected,
// across requests, faded like AcceptanceHistory. Starts from a prior (kPrior, worth kPriorWeight judged branches):
// before any evidence a branch is tried where it is cheap.
struct BranchHistory {
    static constexpr double kDecay = 0.98;
    static constexpr double kPrior = 0.4;
    static constexpr double kPriorWeight = 4;
    double judged = 0;
    double kept = 0;

    void record(bool was_kept);
    double hit_rate() const { return (kept + kPrior * kPriorWeight) / (judged + kPriorWeight); }
};

// Why a generation stopped, as decided by the caller's callback or the stack.
struct GenerateLimits {
    int32_t max_new = 0;
    const std::atomic<bool>* cancel = nullptr;
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

class SpecStack {
public:
    // levels[0] is the target; each later level drafts for the one before it.
    void add_level(std::unique_ptr<SpecLevel> level);
    size_t depth() const { return levels_.size(); }
    SpecLevel& level(size_t i) { return *levels_[i]; }
    const SpecLevel& level(size_t i) const { return *levels_[i]; }
    ModelLevel& target() { return static_cast<ModelLevel&>(*levels_[0]); }
    DraftControl control;

    const ConfidenceCalibration& calibration(size_t i) const { return calibration_[i]; }
    const AcceptanceHistory& acceptance_history(size_t i) const { return history_[i]; }
    const BranchHistory& branch_history() const { return branch_history_; }

    // Generates greedily at the target from `context` (the prompt; it grows with each accepted token). on_token is
    // called for every accepted token in order and returns false to stop. Returns why it stopped in *reason:
    // 0 = callback, 1 = max_new, 2 = cancelled, 3 = deadline, 4 = context full.
    Status generate(std::vector<int32_t>& context, const GenerateLimits& limits, ThreadPool* pool,
                    const std::function<bool(int32_t)>& on_token, int* reason);

    // Clears the per-request counters of every level; what draft control has learned (acceptance, confidence
    // calibration, measured costs) stays.
    void reset_stats();

private:
    // Level i's greedy continuation of `context`, up to max_new tokens, accelerated by level i + 1. For a drafting
    // level (i > 0), stops early under the confidence threshold. Appends to `out`.
    Status run_level(size_t i, std::vector<int32_t>& context, int32_t max_new, const GenerateLimits& limits,
                     ThreadPool* pool, const std::function<bool(int32_t)>& on_token, int* reason);
    // Tokens level i proposes to continue `context` (level i drafts for level i - 1).
    Status propose(size_t i, const std::vector<int32_t>& context, int32_t max_n, const GenerateLimits& limits,
                   ThreadPool* pool, std::vector<int32_t>* out);
    int32_t choose_draft_length(size_t drafter) const;
    DraftCosts draft_costs(size_t drafter) const;
    // Whether drafting level i goes on after a token it gave `confidence` (next_computed: see ConfidenceCalibration).
    bool keep_drafting(size_t drafter, float confidence, bool next_computed) const;
    // The branches worth verifying beside the target's draft (room: rows the cache has left for them): by expected
    // tokens gained — the chance the chain reaches the position and is rejected there, times the branch hit rate,
    // times the target's cost of a step — against the measured cost of one more row in the pass.
    void choose_branches(const std::vector<int32_t>& draft, int32_t room, std::vector<DraftBranch>* out) const;

    std::vector<std::unique_ptr<SpecLevel>> levels_;
    // Per drafting level: measured cost per proposed token (EWMA, ms).
    std::vector<double> draft_ms_per_token_;
    // Per drafting level: its acceptance by the level above, across requests.
    std::vector<AcceptanceHistory> history_;
    // Per drafting model level: its acceptance by confidence, and the confidences of its latest proposal (one per
    // proposed token, in order) until the level above has judged them.
    std::vector<ConfidenceCalibration> calibration_;
    std::vector<std::vector<float>> proposal_confidence_;
    // The runner-up token of each token the level under the target proposed (DraftBranch), in step with its
    // proposal_confidence_.
    std::vector<int32_t> proposal_runner_up_;
    BranchHistory branch_history_;
};

}  // namespace specqd
