// model_forward(): one pass of a llama / qwen2 decoder over a batch of tokens. It reads top to bottom like the
// textbook transformer; every heavy step is a kernel call (kernels/), and every step works row by row so the
// result for one position never depends on the rest of the batch (batch invariance, see model.h).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/thread-pool.h"
#include "model/model.h"

namespace specqd {
namespace {

// Rotary position embedding angles for each token's position: cos/sin of pos * base^(-2i/n_rot), i < n_rot/2.
// The angle is advanced by repeated multiplication in float, as ggml does, so our rotations match llama.cpp's.
void rope_angles(const ModelHparams& hp, const int32_t* positions, int32_t n_tokens, float* cos_out, float* sin_out) {
    const int32_t half = static_cast<int32_t>(hp.n_rot / 2);
    const float theta_scale = std::pow(hp.rope_freq_base, -2.0f / static_cast<float>(hp.n_rot));
    for (int32_t t = 0; t < n_tokens; ++t) {
        float theta = static_cast<float>(positions[t]);
        for (int32_t i = 0; i < half; ++i) {
            cos_out[t * half + i] = std::cos(theta);
            sin_out[t * half + i] = std::sin(theta);
            theta *= theta_scale;
        }
    }
}

// Rotates the first n_rot dimensions of every head in x ([n_heads, head_dim] for one token).
//   AdjacentPairs (llama): pairs (2i, 2i+1).   HalfSplit (qwen2 / NeoX): pairs (i, i + n_rot/2).
void rope_apply(const ModelHparams& hp, float* x, int32_t n_heads, const float* cos_t, const float* sin_t) {
    const int32_t half = static_cast<int32_t>(hp.n_rot / 2);
    for (int32_t h = 0; h < n_heads; ++h) {
        float* head = x + static_cast<size_t>(h) * hp.head_dim;
        for (int32_t i = 0; i < half; ++i) {
            const int32_t a = hp.rope_style == RopeStyle::AdjacentPairs ? 2 * i : i;
            const int32_t b = hp.rope_style == RopeStyle::AdjacentPairs ? 2 * i + 1 : i + half;
            const float x0 = head[a], x1 = head[b];
            head[a] = x0 * cos_t[i] - x1 * sin_t[i];
            head[b] = x0 * sin_t[i] + x1 * cos_t[i];
        }
    }
}

// Causal grouped-query attention for one token and n_heads consecutive query heads that share one KV head: for
// each head, scores against the keys of positions 0..pos-1 and then the token's own key (in cache slot `self`, which
// is position pos for a token of a plain batch, and elsewhere for a branch row, model.h), softmax, weighted sum of
// the values in the same order.
//
// The heads go through the keys and values a chunk of positions at a time, every head over one chunk before the
// next chunk, so a chunk is read from memory once for the group and from L1 for the other heads (one head at a
// time, each of Qwen2.5-Coder-0.5B's 7 query heads per KV head read the whole cache again). Measured (0.5B shape,
// BF16, 1 thread pinned, bench-forward, two interleaved rounds): prefill of 512 tokens 9% faster; of 2,048 tokens
// no faster — there attention is bound by computing, not by the re-reads. What it computed slowly was the
// kernels' bookkeeping: a horizontal sum per (query, key) and, in axpy_rows, accumulators GCC kept on the stack; with
// both fixed (kernels/dot-rows.h, axpy_rows in ops-avx512.cpp / ops-avx2.cpp) prefill of 2,048 tokens went 119-121
// -> 143-146 tokens/s on 1 thread, 233-238 -> 262-291 on 2, about llama.cpp's speed (CHANGELOG). Each head's sums
// keep their order (dot_rows and axpy_rows give per row what one call per row gives), so the result is the same,
// bit for bit, however the heads are grouped and the positions chunked — and whichever slot the own key is read from.
void attend(const ModelHparams& hp, const KvCache& kv, int32_t layer, int32_t pos, int32_t self, const float* q_heads,
            int32_t kv_head, int32_t n_heads, float* scores, int64_t scores_stride, float* out_heads) {
    const int32_t hd = static_cast<int32_t>(hp.head_dim);
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    constexpr int64_t kChunkBytes = 16 * 1024;  // one head's keys (or values) of a chunk: a third of a 48 KB L1
    const int32_t chunk = static_cast<int32_t>(std::max<int64_t>(8, kChunkBytes / (static_cast<int64_t>(hd) * 4)));
    // Positions come in at most a few contiguous runs (the shared cache's, then this cache's own); one kernel call
    // per run and chunk, not per position. fn(j, end, slot): scores j..end-1 belong to the rows from cache slot `slot`.
    auto for_each_chunk = [&](auto&& fn) {
        for (int32_t j = 0; j < pos;) {
            const int32_t end = std::min(kv.contiguous_end(j, pos), j + chunk);
            fn(j, end, j);
            j = end;
        }
        fn(pos, pos + 1, self);
    };
    for_each_chunk([&](int32_t j, int32_t end, int32_t slot) {
        const float* keys = kv.k_at(layer, slot) + kv_head * hd;
        for (int32_t h = 0; h < n_heads; ++h) {
            dot_rows(q_heads + h * hd, keys, kv.n_embd_kv, end - j, hd, scores + h * scores_stride + j);
        }
    });
    for (int32_t h = 0; h < n_heads; ++h) {
        float* sh = scores + h * scores_stride;
        for (int32_t j = 0; j <= pos; ++j) sh[j] *= scale;
        softmax(sh, pos + 1);
    }
    std::memset(out_heads, 0, sizeof(float) * hd * n_heads);
    for_each_chunk([&](int32_t j, int32_t end, int32_t slot) {
        const float* values = kv.v_at(layer, slot) + kv_head * hd;
        for (int32_t h = 0; h < n_heads; ++h) {
            axpy_rows(scores + h * scores_stride + j, values, kv.n_embd_kv, end - j, hd, out_heads + h * hd);
        }
    });
}

void parallel_rows(ThreadPool* pool, int64_t n, auto&& fn) {
    if (pool && n > 1) {
        pool->parallel_for(n, fn);
    } else {
        for (int64_t i = 0; i < n; ++i) fn(i);
    }
}

}  // namespace

Status model_forward(const ModelHparams& hp, const ModelWeights& w, KvCache& kv, ForwardScratch& s, ThreadPool* pool,
                     const int32_t* tokens, int32_t n_tokens, LogitsFor which, float* logits, const WeightView* head,
                     const int32_t* positions) {
    if (n_tokens <= 0 || n_tokens > s.max_tokens) {
        return Status::error("batch of " + std::to_string(n_tokens) + " tokens does not fit (at most " +
                             std::to_string(s.max_tokens) + ")");
    }
    if (!kv.fits(n_tokens)) {
        return Status::error("context full: " + std::to_string(kv.n_past) + " + " + std::to_string(n_tokens) +
                             " tokens exceed the context length " + std::to_string(kv.n_ctx) +
                             (kv.shared ? " or the draft cache" : ""));
    }
    for (int32_t t = 0; t < n_tokens; ++t) {
        if (tokens[t] < 0 || static_cast<uint32_t>(tokens[t]) >= hp.n_vocab) {
            return Status::error("token id " + std::to_string(tokens[t]) + " is outside the vocabulary");
        }
    }
    const int32_t n = n_tokens;
    const int32_t pos0 = kv.n_past;
    // Each row's position. A branch row (positions[t] < pos0 + t) sits beside the chain row of its position: what
    // comes before it must be the cache and chain rows of this batch, whose slots are their positions.
    int32_t* pos = s.positions.data();
    for (int32_t t = 0; t < n; ++t) {
        pos[t] = positions ? positions[t] : pos0 + t;
        if (pos[t] < pos0 || pos[t] > pos0 + t || (pos[t] > pos0 && pos[pos[t] - pos0 - 1] != pos[t] - 1)) {
            return Status::error("batch row " + std::to_string(t) + " at position " + std::to_string(pos[t]) +
                                 " does not follow the rows before it");
        }
    }
    const int64_t d = hp.n_embd;                                    // model width
    const int64_t hd = hp.head_dim;
    const int64_t n_q = static_cast<int64_t>(hp.n_head) * hd;       // query width
    const int64_t n_kv = hp.n_embd_kv();                             // key/value width
    const int32_t group = static_cast<int32_t>(hp.n_head / hp.n_head_kv);  // query heads per KV head
    const int32_t half_rot = static_cast<int32_t>(hp.n_rot / 2);
    // Attention tasks (step 5): each KV head's query heads split into runs_per_group runs, as few as keep the
    // threads busy.
    const int64_t n_groups = static_cast<int64_t>(n) * hp.n_head_kv;
    const int64_t n_threads = pool ? pool->n_threads() : 1;
    const int32_t runs_per_group =
        static_cast<int32_t>(std::clamp<int64_t>((n_threads + n_groups - 1) / n_groups, 1, group));
    const int32_t tasks_per_token = static_cast<int32_t>(hp.n_head_kv) * runs_per_group;

    // 1. Token embeddings -> residual stream x [n, d].
    for (int32_t t = 0; t < n; ++t) ref::dequantize_row(w.token_embd, tokens[t], s.x.data() + t * d);

    // Rotation angles of the batch's positions [n, n_rot/2].
    rope_angles(hp, pos, n, s.rope_cos.data(), s.rope_sin.data());

    for (int32_t il = 0; il < static_cast<int32_t>(hp.n_layer); ++il) {
        const LayerWeights& l = w.layers[il];

        // 2. Attention input: xn = rms_norm(x) * attn_norm                          [n, d]
        rms_norm(s.x.data(), l.attn_norm, n, d, hp.rms_eps, s.xn.data());

        // 3. Projections q = xn Wq^T (+bq) [n, n_q]; k, v = xn Wk^T, xn Wv^T (+bk, bv) [n, n_kv]
        const MatmulOutput qkv[] = {{l.wq, s.q.data()}, {l.wk, s.k.data()}, {l.wv, s.v.data()}};
        matmul_shared_input(pool, qkv, 3, s.xn.data(), n);
        if (l.bq) add_bias(s.q.data(), l.bq, n, n_q);
        if (l.bk) add_bias(s.k.data(), l.bk, n, n_kv);
        if (l.bv) add_bias(s.v.data(), l.bv, n, n_kv);

        // 4. RoPE on q and k, then k and v into the cache at their slots (pos0 + t: a branch row's slot is past the
        //    chain's, not its position).
        for (int32_t t = 0; t < n; ++t) {
            const float* c = s.rope_cos.data() + t * half_rot;
            const float* sn = s.rope_sin.data() + t * half_rot;
            rope_apply(hp, s.q.data() + t * n_q, static_cast<int32_t>(hp.n_head), c, sn);
            rope_apply(hp, s.k.data() + t * n_kv, static_cast<int32_t>(hp.n_head_kv), c, sn);
            std::memcpy(kv.k_own(il, pos0 + t), s.k.data() + t * n_kv, sizeof(float) * n_kv);
            std::memcpy(kv.v_own(il, pos0 + t), s.v.data() + t * n_kv, sizeof(float) * n_kv);
        }

        // 5. Causal attention over positions 0..pos[t]-1 and the row itself: att_out [n, n_q]. A task is a run of a
        //    token's query heads that share a KV head: the whole group, so that the group's keys and values are read
        //    once (attend()), unless that leaves threads idle (decode: one token, two KV heads), and then the group is
        //    split into as many runs as the threads need. One task per head re-read a one-token pass's whole cache for every query
        //    head: 7x the cache's bytes per token on Qwen2.5-Coder-0.5B, from L3 or memory once the context is long.
        parallel_rows(pool, static_cast<int64_t>(n) * tasks_per_token, [&](int64_t task) {
            const int32_t t = static_cast<int32_t>(task / tasks_per_token);
            const int32_t kv_head = static_cast<int32_t>(task % tasks_per_token) / runs_per_group;
            const int32_t run = static_cast<int32_t>(task % tasks_per_token) % runs_per_group;
            const int32_t h = kv_head * group + run * group / runs_per_group;  // first head of the run
            const int32_t h_end = kv_head * group + (run + 1) * group / runs_per_group;
            const size_t row = static_cast<size_t>(t) * hp.n_head + h;
            attend(hp, kv, il, pos[t], pos0 + t, s.q.data() + t * n_q + h * hd, kv_head, h_end - h,
                   s.att.data() + row * kv.n_ctx, kv.n_ctx, s.att_out.data() + t * n_q + h * hd);
        });

        // 6. Output projection and residual: x += att_out Wo^T                     [n, d]
        matmul(pool, l.wo, s.att_out.data(), n, s.proj.data());
        for (int64_t i = 0; i < n * d; ++i) s.x[i] += s.proj[i];

        // 7. Feed-forward input: xn = rms_norm(x) * ffn_norm                       [n, d]
        rms_norm(s.x.data(), l.ffn_norm, n, d, hp.rms_eps, s.xn.data());

        // 8. SwiGLU: gate = silu(xn Wg^T) * (xn Wu^T)                               [n, n_ff]
        const MatmulOutput gate_up[] = {{l.w_gate, s.gate.data()}, {l.w_up, s.up.data()}};
        matmul_shared_input(pool, gate_up, 2, s.xn.data(), n);
        silu_mul(s.gate.data(), s.up.data(), static_cast<int64_t>(n) * hp.n_ff, s.gate.data());

        // 9. Down projection and residual: x += gate Wd^T                           [n, d]
        matmul(pool, l.w_down, s.gate.data(), n, s.proj.data());
        for (int64_t i = 0; i < n * d; ++i) s.x[i] += s.proj[i];
    }
    kv.n_past = pos0 + n;

    if (which == LogitsFor::None) return Status::ok();

    // 10. Final norm and the output head: logits = rms_norm(x) * output_norm  Wout^T   [n or 1, n_vocab]
    const int32_t first = which == LogitsFor::Last ? n - 1 : 0;
    const int32_t n_out = n - first;
    rms_norm(s.x.data() + first * d, w.output_norm, n_out, d, hp.rms_eps, s.xn.data());
    matmul(pool, head != nullptr ? *head : w.output, s.xn.data(), n_out, logits);
    return Status::ok();
}

}  // namespace specqd
