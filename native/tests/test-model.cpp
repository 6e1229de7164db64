// The forward pass and greedy completion on the shared stories260K model (a trained llama with known llama.cpp
// greedy output), batch and thread invariance of the logits, KV rollback and prompt-prefix reuse.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>

#include "check.h"
#include "engine/engine.h"
#include "kernels/cpu-features.h"
#include "kernels/thread-pool.h"
#include "model/model.h"
#include "test-engine.h"

using namespace specqd;

namespace {

const std::string kStories = check::shared_path("models/stories260K.gguf");
// llama.cpp's tokens for BOS + "Once upon a time" and its first 16 greedy tokens (shared/models/README.md).
const std::vector<int32_t> kPromptIds = {1, 403, 407, 261, 378};
const std::vector<int32_t> kGreedyIds = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337};

void test_greedy_matches_llama_cpp() {
    EngineOptions options;
    options.target = kStories;
    options.threads = 2;
    options.context_length = 256;
    const std::unique_ptr<Engine> engine = test_engine::load(options);
    if (!engine) return;
    CompletionRequest req;
    req.prompt = "Once upon a time";
    req.max_tokens = 16;
    CompletionResult r;
    const Status cs = engine->complete(req, &r);
    CHECK_MSG(cs.is_ok(), cs.message());
    CHECK(r.prompt_tokens == kPromptIds);
    CHECK(r.tokens == kGreedyIds);
    CHECK(r.text.rfind(", there was a little girl named Lily.", 0) == 0);
    CHECK(r.stop_reason == StopReason::MaxTokens);
    CHECK_EQ(r.stats.n_generated, 16);

    // The same request again reuses the whole prompt's KV except the last token, and gives the same tokens.
    CompletionResult again;
    CHECK(engine->complete(req, &again).is_ok());
    CHECK(again.tokens == kGreedyIds);
    CHECK_EQ(again.stats.n_reused, static_cast<int32_t>(kPromptIds.size()) - 1);

    // A longer prompt that extends the previous one reuses its prefix and still matches a fresh engine.
    CompletionRequest longer = req;
    longer.prompt = "Once upon a time, there was a little girl named Lily.";
    CompletionResult reused;
    CHECK(engine->complete(longer, &reused).is_ok());
    CHECK(reused.stats.n_reused >= 4);
    const std::unique_ptr<Engine> fresh = test_engine::load(options);
    if (!fresh) return;
    CompletionResult fresh_r;
    CHECK(fresh->complete(longer, &fresh_r).is_ok());
    CHECK(reused.tokens == fresh_r.tokens);
    CHECK(reused.text == fresh_r.text);

    // Stop strings cut the text before the stop string.
    CompletionRequest stop = req;
    stop.stop = {"Lily"};
    CompletionResult stopped;
    CHECK(engine->complete(stop, &stopped).is_ok());
    CHECK(stopped.text == ", there was a little girl named ");
    CHECK(stopped.stop_reason == StopReason::StopString);
    // A stop string across the boundary of two tokens (" girl" + " named"), and the earliest of several.
    stop.stop = {"Lily", "rl n"};
    CHECK(engine->complete(stop, &stopped).is_ok());
    CHECK_MSG(stopped.text == ", there was a little gi", stopped.text);

    // A cancelled request returns promptly with a cancelled reason; the engine stays usable.
    std::atomic<bool> cancel{true};
    CompletionRequest cancelled = req;
    cancelled.cancel = &cancel;
    CompletionResult c;
    CHECK(engine->complete(cancelled, &c).is_ok());
    CHECK(c.stop_reason == StopReason::Cancelled);
    CompletionResult after;
    CHECK(engine->complete(req, &after).is_ok());
    CHECK(after.tokens == kGreedyIds);

    // Bad input: an empty prompt and a prompt beyond the context are refused with clear messages.
    CompletionRequest empty;
    empty.prompt = "";
    CompletionResult e;
    const Status es = engine->complete(empty, &e);
    // SPM adds BOS, so an empty prompt is just BOS: allowed. maxTokens 0 gives no tokens.
    CHECK(es.is_ok());
    CompletionRequest zero = req;
    zero.max_tokens = 0;
    CompletionResult z;
    CHECK(engine->complete(zero, &z).is_ok() && z.tokens.empty());
    CompletionRequest huge = req;
    huge.prompt = std::string(5000, 'a');
    const Status hs = engine->complete(huge, &e);
    CHECK(!hs.is_ok() && hs.message().find("context length") != std::string::npos);
    CompletionRequest fim = req;
    fim.fim = true;
    const Status fs = engine->complete(fim, &e);
    CHECK(!fs.is_ok() && fs.message().find("fill-in-the-middle") != std::string::npos);
    CHECK(engine->complete(req, &after).is_ok() && after.tokens == kGreedyIds);
}

// Logits of every position from one batched pass equal those of one-token passes, bit for bit, for several thread
// counts and batch splits. Attention runs a task per run of query heads sharing a KV head: whole groups when a pass
// has enough of them for the threads, else each group split into as many runs as the threads need (one-token passes
// on several threads), so the thread counts below give both; the trained coder (head_dim 64, 2 query heads per KV
// head) also takes its keys in several chunks (64 positions each) over its text.
void check_batch_and_thread_invariance(const ModelHparams& hp, const ModelWeights& weights,
                                       const std::vector<int32_t>& tokens, int32_t n_ctx, const std::string& what) {
    const int32_t n = static_cast<int32_t>(tokens.size());
    CHECK_MSG(n + 1 < n_ctx, what + ": " + std::to_string(n) + " tokens");
    const size_t nv = hp.n_vocab;

    auto run = [&](int threads, std::vector<int32_t> splits) {
        ThreadPool pool(threads);
        KvCache kv;
        kv.init(hp, n_ctx);
        ForwardScratch s;
        s.init(hp, n_ctx, n_ctx);
        std::vector<float> logits(static_cast<size_t>(n) * nv);
        int32_t at = 0;
        size_t split = 0;
        while (at < n) {
            const int32_t chunk = std::min(split < splits.size() ? splits[split++] : 1, n - at);
            const Status fs = model_forward(hp, weights, kv, s, &pool, tokens.data() + at, chunk, LogitsFor::All,
                                            logits.data() + static_cast<size_t>(at) * nv);
            if (!fs) {
                CHECK_MSG(false, fs.message());
                break;
            }
            at += chunk;
        }
        return logits;
    };

    const IsaLevel initial = isa_level_active();
    for (int level = 0; level <= static_cast<int>(isa_level_supported()); ++level) {
        set_isa_level(static_cast<IsaLevel>(level));
        const auto one_by_one = run(1, {});
        CHECK(run(1, {n}) == one_by_one);
        CHECK(run(2, {n}) == one_by_one);
        CHECK(run(3, {5, 1, 7, 2}) == one_by_one);
        CHECK(run(2, {1, 16, 3}) == one_by_one);
        CHECK_MSG(run(4, {}) == one_by_one, what);
        CHECK_MSG(run(5, {2, 1, 3}) == one_by_one, what);
    }
    set_isa_level(initial);
}

// Branch rows (model.h): a verification batch of a chain plus runner-up tokens beside some of its rows gives every
// row the logits of its own sequence run one token at a time, bit for bit, and a kept branch, its keys and values
// moved to its position, continues exactly like that sequence. Bad layouts are refused.
void check_branch_rows(const ModelHparams& hp, const ModelWeights& weights, const std::vector<int32_t>& tokens,
                       int32_t n_ctx, const std::string& what) {
    const size_t nv = hp.n_vocab;
    const int32_t vocab = static_cast<int32_t>(hp.n_vocab);
    const int32_t n = static_cast<int32_t>(tokens.size());
    const int32_t pos0 = n - 6;  // the chain: tokens[pos0] (the last verified token) and five drafted tokens
    CHECK_MSG(pos0 > 1 && n + 8 < n_ctx, what);
    // One token at a time from an empty cache: the logits of the last position of `seq`.
    auto last_logits = [&](const std::vector<int32_t>& seq, ThreadPool* pool) {
        KvCache kv;
        kv.init(hp, n_ctx);
        ForwardScratch s;
        s.init(hp, 1, n_ctx);
        std::vector<float> logits(nv);
        for (int32_t t : seq) {
            CHECK(model_forward(hp, weights, kv, s, pool, &t, 1, LogitsFor::Last, logits.data()).is_ok());
        }
        return logits;
    };
    struct Branch {
        int32_t at, token;  // beside drafted token `at` (chain row at + 1)
    };
    const std::vector<Branch> branches = {{0, (tokens[pos0 + 1] + 1) % vocab},
                                          {3, (tokens[pos0 + 4] + 5) % vocab},
                                          {1, (tokens[pos0 + 2] + 2) % vocab}};
    const IsaLevel initial = isa_level_active();
    for (int level = 0; level <= static_cast<int>(isa_level_supported()); ++level) {
        set_isa_level(static_cast<IsaLevel>(level));
        for (int threads : {1, 3}) {
            ThreadPool pool(threads);
            KvCache kv;
            kv.init(hp, n_ctx);
            ForwardScratch s;
            s.init(hp, n_ctx, n_ctx);
            CHECK(model_forward(hp, weights, kv, s, &pool, tokens.data(), pos0, LogitsFor::None, nullptr).is_ok());
            std::vector<int32_t> batch(tokens.begin() + pos0, tokens.end()), positions;
            for (int32_t r = 0; r < 6; ++r) positions.push_back(pos0 + r);
            for (const auto& b : branches) {
                batch.push_back(b.token);
                positions.push_back(pos0 + 1 + b.at);
            }
            const int32_t rows = static_cast<int32_t>(batch.size());
            std::vector<float> logits(static_cast<size_t>(rows) * nv);
            CHECK(model_forward(hp, weights, kv, s, &pool, batch.data(), rows, LogitsFor::All, logits.data(), nullptr,
                                positions.data()).is_ok());
            auto row = [&](int32_t r) {
                return std::vector<float>(logits.begin() + static_cast<int64_t>(r) * nv,
                                          logits.begin() + static_cast<int64_t>(r + 1) * nv);
            };
            for (int32_t r = 0; r < 6; ++r) {
                const std::vector<int32_t> seq(tokens.begin(), tokens.begin() + pos0 + r + 1);
                CHECK_MSG(row(r) == last_logits(seq, &pool), what + ": chain row " + std::to_string(r));
            }
            for (size_t b = 0; b < branches.size(); ++b) {
                std::vector<int32_t> seq(tokens.begin(), tokens.begin() + pos0 + 1 + branches[b].at);
                seq.push_back(branches[b].token);
                CHECK_MSG(row(6 + static_cast<int32_t>(b)) == last_logits(seq, &pool),
                          what + ": branch row " + std::to_string(b));
            }
            // Keep the branch beside drafted token 3 (row 7) and go on with one more token.
            kv.move_position(pos0 + 7, pos0 + 1 + 3);
            kv.rollback(pos0 + 1 + 3 + 1);
            const int32_t next = 7 % vocab;
            std::vector<float> after(nv);
            CHECK(model_forward(hp, weights, kv, s, &pool, &next, 1, LogitsFor::Last, after.data()).is_ok());
            std::vector<int32_t> seq(tokens.begin(), tokens.begin() + pos0 + 4);
            seq.push_back(branches[1].token);
            seq.push_back(next);
            CHECK_MSG(after == last_logits(seq, &pool), what + ": after a kept branch");
        }
    }
    set_isa_level(initial);
    // A row may not stand after positions the batch skips, nor ahead of its slot.
    KvCache kv;
    kv.init(hp, n_ctx);
    ForwardScratch s;
    s.init(hp, 16, n_ctx);
    std::vector<float> logits(4 * nv);
    const int32_t batch[] = {tokens[0], tokens[1], tokens[2], tokens[3]};
    const int32_t skips[] = {0, 1, 1, 3}, ahead[] = {0, 2, 2, 3}, before[] = {0, 1, 2, -1};
    for (const int32_t* bad : {skips, ahead, before}) {
        const Status st =
            model_forward(hp, weights, kv, s, nullptr, batch, 4, LogitsFor::All, logits.data(), nullptr, bad);
        CHECK_MSG(!st.is_ok() && st.message().find("does not follow") != std::string::npos, st.message());
        CHECK_EQ(kv.n_past, 0);
    }
}

void test_batch_and_thread_invariance(const std::string& path, const std::string& text, int32_t n_ctx) {
    Model model;
    const Status st = model_load(path, &model);
    CHECK_MSG(st.is_ok(), st.message());
    if (!st) return;
    const std::vector<int32_t> tokens = model.vocab.encode(text, model.vocab.add_bos(), false);
    check_batch_and_thread_invariance(model.hparams, model.weights, tokens, n_ctx, path);
    check_branch_rows(model.hparams, model.weights, tokens, n_ctx, path);
}

// The same on a network with seven query heads per KV head (Qwen2.5-Coder-0.5B's grouping; the trained fixtures
// have two), random F32 weights built in memory: a one-token pass on 2-5 threads splits the group into runs of
// unequal length (2+2+3, 1+2+2+2, ...), and every split must give the whole group's bits.
void test_invariance_seven_heads_per_kv_head() {
    ModelHparams hp;
    hp.architecture = "llama";
    hp.n_ctx_train = 64;
    hp.n_embd = 56;
    hp.n_layer = 2;
    hp.n_ff = 96;
    hp.n_head = 7;
    hp.n_head_kv = 1;
    hp.head_dim = 8;
    hp.n_rot = 8;
    hp.n_vocab = 48;
    ModelWeights w;
    std::mt19937 rng(7);
    auto matrix = [&](int64_t rows, int64_t cols) {
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        std::vector<float>& data = w.owned_f32.emplace_back(static_cast<size_t>(rows * cols));
        for (float& x : data) x = u(rng) / std::sqrt(static_cast<float>(cols));
        WeightView view;
        view.type = GgmlType::F32;
        view.data = data.data();
        view.rows = rows;
        view.cols = cols;
        return view;
    };
    auto ones = [&](int64_t size) { return w.owned_f32.emplace_back(static_cast<size_t>(size), 1.0f).data(); };
    const int64_t d = hp.n_embd, n_q = hp.n_head * hp.head_dim, n_kv = hp.n_embd_kv();
    w.token_embd = matrix(hp.n_vocab, d);
    w.output = matrix(hp.n_vocab, d);
    w.output_norm = ones(d);
    w.layers.resize(hp.n_layer);
    for (LayerWeights& l : w.layers) {
        l.attn_norm = ones(d);
        l.wq = matrix(n_q, d);
        l.wk = matrix(n_kv, d);
        l.wv = matrix(n_kv, d);
        l.wo = matrix(d, n_q);
        l.ffn_norm = ones(d);
        l.w_gate = matrix(hp.n_ff, d);
        l.w_up = matrix(hp.n_ff, d);
        l.w_down = matrix(d, hp.n_ff);
    }
    std::vector<int32_t> tokens;
    for (int32_t i = 0; i < 23; ++i) tokens.push_back((i * 17 + 5) % static_cast<int32_t>(hp.n_vocab));
    check_batch_and_thread_invariance(hp, w, tokens, 64, "7 query heads per KV head");
    check_branch_rows(hp, w, tokens, 64, "7 query heads per KV head");
}

// KV rollback and recomputation, and refused batches, on stories260K.
void test_rollback() {
    Model model;
    const Status st = model_load(kStories, &model);
    CHECK_MSG(st.is_ok(), st.message());
    if (!st) return;
    const ModelHparams& hp = model.hparams;
    const std::vector<int32_t> tokens = model.vocab.encode("Once upon a time, there was a big dog. It liked to run and play", true, false);
    const int32_t n = static_cast<int32_t>(tokens.size());
    const size_t nv = hp.n_vocab;

    // Rolling back the KV and recomputing gives the same logits again.
    ThreadPool pool(2);
    KvCache kv;
    kv.init(hp, 128);
    ForwardScratch s;
    s.init(hp, 64, 128);
    std::vector<float> a(nv), b(nv);
    CHECK(model_forward(hp, model.weights, kv, s, &pool, tokens.data(), n, LogitsFor::Last, a.data()).is_ok());
    kv.rollback(3);
    CHECK_EQ(kv.n_past, 3);
    CHECK(model_forward(hp, model.weights, kv, s, &pool, tokens.data() + 3, n - 3, LogitsFor::Last, b.data()).is_ok());
    CHECK(a == b);
    // Filling the cache without logits (LogitsFor::None), then the last token alone: the same logits.
    kv.rollback(0);
    CHECK(model_forward(hp, model.weights, kv, s, &pool, tokens.data(), n - 1, LogitsFor::None, nullptr).is_ok());
    CHECK_EQ(kv.n_past, n - 1);
    CHECK(model_forward(hp, model.weights, kv, s, &pool, tokens.data() + n - 1, 1, LogitsFor::Last, b.data()).is_ok());
    CHECK(a == b);
    // A batch past the context is refused without changing the cache.
    std::vector<int32_t> many(64, 5);
    CHECK(model_forward(hp, model.weights, kv, s, &pool, many.data(), 64, LogitsFor::Last, b.data()).is_ok());
    const int32_t before = kv.n_past;
    CHECK(before + 64 > kv.n_ctx);
    CHECK(!model_forward(hp, model.weights, kv, s, &pool, many.data(), 64, LogitsFor::Last, b.data()).is_ok());
    CHECK_EQ(kv.n_past, before);
    // Token ids outside the vocabulary are refused.
    const int32_t bad = 100000;
    CHECK(!model_forward(hp, model.weights, kv, s, &pool, &bad, 1, LogitsFor::Last, b.data()).is_ok());
}

}  // namespace

// A FIM prompt longer than the context is fitted, keeping the tokens nearest the cursor; a request that fits is
// left exactly as it was.
void test_fim_prompt_fits_the_context() {
    const std::string coder = check::repo_path("test/fixtures/models/tiny-coder.gguf");
    EngineOptions o;
    o.target = coder;
    o.context_length = 256;
    const std::unique_ptr<Engine> engine = test_engine::load(o);
    if (!engine) return;
    const Vocab& vocab = engine->model().vocab;
    std::string prefix, suffix;
    for (int i = 0; i < 200; ++i) prefix += "    value_" + std::to_string(i) + " = compute(" + std::to_string(i) + ")\n";
    for (int i = 0; i < 200; ++i) suffix += "print(value_" + std::to_string(i) + ")\n";
    CompletionRequest r;
    r.fim = true;
    r.prefix = prefix + "    result = ";
    r.suffix = suffix;
    r.max_tokens = 32;
    std::vector<int32_t> tokens;
    std::string healed;
    CHECK(engine->build_prompt(r, &tokens, &healed).is_ok());
    CHECK(static_cast<int32_t>(tokens.size()) + r.max_tokens <= 256);
    // The prefix's last tokens run right up to the suffix marker; the suffix's first tokens follow it.
    const std::vector<int32_t> pre = vocab.encode(r.prefix, false, false);
    const std::vector<int32_t> suf = vocab.encode(r.suffix, false, false);
    const auto suf_marker = std::find(tokens.begin(), tokens.end(), vocab.fim_suf_id());
    CHECK(suf_marker != tokens.end() && tokens.back() == vocab.fim_mid_id());
    const size_t kept_pre = static_cast<size_t>(suf_marker - tokens.begin()) - 1;  // after the prefix marker
    const size_t kept_suf = static_cast<size_t>(tokens.end() - suf_marker) - 2;
    CHECK(kept_pre > 100 && kept_suf > 20 && kept_suf < kept_pre);
    CHECK(std::equal(pre.end() - static_cast<std::ptrdiff_t>(kept_pre), pre.end(), tokens.begin() + 1));
    CHECK(std::equal(suf.begin(), suf.begin() + static_cast<std::ptrdiff_t>(kept_suf), suf_marker + 1));
    CompletionResult out;
    const Status cs = engine->complete(r, &out);
    CHECK_MSG(cs.is_ok(), cs.message());
    // A short request is untouched: markers plus every prefix and suffix token.
    CompletionRequest small = r;
    small.prefix = "def f(x):\n    return ";
    small.suffix = "\n";
    CHECK(engine->build_prompt(small, &tokens, &healed).is_ok());
    CHECK(healed.empty());
    CHECK_EQ(tokens.size(), vocab.encode(small.prefix, false, false).size() + vocab.encode(small.suffix, false, false).size() + 3);
}

int main() {
    test_fim_prompt_fits_the_context();
    test_greedy_matches_llama_cpp();
    test_batch_and_thread_invariance(kStories, "Once upon a time, there was a big dog. It liked to run and play", 128);
    std::string code;
    for (int i = 0; i < 14; ++i) code += "def f" + std::to_string(i) + "(x):\n    return x * " + std::to_string(i) + "\n\n";
    test_batch_and_thread_invariance(check::repo_path("test/fixtures/models/tiny-coder.gguf"), code, 256);
    test_invariance_seven_heads_per_kv_head();
    test_rollback();
    return check::summary("test-model");
}
