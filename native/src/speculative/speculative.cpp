#include "speculative/speculative.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/ops.h"

namespace specqd {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// The column of the highest logit strictly below `best` (the lowest such column on ties), or -1. Strictly below: a
// token tied with the first choice is no second opinion (in the benchmark's padded vocabularies it is a copy of the
// first choice's row, which the target, taking the lowest id on ties, never chooses). Two plain passes the compiler
// vectorizes, ~10 us on 100,000 logits; masking and re-running argmax would loop once per tied copy.
int64_t runner_up_column(const float* row, int64_t n, float best) {
    float second = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) second = row[i] < best && row[i] > second ? row[i] : second;
    if (!std::isfinite(second)) return -1;
    for (int64_t i = 0; i < n; ++i) {
        if (row[i] == second) return i;
    }
    return -1;
}

}  // namespace

// ---- ModelLevel ----

ModelLevel::ModelLevel(std::string name, const ModelHparams* hp, const ModelWeights* weights)
    : name_(std::move(name)), hp_(hp), weights_(weights) {
    stats.name = name_;
}

bool ModelLevel::same_kv_geometry(const ModelHparams& a, const ModelHparams& b) {
    return a.n_layer == b.n_layer && a.n_head_kv == b.n_head_kv && a.head_dim == b.head_dim && a.n_rot == b.n_rot &&
           a.rope_style == b.rope_style && a.rope_freq_base == b.rope_freq_base;
}

Status ModelLevel::init(int32_t n_ctx, int32_t max_batch, ModelLevel* share_with) {
    share_ = share_with;
    if (share_ && !same_kv_geometry(*hp_, *share_->hp_)) {
        return Status::error("level \"" + name_ + "\" cannot share the KV cache of \"" + share_->name_ +
                             "\": the networks differ in shape");
    }
    // The level's memory, all allocated here: the KV cache (a sharing level stores only its unverified drafts, a
    // verification batch or two), the scratch of one forward pass, and a batch of logits.
    const std::string what = "for the KV cache and buffers of level \"" + name_ + "\" at a context of " +
                             std::to_string(n_ctx) + " tokens; lower the context length";
    return run_guarded(what, [&] {
        // The cache's huge-page buffers report a failed allocation as a status, not as bad_alloc.
        const Status kv = kv_.init(*hp_, n_ctx, share_ ? 2 * max_batch : 0);
        if (!kv.is_ok()) {
            return Status::error("out of memory for the KV cache of level \"" + name_ + "\" at a context of " +
                                 std::to_string(n_ctx) + " tokens (" + kv.message() + "); lower the context length");
        }
        scratch_.init(*hp_, max_batch, n_ctx);
        logits_.assign(static_cast<size_t>(max_batch) * hp_->n_vocab, 0.0f);
        cached_.clear();
        return Status::ok();
    });
}

void ModelLevel::reset() {
    kv_.rollback(0);
    cached_.clear();
}

void ModelLevel::suppress(const std::vector<int32_t>& ids) {
    suppressed_.clear();
    for (int32_t id : ids) {
        if (id >= 0 && id < n_vocab()) suppressed_.push_back(id);
    }
}

Status ModelLevel::limit_head(int32_t n_first, const std::vector<int32_t>& extra) {
    const WeightView& output = weights_->output;
    if (n_first >= n_vocab()) {  // no limit: the whole head, and nothing kept for a limited one
        head_limited_ = false;
        std::vector<uint8_t>().swap(head_extra_bytes_);
        std::vector<int32_t>().swap(head_extra_ids_);
        std::vector<float>().swap(extra_logits_);
        std::vector<float>().swap(head_row_);
        return Status::ok();
    }
    if (n_first <= 0) return Status::error("a drafting level's head needs at least one token");
    std::vector<int32_t> ids;
    for (int32_t id : extra) {
        if (id >= n_first && id < n_vocab()) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    const int64_t row_bytes = output.row_bytes();
    if (row_bytes <= 0) return Status::error("the output head's weight type has no row layout");
    return run_guarded("for the head of level \"" + name_ + "\"", [&] {
        head_extra_bytes_.assign(ids.size() * static_cast<size_t>(row_bytes), 0);
        for (size_t j = 0; j < ids.size(); ++j) {
            std::memcpy(head_extra_bytes_.data() + j * row_bytes, output.row(ids[j]), static_cast<size_t>(row_bytes));
        }
        head_first_ = output;  // copies of the view keep its layout (the rows are whole rows either way)
        head_first_.rows = n_first;
        head_extra_ = output;
        head_extra_.data = head_extra_bytes_.data();
        head_extra_.rows = static_cast<int64_t>(ids.size());
        head_extra_ids_ = std::move(ids);
        extra_logits_.assign(static_cast<size_t>(scratch_.max_tokens) * head_extra_ids_.size(), 0.0f);
        head_row_.assign(static_cast<size_t>(n_first) + head_extra_ids_.size(), 0.0f);
        head_limited_ = true;
        return Status::ok();
    });
}

float* ModelLevel::logits_row(int32_t r) {
    if (!head_limited_) return logits_.data() + static_cast<size_t>(r) * n_vocab();
    const size_t n_first = static_cast<size_t>(head_first_.rows);
    const size_t n_extra = head_extra_ids_.size();
    std::copy_n(logits_.data() + r * n_first, n_first, head_row_.data());
    std::copy_n(extra_logits_.data() + r * n_extra, n_extra, head_row_.data() + n_first);
    return head_row_.data();
}

int32_t ModelLevel::column_id(int64_t column) const {
    if (!head_limited_ || column < head_first_.rows) return static_cast<int32_t>(column);
    return head_extra_ids_[static_cast<size_t>(column - head_first_.rows)];
}

int64_t ModelLevel::id_column(int32_t id) const {
    if (!head_limited_ || id < head_first_.rows) return id;
    const auto it = std::lower_bound(head_extra_ids_.begin(), head_extra_ids_.end(), id);
    if (it == head_extra_ids_.end() || *it != id) return -1;
    return head_first_.rows + (it - head_extra_ids_.begin());
}

void ModelLevel::keep(int32_t n) {
    if (n < kv_.n_past) {
        kv_.rollback(n);
        cached_.resize(static_cast<size_t>(n));
    }
}

Status ModelLevel::sync(const std::vector<int32_t>& context, ThreadPool* pool, int32_t* n_reused) {
    const int32_t want = static_cast<int32_t>(context.size()) - 1;  // everything but the last token
    if (want < 0) return Status::error("empty context");
    if (want + 1 > kv_.n_ctx) return Status::error("the context does not fit the KV cache");
    int32_t common = 0;
    if (share_) {
        // Read the verified context from the level above; recompute only what it lacks (normally nothing: a level
        // drafts right after the one above has verified everything but the last token).
        const std::vector<int32_t>& above = share_->cached_;
        const int32_t n_above = std::min<int32_t>(static_cast<int32_t>(above.size()), share_->kv_.n_past);
        while (common < n_above && common < want && above[common] == context[common]) ++common;
        kv_.shared = &share_->kv_;
        kv_.n_shared = common;
        kv_.n_past = common;
        cached_.assign(context.begin(), context.begin() + common);
    } else {
        const int32_t n_cached = static_cast<int32_t>(cached_.size());
        while (common < n_cached && common < want && cached_[common] == context[common]) ++common;
        keep(common);
    }
    *n_reused = common;
    const int32_t chunk_max = scratch_.max_tokens;
    for (int32_t at = common; at < want; at += chunk_max) {
        const int32_t chunk = std::min(chunk_max, want - at);
        const Status st = model_forward(*hp_, *weights_, kv_, scratch_, pool, context.data() + at, chunk,
                                        LogitsFor::None, nullptr);
        if (!st) {
            reset();
            return st;
        }
        cached_.insert(cached_.end(), context.begin() + at, context.begin() + at + chunk);
    }
    return Status::ok();
}

Status ModelLevel::verify(int32_t last, const std::vector<int32_t>& draft, ThreadPool* pool, std::vector<int32_t>* top1,
                          std::vector<float>* confidence, const std::vector<DraftBranch>* branches,
                          std::vector<int32_t>* runner_up) {
    const int32_t n_chain = static_cast<int32_t>(draft.size()) + 1;
    const int32_t n = n_chain + (branches ? static_cast<int32_t>(branches->size()) : 0);
    if (n > scratch_.max_tokens) return Status::error("draft longer than the verification batch");
    std::vector<int32_t> batch, positions;
    batch.reserve(n);
    batch.push_back(last);
    batch.insert(batch.end(), draft.begin(), draft.end());
    verify_pos0_ = kv_.n_past;
    if (n > n_chain) {
        for (int32_t r = 0; r < n_chain; ++r) positions.push_back(verify_pos0_ + r);
        for (const DraftBranch& b : *branches) {
            if (b.at < 0 || b.at >= n_chain - 1) return Status::error("a branch stands beside no drafted token");
            batch.push_back(b.token);
            positions.push_back(verify_pos0_ + 1 + b.at);
        }
    }
    const auto t0 = Clock::now();
    const Status st = model_forward(*hp_, *weights_, kv_, scratch_, pool, batch.data(), n, LogitsFor::All,
                                    logits_.data(), head_limited_ ? &head_first_ : nullptr,
                                    positions.empty() ? nullptr : positions.data());
    if (!st) {
        reset();
        return st;
    }
    // The extra rows of a limited head, applied to the normalized hidden states model_forward() left in scratch.
    if (head_limited_) matmul(pool, head_extra_, scratch_.xn.data(), n, extra_logits_.data());
    cached_.insert(cached_.end(), batch.begin(), batch.end());
    top1->resize(n);
    if (confidence) confidence->resize(n);
    if (runner_up) runner_up->resize(n);
    const int32_t nv = head_size();
    bool on_chain = true;  // rows up to the first that rejects the draft: the ones whose tokens a caller can keep
    for (int32_t r = 0; r < n; ++r) {
        float* row = logits_row(r);
        for (int32_t id : suppressed_) {
            const int64_t column = id_column(id);
            if (column >= 0) row[column] = -std::numeric_limits<float>::infinity();
        }
        const int64_t best = argmax(row, nv);
        (*top1)[r] = column_id(best);
        if (runner_up) {
            // A pass over the row (~10 us on 100,000 logits, a few % of a small draft model's step): only where
            // the row's token can be kept.
            const int64_t second = on_chain ? runner_up_column(row, nv, row[best]) : -1;
            (*runner_up)[r] = second >= 0 ? column_id(second) : -1;
        }
        on_chain = on_chain && r < n_chain - 1 && draft[static_cast<size_t>(r)] == (*top1)[r];
        if (confidence) {
            // The level's confidence in its own token: its probability under the softmax of the row (the row is
            // not read again, so the vectorized kernel may overwrite it; a scalar pass in double cost ~1 ms per
            // token on a 152k vocabulary, a tenth of an MXFP4 draft pass).
            softmax(row, nv);
            (*confidence)[r] = row[best];
        }
    }
    const double ms = ms_since(t0);
    stats.ms += ms;
    if (n <= kMaxVerify) verify_ms[n] = verify_ms[n] == 0 ? ms : 0.8 * verify_ms[n] + 0.2 * ms;
    return Status::ok();
}

void ModelLevel::take_branch(int32_t at, int32_t row) {
    const int32_t to = verify_pos0_ + 1 + at, from = verify_pos0_ + row;
    kv_.move_position(from, to);
    cached_[static_cast<size_t>(to)] = cached_[static_cast<size_t>(from)];
}

double ModelLevel::verify_cost(int32_t rows, CostEstimate estimate) const {
    if (rows < 1 || rows > kMaxVerify) return 0;
    if (verify_ms[rows] > 0) return verify_ms[rows];
    int32_t below = rows - 1, above = rows + 1;
    while (below >= 1 && verify_ms[below] <= 0) --below;
    if (estimate == CostEstimate::kOptimistic) return below >= 1 ? verify_ms[below] : 0;
    while (above <= kMaxVerify && verify_ms[above] <= 0) ++above;
    const bool has_below = below >= 1, has_above = above <= kMaxVerify;
    if (has_below && has_above) {
        return verify_ms[below] + (verify_ms[above] - verify_ms[below]) * (rows - below) / (above - below);
    }
    return has_below ? verify_ms[below] : has_above ? verify_ms[above] : 0;
}

Status ModelLevel::choose_among(int32_t last, const std::vector<int32_t>& allowed, ThreadPool* pool,
                                int32_t* chosen) {
    if (allowed.empty()) return Status::error("no token may come next");
    if (head_limited_) {
        return Status::error("level \"" + name_ + "\" has a limited head and cannot choose among tokens");
    }
    std::vector<int32_t> top1;
    SPECQD_TRY(verify(last, {}, pool, &top1, nullptr));
    const float* row = logits_.data();  // verify() left the row as computed (suppressed tokens at -inf)
    int32_t best = -1;
    for (int32_t id : allowed) {
        if (id < 0 || id >= n_vocab()) continue;
        if (best < 0 || row[id] > row[best]) best = id;
    }
    if (best < 0) return Status::error("no token may come next");
    *chosen = best;
    return Status::ok();
}

// ---- NgramLevel ----

void NgramLevel::propose(const std::vector<int32_t>& context, int32_t max_n, std::vector<int32_t>* out) const {
    out->clear();
    const int32_t n = static_cast<int32_t>(context.size());
    for (int32_t g = std::min(max_, n - 1); g >= min_; --g) {
        const int32_t* pattern = context.data() + n - g;
        // Recent occurrences first: their continuation is the likeliest to repeat. An occurrence overlapping the
        // end (a run like "a a a") has only a short continuation, so keep looking for a full one.
        int32_t best_from = -1, best_len = 0;
        for (int32_t i = n - g - 1; i >= 0 && best_len < max_n; --i) {
            if (!std::equal(pattern, pattern + g, context.data() + i)) continue;
            const int32_t len = std::min(max_n, n - (i + g));
            if (len > best_len) {
                best_len = len;
                best_from = i + g;
            }
        }
        if (best_from >= 0) {
            out->assign(context.begin() + best_from, context.begin() + best_from + best_len);
            return;
        }
    }
}

// ---- AcceptanceHistory ----

void AcceptanceHistory::record(int32_t n_proposed, int32_t n_accepted) {
    accepted = kDecay * accepted + n_accepted;
    rejected = kDecay * rejected + (n_accepted < n_proposed ? 1 : 0);
    proposed = kDecay * proposed + n_proposed;
}

double AcceptanceHistory::alpha() const {
    // Capped below 1: a level that has never been rejected would otherwise be asked for unbounded drafts.
    return std::clamp(accepted / (accepted + rejected + 1e-9), 0.0, 0.995);
}

// ---- BranchHistory ----

void BranchHistory::record(bool was_kept) {
    judged = kDecay * judged + 1;
    kept = kDecay * kept + (was_kept ? 1 : 0);
}

// ---- ConfidenceCalibration ----

int ConfidenceCalibration::bucket(float confidence) {
    // A softmax probability is in (0, 1], but logits holding NaN or Inf (a model file with such weights) make it NaN,
    // and converting NaN to int is undefined: it counts as no confidence at all.
    if (!(confidence > 0.0f)) return 0;
    return std::min(static_cast<int>(std::min(confidence, 1.0f) * kBuckets), kBuckets - 1);
}

void ConfidenceCalibration::record(float confidence, bool was_accepted) {
    const int b = bucket(confidence);
    judged[b] += 1;
    accepted[b] += was_accepted ? 1 : 0;
}

double ConfidenceCalibration::acceptance(float confidence) const {
    const int b = bucket(confidence);
    if (judged[b] < kMinSamples) return std::isfinite(confidence) ? std::clamp(confidence, 0.0f, 1.0f) : 0.0;
    return static_cast<double>(accepted[b]) / static_cast<double>(judged[b]);
}

bool ConfidenceCalibration::keep_drafting(float confidence, const DraftCosts& costs, float prior_threshold,
                                          bool next_computed) const {
    const int b = bucket(confidence);
    if (judged[b] < kMinSamples || costs.verify_step_ms <= 0) return confidence >= prior_threshold;
    const double p_this = static_cast<double>(accepted[b]) / static_cast<double>(judged[b]);
    const double cost = (next_computed ? 0.0 : costs.draft_ms) + costs.verify_marginal_ms;
    return p_this * costs.alpha * costs.verify_step_ms > cost;
}

// ---- SpecStack ----

void SpecStack::add_level(std::unique_ptr<SpecLevel> level) {
    levels_.push_back(std::move(level));
    draft_ms_per_token_.push_back(0);
    history_.emplace_back();
    calibration_.emplace_back();
    proposal_confidence_.emplace_back();
}

DraftCosts SpecStack::draft_costs(size_t drafter) const {
    DraftCosts c;
    c.alpha = history_[drafter].alpha();
    c.draft_ms = draft_ms_per_token_[drafter];
    const auto& verifier = static_cast<const ModelLevel&>(*levels_[drafter - 1]);
    // One token on its own: measured, else the smallest measured batch (an overestimate, which only makes drafting
    // look more worthwhile until the single-token cost is seen).
    int32_t smallest = 0, largest = 0;
    for (int32_t k = 1; k <= ModelLevel::kMaxVerify; ++k) {
        if (verifier.verify_ms[k] <= 0) continue;
        if (smallest == 0) smallest = k;
        largest = k;
    }
    if (smallest == 0) return c;  // nothing measured yet: verify_step_ms 0 leaves the decision to the prior
    c.verify_step_ms = verifier.verify_ms[smallest];
    if (largest > smallest) {
        c.verify_marginal_ms =
            std::max(0.0, (verifier.verify_ms[largest] - verifier.verify_ms[smallest]) / (largest - smallest));
    }
    return c;
}

bool SpecStack::keep_drafting(size_t drafter, float confidence, bool next_computed) const {
    if (!control.adaptive) return confidence >= control.stop_confidence;
    return calibration_[drafter].keep_drafting(confidence, draft_costs(drafter), control.stop_confidence,
                                               next_computed);
}

void SpecStack::choose_branches(const std::vector<int32_t>& draft, int32_t room, std::vector<DraftBranch>* out) const {
    out->clear();
    const size_t n_draft = draft.size();
    if (control.max_branches <= 0 || proposal_runner_up_.size() != n_draft ||
        proposal_confidence_[1].size() != n_draft) {
        return;  // no runner-ups: the level under the target is prompt lookup, or branches are off
    }
    const auto& target = static_cast<const ModelLevel&>(*levels_[0]);
    const double step_ms = draft_costs(1).verify_step_ms;
    if (step_ms <= 0) return;  // the target's cost of a step is not measured yet
    // Expected tokens gained per branch position: the chance the chain gets there (every drafted token before it
    // accepted), the chance it is rejected there, the chance the runner-up is then the target's choice.
    const ConfidenceCalibration& calibration = calibration_[1];
    const double hit = branch_history_.hit_rate();
    std::vector<std::pair<double, int32_t>> gains;
    double reach = 1;
    for (size_t a = 0; a < n_draft; ++a) {
        const double accept = calibration.acceptance(proposal_confidence_[1][a]);
        if (proposal_runner_up_[a] >= 0 && proposal_runner_up_[a] != draft[a]) {
            gains.emplace_back(reach * (1 - accept) * hit, static_cast<int32_t>(a));
        }
        reach *= accept;
    }
    std::stable_sort(gains.begin(), gains.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    // Each row added costs what a pass of one more row costs (verify_cost(): measured, or between measured sizes).
    int32_t rows = static_cast<int32_t>(n_draft) + 1;
    for (const auto& [gain, at] : gains) {
        if (static_cast<int32_t>(out->size()) >= control.max_branches || out->size() >= static_cast<size_t>(room) ||
            rows + 1 > ModelLevel::kMaxVerify) {
            break;
        }
        const double row_ms = std::max(0.0, target.verify_cost(rows + 1) - target.verify_cost(rows));
        if (gain * step_ms <= row_ms) break;
        out->push_back({at, proposal_runner_up_[static_cast<size_t>(at)]});
        ++rows;
    }
}

void SpecStack::reset_stats() {
    for (auto& l : levels_) {
        const std::string name = l->stats.name;
        l->stats = LevelStats();
        l->stats.name = name;
    }
}

int32_t SpecStack::choose_draft_length(size_t drafter) const {
    if (!control.adaptive) return control.fixed_draft;
    if (history_[drafter].proposed < 8) return std::min(4, control.max_draft);  // too little evidence: a moderate draft
    // Per-token acceptance in the geometric model: each drafted token is accepted with probability alpha, given
    // the ones before it were; a round ends at the first rejection.
    const DraftCosts costs = draft_costs(drafter);
    const double alpha = costs.alpha;
    const auto& verifier = static_cast<const ModelLevel&>(*levels_[drafter - 1]);
    const double t_draft = costs.draft_ms;
    double best_rate = 0;
    int32_t best_k = 1;
    for (int32_t k = 1; k <= std::min(control.max_draft, ModelLevel::kMaxVerify - 1); ++k) {
        // Optimistic about unmeasured sizes, so that longer drafts get tried and measured.
        const double known = verifier.verify_cost(k + 1, ModelLevel::CostEstimate::kOptimistic);
        const double t_verify = known > 0 ? known : 1.0;
        const double expected_tokens = (1.0 - std::pow(alpha, k + 1)) / (1.0 - alpha);
        const double rate = expected_tokens / (k * t_draft + t_verify);
        if (rate > best_rate * 1.0001) {
            best_rate = rate;
            best_k = k;
        }
    }
    return best_k;
}

Status SpecStack::propose(size_t i, const std::vector<int32_t>& context, int32_t max_n, const GenerateLimits& limits,
                          ThreadPool* pool, std::vector<int32_t>* out) {
    out->clear();
    SpecLevel& level = *levels_[i];
    const auto t0 = Clock::now();
    proposal_confidence_[i].clear();
    if (i == 1) proposal_runner_up_.clear();
    if (!level.is_model()) {
        static_cast<NgramLevel&>(level).propose(context, max_n, out);
        level.stats.ms += ms_since(t0);
    } else {
        std::vector<int32_t> local = context;
        GenerateLimits sub = limits;
        sub.max_new = max_n;
        int reason = 0;
        SPECQD_TRY(run_level(i, local, max_n, sub, pool, [out](int32_t t) {
            out->push_back(t);
            return true;
        }, &reason));
    }
    if (!out->empty()) {
        level.stats.rounds += 1;
        level.stats.proposed += static_cast<int64_t>(out->size());
        const double per_token = ms_since(t0) / static_cast<double>(out->size());
        double& ewma = draft_ms_per_token_[i];
        ewma = ewma == 0 ? per_token : 0.8 * ewma + 0.2 * per_token;
    }
    return Status::ok();
}

Status SpecStack::run_level(size_t i, std::vector<int32_t>& context, int32_t max_new, const GenerateLimits& limits,
                            ThreadPool* pool, const std::function<bool(int32_t)>& on_token, int* reason) {
    auto& model = static_cast<ModelLevel&>(*levels_[i]);
    int32_t reused = 0;
    SPECQD_TRY(model.sync(context, pool, &reused));
    const bool drafting = i > 0;
    const bool has_drafter = i + 1 < levels_.size();
    // The level drafting for the target notes its runner-up tokens, for the target's branches.
    const bool note_runner_up = i == 1 && control.max_branches > 0;
    int32_t produced = 0;
    std::vector<int32_t> draft, top1, runner_up, accepted;
    std::vector<float> confidence;
    std::vector<DraftBranch> branches;
    while (produced < max_new) {
        if (limits.cancel && limits.cancel->load(std::memory_order_relaxed)) {
            *reason = 2;
            return Status::ok();
        }
        if (Clock::now() >= limits.deadline) {
            *reason = 3;
            return Status::ok();
        }
        const int32_t room = model.n_ctx() - model.n_past() - 1;  // positions left after `last`
        if (room < 0) {
            *reason = 4;
            return Status::ok();
        }
        // The target's first token is never delayed by drafting.
        draft.clear();
        const bool first_target_token = !drafting && produced == 0;
        if (has_drafter && !first_target_token) {
            const int32_t k = std::min({choose_draft_length(i + 1), max_new - produced - 1, room});
            if (k > 0) SPECQD_TRY(propose(i + 1, context, k, limits, pool, &draft));
        }
        branches.clear();
        if (!drafting && !draft.empty()) choose_branches(draft, room - static_cast<int32_t>(draft.size()), &branches);
        SPECQD_TRY(model.verify(context.back(), draft, pool, &top1, drafting ? &confidence : nullptr, &branches,
                                note_runner_up ? &runner_up : nullptr));
        int32_t m = 0;
        while (m < static_cast<int32_t>(draft.size()) && draft[m] == top1[m]) ++m;
        // A branch beside the rejected token that is the verifier's own choice there: kept, with its row's choice.
        int32_t branch_row = -1;
        for (size_t b = 0; b < branches.size(); ++b) {
            if (branches[b].at != m) continue;  // beside an accepted token, or never reached: not judged
            const bool kept = branches[b].token == top1[m];
            branch_history_.record(kept);
            if (kept) branch_row = static_cast<int32_t>(draft.size() + 1 + b);
        }
        if (!branches.empty()) {
            levels_[i + 1]->stats.branches += static_cast<int64_t>(branches.size());
            levels_[i + 1]->stats.branches_kept += branch_row >= 0 ? 1 : 0;
        }
        if (!draft.empty()) {
            const int32_t n_draft = static_cast<int32_t>(draft.size());
            levels_[i + 1]->stats.accepted += m;
            history_[i + 1].record(n_draft, m);
            // The drafter's confidences, judged: the accepted tokens and the first rejected one.
            const std::vector<float>& judged = proposal_confidence_[i + 1];
            if (judged.size() == draft.size()) {
                const int32_t n_judged = std::min(m + 1, n_draft);
                for (int32_t j = 0; j < n_judged; ++j) calibration_[i + 1].record(judged[j], j < m);
            }
        }
        // The cache keeps the context so far, the last token and the accepted drafts (and a kept branch); the bonus
        // token is new.
        accepted.assign(top1.begin(), top1.begin() + m + 1);  // top1[j] == draft[j] for j < m
        if (branch_row >= 0) {
            model.take_branch(m, branch_row);
            accepted.push_back(top1[static_cast<size_t>(branch_row)]);
        }
        model.keep(static_cast<int32_t>(context.size() + accepted.size()) - 1);
        for (int32_t j = 0; j < static_cast<int32_t>(accepted.size()); ++j) {
            const int32_t token = accepted[static_cast<size_t>(j)];
            context.push_back(token);
            ++produced;
            if (drafting) proposal_confidence_[i].push_back(confidence[j]);
            if (note_runner_up) proposal_runner_up_.push_back(runner_up[j]);
            if (!on_token(token)) {
                *reason = 0;
                return Status::ok();
            }
            // Tokens up to m came out of this one verification pass; the one after m would need another.
            if (drafting && !keep_drafting(i, confidence[j], j < m)) {
                *reason = 0;  // a drafting level stops where going on does not pay
                return Status::ok();
            }
            if (produced >= max_new) {
                *reason = 1;
                return Status::ok();
            }
        }
    }
    *reason = 1;
    return Status::ok();
}

Status SpecStack::generate(std::vector<int32_t>& context, const GenerateLimits& limits, ThreadPool* pool,
                           const std::function<bool(int32_t)>& on_token, int* reason) {
    if (levels_.empty() || !levels_[0]->is_model()) return Status::error("the top of the stack must be a model");
    *reason = 1;
    if (limits.max_new <= 0) return Status::ok();
    return run_level(0, context, limits.max_new, limits, pool, on_token, reason);
}

}  // namespace specqd
