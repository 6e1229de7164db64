// Model: a llama / qwen2 decoder loaded from GGUF, its KV cache, and model_forward().
//
// Ownership: a Model owns its GgufFile (the weights are read in place from its bytes) and its tokenizer. ModelWeights is
// the set of matrices one forward pass reads; a Model has one loaded from its file, and a draft level built from the
// same network with other weights (the MXFP4 copy) has its own ModelWeights with the same ModelHparams.
//
// Thread rules: a loaded Model and its ModelWeights are immutable and may be shared by any number of threads. A
// KvCache and a ForwardScratch belong to one sequence and one caller at a time.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/huge-page-buffer.h"
#include "base/status.h"
#include "gguf/gguf-reader.h"
#include "kernels/matmul.h"
#include "model/hparams.h"
#include "tokenizer/vocab.h"

namespace specqd {

class ThreadPool;

struct LayerWeights {
    const float* attn_norm = nullptr;         // [n_embd]
    WeightView wq, wk, wv, wo;                // [n_head*head_dim, n_embd], [n_embd_kv, n_embd] x2, [n_embd, n_head*head_dim]
    const float* bq = nullptr;                // [n_head*head_dim] (qwen2), else null
    const float* bk = nullptr;                // [n_embd_kv]
    const float* bv = nullptr;                // [n_embd_kv]
    const float* ffn_norm = nullptr;          // [n_embd]
    WeightView w_gate, w_up, w_down;          // [n_ff, n_embd] x2, [n_embd, n_ff]

    // The seven weight matrices, for code that treats them alike.
    std::array<WeightView*, 7> matrices() { return {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down}; }
    std::array<const WeightView*, 7> matrices() const { return {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down}; }
};

struct ModelWeights {
    WeightView token_embd;                    // [n_vocab, n_embd]
    std::vector<LayerWeights> layers;
    const float* output_norm = nullptr;       // [n_embd]
    WeightView output;                        // [n_vocab, n_embd]; token_embd when the head is tied
    // Storage for anything not read in place from the file: 1-D tensors converted to f32, or whole matrices of a
    // derived copy (e.g. an in-memory MXFP4 cast). The views above may point into these.
    std::vector<std::vector<float>> owned_f32;
    // (on huge pages, like a model's file bytes: they are streamed every token).
    std::vector<HugePageBuffer> owned_bytes;

    // Bytes of weights one decode step reads (every matrix once, one embedding row).
    uint64_t bytes_per_token() const;
};

struct Model {
    GgufFile file;
    ModelHparams hparams;
    Vocab vocab;
    ModelWeights weights;
};

// Loads `path`: validates the architecture, every tensor's presence, shape and type, and the tokenizer. The weights
// are read into memory on huge pages unless `residency` asks for a memory map (base/mapped-file.h weighs the two).
Status model_load(const std::string& path, Model* out, FileResidency residency = FileResidency::kCopied);

// KV cache of one sequence: K and V for every layer and position, in f32 so that a position's keys are the same
// bits whichever pass computed them. Rollback to an earlier length is O(1): set n_past; later positions are simply
// overwritten.
//
// Sharing: a draft level that is the same network with other weights (the MXFP4 copy) does not keep its own copy
// of the verified context. Positions below n_shared are read from `shared` (the target's cache); this cache stores
// only positions n_shared.. (its own unverified drafts) in `capacity` slots. Positions are absolute either way.
struct KvCache {
    int32_t n_ctx = 0;      // positions addressable
    int32_t n_past = 0;     // positions filled
    int32_t n_layer = 0;
    int32_t n_embd_kv = 0;
    const KvCache* shared = nullptr;
    int32_t n_shared = 0;   // positions read from `shared`
    int32_t capacity = 0;   // own slots; layout [layer][slot][n_embd_kv], slot = position - n_shared

    // capacity 0: room for every position (a cache that shares nothing).
    Status init(const ModelHparams& hp, int32_t n_ctx, int32_t capacity = 0);
    const float* k_at(int32_t layer, int32_t pos) const {
        return pos < n_shared ? shared->k_at(layer, pos) : keys() + slot(layer, pos);
    }
    const float* v_at(int32_t layer, int32_t pos) const {
        return pos < n_shared ? shared->v_at(layer, pos) : values() + slot(layer, pos);
    }
    // The end of the run of positions [pos, end) whose keys (and values) lie in one buffer, n_embd_kv floats apart,
    // so that attention can take a whole run in one kernel call.
    int32_t contiguous_end(int32_t pos, int32_t end) const {
        return pos < n_shared ? shared->contiguous_end(pos, end < n_shared ? end : n_shared) : end;
    }
    float* k_own(int32_t layer, int32_t pos) { return reinterpret_cast<float*>(k_.data()) + slot(layer, pos); }
    float* v_own(int32_t layer, int32_t pos) { return reinterpret_cast<float*>(v_.data()) + slot(layer, pos); }
    // Copies the keys and values of position `from` (an own slot) to position `to` in every layer: a kept branch row
    // of a verification batch (model_forward) to the position it stands for.
    void move_position(int32_t from, int32_t to);
    // Room for n more positions (in the context, and in the own slots).
    bool fits(int32_t n) const { return n_past + n <= n_ctx && n_past + n - n_shared <= capacity; }
    void rollback(int32_t n) {
        if (n < n_past) n_past = n;
        if (n_shared > n_past) n_shared = n_past;
    }

private:
    // On huge pages, like the weights (base/huge-page-buffer.h): one token's attention reads the whole cache, and
    // through 4 KiB pages a long one cost a page walk every 8 positions of every layer. Measured (bench-forward,
    // 0.5B shape in MXFP4, 2,048 tokens of context, old and new interleaved twice): decode 54.8-56.7 -> 62.5-62.6
    // tok/s on 1 thread pinned, 80.1-82.9 -> 86.5-87.0 on 2; prefill of 2,048 tokens 292-294 -> 316-320 (2 threads).
    HugePageBuffer k_, v_;
    const float* keys() const { return reinterpret_cast<const float*>(k_.data()); }
    const float* values() const { return reinterpret_cast<const float*>(v_.data()); }
    size_t slot(int32_t layer, int32_t pos) const {
        return (static_cast<size_t>(layer) * capacity + static_cast<size_t>(pos - n_shared)) * n_embd_kv;
    }
};

// Scratch buffers of one forward pass, sized once for a maximum batch (allocated once, reused every call).
struct ForwardScratch {
    int32_t max_tokens = 0;
    std::vector<float> x;       // [n, n_embd]       residual stream
    std::vector<float> xn;      // [n, n_embd]       normalized input of a sub-block
    std::vector<float> q;       // [n, n_head*head_dim]
    std::vector<float> k;       // [n, n_embd_kv]
    std::vector<float> v;       // [n, n_embd_kv]
    std::vector<float> att_out; // [n, n_head*head_dim]
    std::vector<float> att;     // [n*n_head, n_ctx] attention scores, one row per (token, head)
    std::vector<float> proj;    // [n, n_embd]       output of wo / w_down
    std::vector<float> gate;    // [n, n_ff]
    std::vector<float> up;      // [n, n_ff]
    std::vector<float> rope_cos, rope_sin;  // [n, n_rot/2]
    std::vector<int32_t> positions;         // [n] each row's position

    void init(const ModelHparams& hp, int32_t max_tokens, int32_t n_ctx);
};

// Which rows of logits model_forward() writes (None: only the KV cache is wanted, the head is skipped).
enum class LogitsFor { Last, All, None };

// Runs the network on `n_tokens` tokens at positions kv.n_past .. kv.n_past + n_tokens - 1, appends their keys and
// values to `kv`, and writes logits ([n_tokens, n_vocab] for All, [n_vocab] of the last token for Last).
// `head`, when given, replaces w.output (rows of logits then have head->rows entries): a drafting level's head over
// part of the vocabulary (speculative.h, ModelLevel::limit_head). Afterwards s.xn holds the normalized final hidden
// states of the rows of logits, so a caller can apply further head rows to them.
// Batch-invariant: the logits of a position are bit-identical whether it was computed alone or in any batch.
// Fails (without touching kv.n_past) when the batch does not fit the scratch or the context.
//
// `positions`, when given, lays the batch out as a chain with branches (speculative.h, DraftBranch): row t sits at
// position positions[t] and sees positions 0..positions[t]-1 and itself. A chain row has positions[t] = n_past + t; a
// branch row has the position of an earlier chain row, whose alternative it is, and sees what that row sees (the
// chain rows before it) instead of the chain rows after. Every row's keys and values still go to cache slot
// n_past + t, so a branch row's are found past the chain's: KvCache::move_position() puts them at their position when
// the branch is kept. A row's logits are bit-identical to those of the same tokens run as a plain sequence.
Status model_forward(const ModelHparams& hp, const ModelWeights& w, KvCache& kv, ForwardScratch& s, ThreadPool* pool,
                     const int32_t* tokens, int32_t n_tokens, LogitsFor which, float* logits,
                     const WeightView* head = nullptr, const int32_t* positions = nullptr);

}  // namespace specqd
