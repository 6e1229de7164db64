// model_forward(): one pass of a llama / qwen2 decoder over a batch of tokens. It reads top to bottom like the
// textbook transformer; every heavy step is a kernel call (kernels/), and every step works row by row so the
// result for one position never depends on the rest of the batch (batch invariance, see model.h).
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
void rope_angles(const ModelHparams& hp, int32_t pos0, int32_t n_tokens, float* cos_out, float* sin_out) {
    const int32_t half = static_cast<int32_t>(hp.n_rot / 2);
    const float theta_scale = std::pow(hp.rope_freq_base, -2.0f / static_cast<float>(hp.n_rot));
    for (int32_t t = 0; t < n_tokens; ++t) {
        float theta = static_cast<float>(pos0 + t);
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

// Causal grouped-query attention for one (token, head): scores against keys 0..pos, softmax, weighted sum of values.
void attend(const ModelHparams& hp, const KvCache& kv, int32_t layer, int32_t pos, const float* q_head, int32_t kv_head,
            float* scores, float* out_head) {
    const int32_t hd = static_cast<int32_t>(hp.head_dim);
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    // Positions come in at most a few contiguous runs (the shared cache's, then this cache's own); one kernel call
    // per run, not per position. Measured on the 0.5B shape in MXFP4, 400 positions, 2 threads (bench-forward):
    // 14.5 ms per token with a call per position, ~13.2 with one call per run, 10.4 once axpy_rows also kept the
    // output in registers instead of storing and reloading it for every position.
    for (int32_t j = 0; j <= pos;) {
        const int32_t end = kv.contiguous_end(j, pos + 1);
        dot_rows(q_head, kv.k_at(layer, j) + kv_head * hd, kv.n_embd_kv, end - j, hd, scores + j);
        j = end;
    }
    for (int32_t j = 0; j <= pos; ++j) scores[j] *= scale;
    softmax(scores, pos + 1);
    std::memset(out_head, 0, sizeof(float) * hd);
    for (int32_t j = 0; j <= pos;) {
        const int32_t end = kv.contiguous_end(j, pos + 1);
        axpy_rows(scores + j, kv.v_at(layer, j) + kv_head * hd, kv.n_embd_kv, end - j, hd, out_head);
        j = end;
    }
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
                     const int32_t* tokens, int32_t n_tokens, LogitsFor which, float* logits) {
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
    const int64_t d = hp.n_embd;                                    // model width
    const int64_t hd = hp.head_dim;
    const int64_t n_q = static_cast<int64_t>(hp.n_head) * hd;       // query width
    const int64_t n_kv = hp.n_embd_kv();                             // key/value width
    const int32_t group = static_cast<int32_t>(hp.n_head / hp.n_head_kv);  // query heads per KV head
    const int32_t half_rot = static_cast<int32_t>(hp.n_rot / 2);

    // 1. Token embeddings -> residual stream x [n, d].
    for (int32_t t = 0; t < n; ++t) ref::dequantize_row(w.token_embd, tokens[t], s.x.data() + t * d);

    // Rotation angles of the batch's positions [n, n_rot/2].
    rope_angles(hp, pos0, n, s.rope_cos.data(), s.rope_sin.data());

    for (int32_t il = 0; il < static_cast<int32_t>(hp.n_layer); ++il) {
        const LayerWeights& l = w.layers[il];

        // 2. Attention input: xn = rms_norm(x) * attn_norm                          [n, d]
        rms_norm(s.x.data(), l.attn_norm, n, d, hp.rms_eps, s.xn.data());

        // 3. Projections q = xn Wq^T (+bq) [n, n_q]; k, v = xn Wk^T, xn Wv^T (+bk, bv) [n, n_kv]
        matmul(pool, l.wq, s.xn.data(), n, s.q.data());
        matmul(pool, l.wk, s.xn.data(), n, s.k.data());
        matmul(pool, l.wv, s.xn.data(), n, s.v.data());
        if (l.bq) add_bias(s.q.data(), l.bq, n, n_q);
        if (l.bk) add_bias(s.k.data(), l.bk, n, n_kv);
        if (l.bv) add_bias(s.v.data(), l.bv, n, n_kv);

        // 4. RoPE on q and k, then k and v into the cache at their positions.
        for (int32_t t = 0; t < n; ++t) {
            const float* c = s.rope_cos.data() + t * half_rot;
            const float* sn = s.rope_sin.data() + t * half_rot;
            rope_apply(hp, s.q.data() + t * n_q, static_cast<int32_t>(hp.n_head), c, sn);
            rope_apply(hp, s.k.data() + t * n_kv, static_cast<int32_t>(hp.n_head_kv), c, sn);
            std::memcpy(kv.k_own(il, pos0 + t), s.k.data() + t * n_kv, sizeof(float) * n_kv);
            std::memcpy(kv.v_own(il, pos0 + t), s.v.data() + t * n_kv, sizeof(float) * n_kv);
        }

        // 5. Causal attention per (token, head) over positions 0..pos: att_out [n, n_q]
        parallel_rows(pool, static_cast<int64_t>(n) * hp.n_head, [&](int64_t task) {
            const int32_t t = static_cast<int32_t>(task / hp.n_head);
            const int32_t h = static_cast<int32_t>(task % hp.n_head);
            attend(hp, kv, il, pos0 + t, s.q.data() + t * n_q + h * hd, h / group,
                   s.att.data() + static_cast<size_t>(task) * kv.n_ctx, s.att_out.data() + t * n_q + h * hd);
        });

        // 6. Output projection and residual: x += att_out Wo^T                     [n, d]
        matmul(pool, l.wo, s.att_out.data(), n, s.proj.data());
        for (int64_t i = 0; i < n * d; ++i) s.x[i] += s.proj[i];

        // 7. Feed-forward input: xn = rms_norm(x) * ffn_norm                       [n, d]
        rms_norm(s.x.data(), l.ffn_norm, n, d, hp.rms_eps, s.xn.data());

        // 8. SwiGLU: gate = silu(xn Wg^T) * (xn Wu^T)                               [n, n_ff]
        matmul(pool, l.w_gate, s.xn.data(), n, s.gate.data());
        matmul(pool, l.w_up, s.xn.data(), n, s.up.data());
        silu_mul(s.gate.data(), s.up.data(), static_cast<int64_t>(n) * hp.n_ff, s.gate.data());

        // 9. Down projection and residual: x += gate Wd^T                           [n, d]
        matmul(pool, l.w_down, s.gate.data(), n, s.proj.data());
        for (int64_t i = 0; i < n * d; ++i) s.x[i] += s.proj[i];
    }
    kv.n_past = pos0 + n;

    // 10. Final norm and the output head: logits = rms_norm(x) * output_norm  Wout^T   [n or 1, n_vocab]
    const int32_t first = which == LogitsFor::Last ? n - 1 : 0;
    const int32_t n_out = n - first;
    rms_norm(s.x.data() + first * d, w.output_norm, n_out, d, hp.rms_eps, s.xn.data());
    matmul(pool, w.output, s.xn.data(), n_out, logits);
    return Status::ok();
}

}  // namespace specqd
