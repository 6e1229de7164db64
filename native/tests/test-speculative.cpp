// Speculative decoding is exact: every stack produces token for token what the target alone produces, for many
// prompts, thread counts and draft-control settings. Uses stories260K (with a Q8_0 copy of itself as the draft
// model) and, when present, the trained qwen2 fixture models on FIM prompts cut from held-out files.
#include <dirent.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <sstream>

#include "check.h"
#include "engine/engine.h"
#include "kernels/thread-pool.h"
#include "model/convert.h"
#include "speculative/speculative.h"
#include "test-engine.h"
#include "test-util.h"

using namespace specqd;

namespace {

struct Case {
    std::string target, draft;
    std::vector<CompletionRequest> requests;
    int32_t draft_vocab = 0;  // a limit that cuts this vocabulary (EngineOptions::draft_vocab), for one variant
};

std::unique_ptr<Engine> load(const std::string& target, const std::string& draft, std::vector<std::string> levels,
                             int threads, bool adaptive, bool share_kv = true, int32_t draft_vocab = 0) {
    EngineOptions o;
    o.draft_vocab = draft_vocab;
    o.share_kv = share_kv;
    o.target = target;
    o.draft = draft;
    o.levels = std::move(levels);
    o.threads = threads;
    o.context_length = 1024;
    o.adaptive_drafts = adaptive;
    return test_engine::load(o);
}

void check_exact(const Case& c, const std::string& label) {
    auto baseline = load(c.target, "", {"target"}, 2, true);
    if (!baseline) return;
    std::vector<std::vector<int32_t>> expected;
    for (const auto& r : c.requests) {
        CompletionResult out;
        CHECK(baseline->complete(r, &out).is_ok());
        expected.push_back(out.tokens);
    }
    const std::vector<std::vector<std::string>> stacks = {
        {"target", "ngram"}, {"target", "draft"}, {"target", "draft", "ngram"}};
    int64_t total_proposed = 0, total_accepted = 0;
    for (const auto& stack : stacks) {
        for (int threads : {1, 3}) {
            for (int variant = 0; variant < 4; ++variant) {
                // adaptive drafts with a shared KV cache where the draft is the same network; fixed drafts;
                // adaptive with every level keeping its own cache; adaptive with the drafting levels' heads limited
                // to part of the vocabulary.
                const bool adaptive = variant != 1;
                const bool share_kv = variant != 2;
                const int32_t draft_vocab = variant == 3 ? c.draft_vocab : 0;
                auto e = load(c.target, c.draft, stack, threads, adaptive, share_kv, draft_vocab);
                if (!e) continue;
                for (size_t i = 0; i < c.requests.size(); ++i) {
                    CompletionResult out;
                    const Status st = e->complete(c.requests[i], &out);
                    CHECK_MSG(st.is_ok(), st.message());
                    std::string name = label + " [";
                    for (const auto& l : stack) name += l + " ";
                    name += "] threads " + std::to_string(threads) + (adaptive ? " adaptive" : " fixed") +
                            (share_kv ? " shared-kv" : " own-kv") +
                            (draft_vocab > 0 ? " draft-vocab " + std::to_string(draft_vocab) : "") + " request " +
                            std::to_string(i);
                    CHECK_MSG(out.tokens == expected[i], name);
                    CHECK_EQ(out.stats.levels.size(), stack.size());
                    for (size_t l = 1; l < out.stats.levels.size(); ++l) {
                        const LevelStats& ls = out.stats.levels[l];
                        CHECK(ls.accepted <= ls.proposed);
                        total_proposed += ls.proposed;
                        total_accepted += ls.accepted;
                    }
                }
            }
        }
    }
    // The drafts were really used (not a stack that silently ran the target alone).
    CHECK_MSG(total_proposed > 100 && total_accepted > 0,
              label + ": proposed " + std::to_string(total_proposed) + ", accepted " + std::to_string(total_accepted));
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

// A same-network draft reads the target's cache: it never prefills the prompt itself.
void test_shared_kv_geometry(const std::string& target_path, const std::string& copy_path) {
    Model target, copy;
    CHECK(model_load(target_path, &target).is_ok());
    CHECK(model_load(copy_path, &copy).is_ok());
    CHECK(ModelLevel::same_kv_geometry(target.hparams, copy.hparams));
    ModelLevel top("target", &target.hparams, &target.weights);
    ModelLevel shared("draft", &copy.hparams, &copy.weights);
    CHECK(top.init(256, 64).is_ok());
    CHECK(shared.init(256, 64, &top).is_ok());
    CHECK(shared.shares_kv());
    const std::vector<int32_t> context = target.vocab.encode("Once upon a time, there was a little girl", true, false);
    int32_t reused = 0;
    CHECK(top.sync(context, nullptr, &reused).is_ok());
    CHECK(shared.sync(context, nullptr, &reused).is_ok());
    CHECK_EQ(reused, static_cast<int32_t>(context.size()) - 1);  // everything read from the target's cache
    // A sharing level's own slots hold two verification batches; a draft longer than that is refused cleanly.
    std::vector<int32_t> top1;
    std::vector<int32_t> draft(40, 5);
    // 41 positions per verification, 128 own slots: three fit, the fourth is refused.
    CHECK(shared.verify(context.back(), draft, nullptr, &top1, nullptr).is_ok());
    CHECK(shared.verify(context.back(), draft, nullptr, &top1, nullptr).is_ok());
    CHECK(shared.verify(context.back(), draft, nullptr, &top1, nullptr).is_ok());
    const Status full = shared.verify(context.back(), draft, nullptr, &top1, nullptr);
    CHECK(!full.is_ok() && full.message().find("draft cache") != std::string::npos);
    // Rolled back to the context, it drafts again.
    shared.keep(static_cast<int32_t>(context.size()));
    CHECK(shared.verify(context.back(), draft, nullptr, &top1, nullptr).is_ok());
}

// The learned early stop follows the measured acceptance per confidence bucket, not the confidence itself.
void test_confidence_calibration() {
    CHECK_EQ(ConfidenceCalibration::bucket(0.0f), 0);
    CHECK_EQ(ConfidenceCalibration::bucket(0.15f), 1);
    CHECK_EQ(ConfidenceCalibration::bucket(1.0f), ConfidenceCalibration::kBuckets - 1);
    DraftCosts costs;
    costs.alpha = 0.9;
    costs.verify_step_ms = 10;     // an accepted token saves 10 ms of the verifier
    costs.draft_ms = 2;
    costs.verify_marginal_ms = 1;  // one more token costs 3 ms in all: worth it above 3 / (0.9 * 10) = 33 % acceptance
    ConfidenceCalibration c;
    // No evidence yet: the prior threshold decides.
    CHECK(!c.keep_drafting(0.25f, costs, 0.4f, false));
    CHECK(c.keep_drafting(0.55f, costs, 0.4f, false));
    // A copy that is right at low confidence (80 % of its 0.2-0.3 tokens accepted) drafts on there...
    for (int i = 0; i < 40; ++i) c.record(0.25f, i % 5 != 0);
    CHECK(c.keep_drafting(0.25f, costs, 0.4f, false));
    // ...and a level that is often wrong at high confidence (20 % of its 0.6-0.7 tokens) stops there.
    for (int i = 0; i < 40; ++i) c.record(0.65f, i % 5 == 0);
    CHECK(!c.keep_drafting(0.65f, costs, 0.4f, false));
    // Drafting that costs more than it can save stops even at a well-accepted confidence...
    costs.draft_ms = 20;
    CHECK(!c.keep_drafting(0.25f, costs, 0.4f, false));
    // ...unless the next token is already drafted (this level's own pass verified it): only the verifier's marginal
    // cost is left to weigh: at 80 % acceptance it pays, at 20 % not against 2 ms of it (0.2 x 0.9 x 10 = 1.8).
    CHECK(c.keep_drafting(0.25f, costs, 0.4f, true));
    costs.verify_marginal_ms = 2;
    CHECK(!c.keep_drafting(0.65f, costs, 0.4f, true));
    costs.verify_marginal_ms = 1;
    // Unmeasured verifier cost: back to the prior.
    costs.verify_step_ms = 0;
    CHECK(c.keep_drafting(0.65f, costs, 0.4f, false));
}

// The acceptance estimate is a geometric-model fit that fades old rounds.
void test_acceptance_history() {
    AcceptanceHistory h;
    CHECK_EQ(h.alpha(), 0.0);
    for (int i = 0; i < 200; ++i) h.record(4, 4);  // never rejected: capped below 1
    CHECK(h.alpha() > 0.99 && h.alpha() <= 0.995);
    // Then a level that gets one token of two accepted: 1 success, 1 failure per round.
    for (int i = 0; i < 300; ++i) h.record(2, 1);
    CHECK_MSG(std::abs(h.alpha() - 0.5) < 0.01, "alpha " + std::to_string(h.alpha()));
    // The counts are faded sums: a steady 2 tokens per round settles at 2 / (1 - kDecay).
    CHECK(std::abs(h.proposed - 2 / (1 - AcceptanceHistory::kDecay)) < 0.5);  // + what is left of the 4s
}

// The cost of verifying a batch size not measured yet: interpolated (what a branch row costs), or the largest
// measured size below (what the draft length is chosen with: optimistic, so a longer draft gets tried).
void test_verify_cost_estimates() {
    ModelHparams hp;
    ModelWeights w;
    ModelLevel level("target", &hp, &w);
    using E = ModelLevel::CostEstimate;
    CHECK_EQ(level.verify_cost(3), 0.0);
    CHECK_EQ(level.verify_cost(3, E::kOptimistic), 0.0);
    level.verify_ms[2] = 10;
    level.verify_ms[6] = 18;
    CHECK_EQ(level.verify_cost(2), 10.0);                    // measured: both estimates give it
    CHECK_EQ(level.verify_cost(6, E::kOptimistic), 18.0);
    CHECK_EQ(level.verify_cost(4), 14.0);                    // between 2 and 6
    CHECK_EQ(level.verify_cost(4, E::kOptimistic), 10.0);   // the size below
    CHECK_EQ(level.verify_cost(1), 10.0);                    // below every measured size: the nearest
    CHECK_EQ(level.verify_cost(1, E::kOptimistic), 0.0);    // nothing measured at or below
    CHECK_EQ(level.verify_cost(9), 18.0);                    // above every measured size: the largest
    CHECK_EQ(level.verify_cost(9, E::kOptimistic), 18.0);
    CHECK_EQ(level.verify_cost(0), 0.0);
    CHECK_EQ(level.verify_cost(ModelLevel::kMaxVerify + 1), 0.0);
}

// What draft control learned survives the end of a request: a new request does not start from the prior.
void test_learning_outlives_requests(const std::string& path) {
    Model m;
    CHECK(model_load(path, &m).is_ok());
    SpecStack stack;
    auto target = std::make_unique<ModelLevel>("target", &m.hparams, &m.weights);
    CHECK(target->init(256, 32).is_ok());
    stack.add_level(std::move(target));
    stack.add_level(std::make_unique<NgramLevel>());
    // A prompt that repeats itself, so prompt lookup has something to propose.
    std::vector<int32_t> context = m.vocab.encode("Lily and Ben went to the park. Lily and Ben went to the", true, false);
    GenerateLimits limits;
    limits.max_new = 40;
    int reason = 0;
    CHECK(stack.generate(context, limits, nullptr, [](int32_t) { return true; }, &reason).is_ok());
    const LevelStats& used = stack.level(1).stats;
    CHECK(used.proposed > 0);
    const AcceptanceHistory learned = stack.acceptance_history(1);
    // Faded sums of the same rounds: positive where the counters are, never above them.
    CHECK(learned.proposed > 0 && learned.proposed <= static_cast<double>(used.proposed));
    CHECK((learned.accepted > 0) == (used.accepted > 0) && learned.accepted <= static_cast<double>(used.accepted));
    stack.reset_stats();
    CHECK_EQ(stack.level(1).stats.proposed, 0);
    CHECK_EQ(stack.acceptance_history(1).proposed, learned.proposed);
    CHECK_EQ(stack.acceptance_history(1).alpha(), learned.alpha());
}

// Branches (DraftBranch): when a pass of more rows costs next to nothing beside a step of the target (set so here;
// on a CPU, rows below the kernels' tile size), the draft's runner-ups are verified beside its tokens,
// some are kept where the target rejects the draft, and the output is still exactly the target's own.
void test_branches(const std::string& target_path, const std::string& draft_path,
                   const std::vector<std::string>& prompts) {
    Model tm, dm;
    CHECK(model_load(target_path, &tm).is_ok());
    CHECK(model_load(draft_path, &dm).is_ok());
    ThreadPool pool(2);
    auto run = [&](bool with_draft, int32_t max_branches, LevelStats* draft_stats) {
        SpecStack stack;
        auto target = std::make_unique<ModelLevel>("target", &tm.hparams, &tm.weights);
        CHECK(target->init(1024, 64).is_ok());
        stack.add_level(std::move(target));
        if (with_draft) {
            auto draft = std::make_unique<ModelLevel>("draft", &dm.hparams, &dm.weights);
            CHECK(draft->init(1024, 64).is_ok());
            stack.add_level(std::move(draft));
        }
        // Fixed drafts of 6 (the confidence stop as in the paper), so that nothing depends on timing; a step of the
        // target said to cost 1e12 ms, far above the measured cost of any row a branch adds.
        stack.control.adaptive = false;
        stack.control.fixed_draft = 6;
        stack.control.max_branches = max_branches;
        stack.target().verify_ms[1] = 1e12;
        std::vector<std::vector<int32_t>> outputs;
        for (const std::string& prompt : prompts) {
            std::vector<int32_t> context = tm.vocab.encode(prompt, tm.vocab.add_bos(), false);
            std::vector<int32_t> out;
            GenerateLimits limits;
            limits.max_new = 48;
            int reason = 0;
            const Status st = stack.generate(context, limits, &pool, [&](int32_t token) {
                out.push_back(token);
                return true;
            }, &reason);
            CHECK_MSG(st.is_ok(), st.message());
            outputs.push_back(out);
        }
        if (with_draft) *draft_stats = stack.level(1).stats;
        return outputs;
    };
    LevelStats none, with, without;
    const auto expected = run(false, 0, &none);
    CHECK(run(true, 4, &with) == expected);
    CHECK(run(true, 0, &without) == expected);
    CHECK_MSG(with.branches > 0 && with.branches_kept > 0 && with.branches_kept < with.branches,
              "branches " + std::to_string(with.branches) + ", kept " + std::to_string(with.branches_kept));
    CHECK_EQ(without.branches, 0);
    // A kept branch is a token the draft did not propose first: the same work in fewer target passes.
    CHECK(with.rounds < without.rounds);
}

// A suppressed token is never chosen; every other row's choice is unchanged.
void test_suppressed_tokens(const std::string& path) {
    Model m;
    CHECK(model_load(path, &m).is_ok());
    ModelLevel plain("target", &m.hparams, &m.weights), masked("target", &m.hparams, &m.weights);
    CHECK(plain.init(128, 16).is_ok());
    CHECK(masked.init(128, 16).is_ok());
    const std::vector<int32_t> context = m.vocab.encode("Once upon a time, there was a little girl", true, false);
    const std::vector<int32_t> draft(context.begin() + 1, context.end());
    std::vector<int32_t> top_plain, top_masked;
    int32_t reused = 0;
    CHECK(plain.sync({context.front()}, nullptr, &reused).is_ok());
    CHECK(plain.verify(context.front(), draft, nullptr, &top_plain, nullptr).is_ok());
    const int32_t banned = top_plain[0];
    masked.suppress({banned, -1, 1 << 30});  // ids outside the vocabulary are ignored
    CHECK(masked.sync({context.front()}, nullptr, &reused).is_ok());
    CHECK(masked.verify(context.front(), draft, nullptr, &top_masked, nullptr).is_ok());
    int changed = 0;
    for (size_t r = 0; r < top_plain.size(); ++r) {
        CHECK(top_masked[r] != banned);
        if (top_plain[r] != banned) CHECK_EQ(top_masked[r], top_plain[r]);
        changed += top_plain[r] == banned;
    }
    CHECK(changed >= 1);
}

// A limited head chooses, on every row, the best token among the ids below n_first and the extra ids, with the
// same logits the whole head gives them; the target-only operation choose_among() is refused.
void test_limited_head(const std::string& path) {
    Model m;
    CHECK(model_load(path, &m).is_ok());
    const std::vector<int32_t> context = m.vocab.encode("Once upon a time, there was a little girl", true, false);
    const int32_t n = static_cast<int32_t>(context.size());
    const int32_t nv = static_cast<int32_t>(m.hparams.n_vocab);
    // The whole head's logits of every position, straight from the model.
    KvCache kv;
    ForwardScratch scratch;
    CHECK(kv.init(m.hparams, 128).is_ok());
    scratch.init(m.hparams, 64, 128);
    std::vector<float> logits(static_cast<size_t>(n) * nv);
    CHECK(model_forward(m.hparams, m.weights, kv, scratch, nullptr, context.data(), n, LogitsFor::All, logits.data())
              .is_ok());
    auto best_among = [&](int32_t r, const std::function<bool(int32_t)>& allowed) {
        int32_t best = -1;
        for (int32_t id = 0; id < nv; ++id) {
            if (allowed(id) && (best < 0 || logits[static_cast<size_t>(r) * nv + id] >
                                                logits[static_cast<size_t>(r) * nv + best])) {
                best = id;
            }
        }
        return best;
    };
    std::vector<int32_t> top;
    for (int32_t r = 0; r < n; ++r) top.push_back(best_among(r, [](int32_t) { return true; }));
    std::vector<int32_t> distinct = top;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    CHECK(distinct.size() >= 2);
    if (distinct.size() < 2) return;
    // The two highest of the whole head's choices lie at or above n_first; the highest is kept as an extra id.
    const int32_t n_first = distinct[distinct.size() - 2];
    const int32_t extra = distinct.back();
    auto allowed = [&](int32_t id) { return id < n_first || id == extra; };

    ModelLevel level("draft", &m.hparams, &m.weights);
    CHECK(level.init(128, 64).is_ok());
    CHECK(!level.limit_head(0, {}).is_ok());
    CHECK(level.limit_head(n_first, {extra, extra, nv + 5, 3}).is_ok());  // duplicates, out-of-range, low ids ignored
    CHECK_EQ(level.head_size(), n_first + 1);
    int32_t reused = 0;
    CHECK(level.sync({context.front()}, nullptr, &reused).is_ok());
    const std::vector<int32_t> draft(context.begin() + 1, context.end());
    std::vector<int32_t> chosen;
    std::vector<float> confidence;
    CHECK(level.verify(context.front(), draft, nullptr, &chosen, &confidence).is_ok());
    CHECK_EQ(static_cast<int32_t>(chosen.size()), n);
    int changed = 0, kept_extra = 0;
    for (int32_t r = 0; r < n && r < static_cast<int32_t>(chosen.size()); ++r) {
        const int32_t expected = best_among(r, allowed);
        CHECK_EQ(chosen[r], expected);
        changed += top[r] != expected;
        kept_extra += expected == extra;
        // Its confidence is its probability among the allowed tokens.
        double sum = 0;
        const float* row = logits.data() + static_cast<size_t>(r) * nv;
        for (int32_t id = 0; id < nv; ++id) sum += allowed(id) ? std::exp(double(row[id]) - row[expected]) : 0.0;
        CHECK(std::fabs(confidence[r] - 1.0 / sum) < 1e-4);
    }
    CHECK(changed >= 1);
    CHECK(kept_extra >= 1);
    const std::vector<int32_t> limited_choices = chosen;
    int32_t token = -1;
    CHECK(!level.choose_among(context.back(), {1, 2, 3}, nullptr, &token).is_ok());
    // The whole head again: the whole head's choices.
    CHECK(level.limit_head(nv, {}).is_ok());
    CHECK_EQ(level.head_size(), nv);
    level.keep(0);
    CHECK(level.sync({context.front()}, nullptr, &reused).is_ok());
    CHECK(level.verify(context.front(), draft, nullptr, &chosen, nullptr).is_ok());
    CHECK(chosen == top);
    // Limited once more after that (turning the limit off let go of the limited head's buffers).
    CHECK(level.limit_head(n_first, {extra}).is_ok());
    CHECK_EQ(level.head_size(), n_first + 1);
    level.keep(0);
    CHECK(level.sync({context.front()}, nullptr, &reused).is_ok());
    CHECK(level.verify(context.front(), draft, nullptr, &chosen, nullptr).is_ok());
    CHECK(chosen == limited_choices);
}

int main() {
    test_confidence_calibration();
    test_acceptance_history();
    test_verify_cost_estimates();
    test_util::TempDir dir;
    // stories260K: the draft model is its own Q8_0 copy (same tokenizer, different numbers).
    const std::string stories = check::shared_path("models/stories260K.gguf");
    const std::string stories_q8 = dir.file("stories-q8_0.gguf");
    ConvertOptions co;
    co.type = GgmlType::Q8_0;
    ConvertReport report;
    const Status cs = convert_model(stories, stories_q8, co, &report);
    CHECK_MSG(cs.is_ok(), cs.message());
    Case story{stories, stories_q8, {}, 300};
    for (const char* p : {"Once upon a time", "The little dog was sad because", "Lily and Ben", "One day, a big bird"}) {
        CompletionRequest r;
        r.prompt = p;
        r.max_tokens = 48;
        story.requests.push_back(r);
    }
    // Token healing: the target alone re-types the backed-off token, then the stack goes on from there.
    for (const char* p : {"Once upon a ti", "The little dog was sad bec"}) {
        CompletionRequest r;
        r.prompt = p;
        r.max_tokens = 48;
        r.heal = true;
        story.requests.push_back(r);
    }
    check_exact(story, "stories260K");
    test_shared_kv_geometry(stories, stories_q8);
    test_suppressed_tokens(stories);
    test_limited_head(stories);
    test_learning_outlives_requests(stories);

    // The trained code models, FIM prompts cut from held-out files at fixed points.
    const std::string coder = check::repo_path("test/fixtures/models/tiny-coder.gguf");
    const std::string coder_draft = check::repo_path("test/fixtures/models/tiny-coder-draft.gguf");
    const std::string heldout = check::repo_path("test/fixtures/heldout/files");
    if (std::filesystem::exists(coder) && std::filesystem::exists(coder_draft) && std::filesystem::exists(heldout)) {
        Case code{coder, coder_draft, {}, 2048};
        std::vector<std::string> files;
        for (const auto& e : std::filesystem::directory_iterator(heldout)) files.push_back(e.path().string());
        std::sort(files.begin(), files.end());
        for (size_t i = 0; i < files.size() && code.requests.size() < 6; i += 7) {
            const std::string text = read_text(files[i]);
            if (text.size() < 400) continue;
            const size_t cut = text.size() / 3;
            CompletionRequest r;
            r.fim = true;
            r.prefix = text.substr(cut > 600 ? cut - 600 : 0, cut > 600 ? 600 : cut);
            r.suffix = text.substr(cut, 300);
            r.max_tokens = 48;
            code.requests.push_back(r);
        }
        // Healed: at the same cuts, and right after the indentation of a line (the cursor an editor most often has).
        for (size_t i = 0; i < 2 && i < code.requests.size(); ++i) {
            CompletionRequest r = code.requests[i];
            r.heal = true;
            code.requests.push_back(r);
            const size_t line = r.prefix.rfind('\n');
            const size_t indent_end = r.prefix.find_first_not_of(" \t", line + 1);
            if (line != std::string::npos && indent_end != std::string::npos) {
                r.prefix.resize(indent_end);
                code.requests.push_back(r);
            }
        }
        check_exact(code, "tiny-coder");
        std::vector<std::string> plain;
        for (const auto& r : code.requests) plain.push_back(r.prefix);
        test_branches(coder, coder_draft, plain);
    } else {
        std::printf("(trained fixture models not found: only stories260K checked)\n");
    }
    return check::summary("test-speculative");
}
