#include "model/model.h"

#include <algorithm>
#include <cstring>

#include "base/float-convert.h"
#include "mxfp4/mxfp4.h"

namespace specqd {
namespace {

std::string shape_text(const TensorInfo& t) {
    std::string s = "[";
    for (uint32_t d = 0; d < t.n_dims; ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
    return s + "]";
}

// Finds a 2-D weight matrix with ne = [cols, rows] and a type matmul supports.
Status load_matrix(const GgufFile& f, const std::string& name, uint64_t cols, uint64_t rows, WeightView* out) {
    const TensorInfo* t = f.find_tensor(name);
    if (!t) return Status::error("missing tensor '" + name + "'");
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows) {
        return Status::error("tensor '" + name + "' has shape " + shape_text(*t) + ", expected [" +
                             std::to_string(cols) + ", " + std::to_string(rows) + "]");
    }
    if (!matmul_supports(t->type)) {
        return Status::error("tensor '" + name + "' has type " + ggml_type_name(static_cast<uint32_t>(t->type)) +
                             ", which the engine does not support (F32, F16, BF16, Q8_0)");
    }
    *out = WeightView{t->type, t->data, static_cast<int64_t>(rows), static_cast<int64_t>(cols)};
    return Status::ok();
}

// Finds a 1-D tensor of `n` elements and returns it as f32: in place when the file stores F32, converted otherwise.
Status load_vector(const GgufFile& f, const std::string& name, uint64_t n, ModelWeights* w, const float** out) {
    const TensorInfo* t = f.find_tensor(name);
    if (!t) return Status::error("missing tensor '" + name + "'");
    if (t->n_elements != n || t->ne[0] != n) {
        return Status::error("tensor '" + name + "' has shape " + shape_text(*t) + ", expected [" + std::to_string(n) + "]");
    }
    if (t->type == GgmlType::F32) {
        // The data section is aligned (32 bytes by default), so the floats are aligned too.
        *out = reinterpret_cast<const float*>(t->data);
        return Status::ok();
    }
    std::vector<float> converted(n);
    for (uint64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t->data + i * 2, 2);
        if (t->type == GgmlType::F16) converted[i] = f16_to_f32(h);
        else if (t->type == GgmlType::BF16) converted[i] = bf16_to_f32(h);
        else return Status::error("tensor '" + name + "' has unsupported type " + ggml_type_name(static_cast<uint32_t>(t->type)));
    }
    w->owned_f32.push_back(std::move(converted));
    *out = w->owned_f32.back().data();
    return Status::ok();
}

// MXFP4 matrices read into memory take the step layout (mxfp4/mxfp4.h) when the active kernel reads it faster
// (matmul_preferred_layout); a memory-mapped file is read-only and keeps ggml's layout (every kernel reads both).
// A tied head shares its bytes with the embedding: rearranged once, both views marked.
void use_mxfp4_step_layout(GgufFile& file, ModelWeights* w) {
    if (matmul_preferred_layout(GgmlType::MXFP4) != WeightLayout::mxfp4_steps) return;
    std::vector<WeightView*> views{&w->token_embd, &w->output};
    for (LayerWeights& l : w->layers) {
        for (WeightView* v : l.matrices()) views.push_back(v);
    }
    std::vector<const void*> rearranged;
    for (WeightView* v : views) {
        if (v->type != GgmlType::MXFP4 || v->layout == WeightLayout::mxfp4_steps) continue;
        uint8_t* bytes = file.writable(v->data);
        if (bytes == nullptr) continue;
        if (std::find(rearranged.begin(), rearranged.end(), v->data) == rearranged.end()) {
            mxfp4::to_step_layout_in_place(bytes, v->rows, v->cols);
            rearranged.push_back(v->data);
        }
        v->layout = WeightLayout::mxfp4_steps;
    }
}

}  // namespace

uint64_t ModelWeights::bytes_per_token() const {
    auto bytes = [](const WeightView& m) { return static_cast<uint64_t>(m.rows) * m.row_bytes(); };
    uint64_t total = bytes(output) + token_embd.row_bytes();
    for (const LayerWeights& l : layers) {
        for (const WeightView* m : l.matrices()) total += bytes(*m);
    }
    return total;
}

Status model_load(const std::string& path, Model* out, FileResidency residency) {
    Model& m = *out;
    SPECQD_TRY(m.file.open(path, residency));
    SPECQD_TRY(load_hparams(m.file, &m.hparams).with_context("'" + path + "'"));
    SPECQD_TRY(Vocab::load(m.file, &m.vocab).with_context("'" + path + "': tokenizer"));
    const ModelHparams& hp = m.hparams;
    if (static_cast<uint32_t>(m.vocab.n_tokens()) > hp.n_vocab) {
        return Status::error("'" + path + "': the tokenizer has " + std::to_string(m.vocab.n_tokens()) +
                             " tokens but the embedding only " + std::to_string(hp.n_vocab) + " rows");
    }
    const uint64_t n_q = uint64_t{hp.n_head} * hp.head_dim;
    const uint64_t n_kv = hp.n_embd_kv();
    ModelWeights& w = m.weights;
    const Status st = [&]() -> Status {
        SPECQD_TRY(load_matrix(m.file, "token_embd.weight", hp.n_embd, hp.n_vocab, &w.token_embd));
        SPECQD_TRY(load_vector(m.file, "output_norm.weight", hp.n_embd, &w, &w.output_norm));
        if (hp.tied_output) {
            w.output = w.token_embd;
        } else {
            SPECQD_TRY(load_matrix(m.file, "output.weight", hp.n_embd, hp.n_vocab, &w.output));
        }
        w.layers.resize(hp.n_layer);
        for (uint32_t i = 0; i < hp.n_layer; ++i) {
            LayerWeights& l = w.layers[i];
            const std::string p = "blk." + std::to_string(i) + ".";
            SPECQD_TRY(load_vector(m.file, p + "attn_norm.weight", hp.n_embd, &w, &l.attn_norm));
            SPECQD_TRY(load_matrix(m.file, p + "attn_q.weight", hp.n_embd, n_q, &l.wq));
            SPECQD_TRY(load_matrix(m.file, p + "attn_k.weight", hp.n_embd, n_kv, &l.wk));
            SPECQD_TRY(load_matrix(m.file, p + "attn_v.weight", hp.n_embd, n_kv, &l.wv));
            SPECQD_TRY(load_matrix(m.file, p + "attn_output.weight", n_q, hp.n_embd, &l.wo));
            if (hp.has_qkv_bias) {
                SPECQD_TRY(load_vector(m.file, p + "attn_q.bias", n_q, &w, &l.bq));
                SPECQD_TRY(load_vector(m.file, p + "attn_k.bias", n_kv, &w, &l.bk));
                SPECQD_TRY(load_vector(m.file, p + "attn_v.bias", n_kv, &w, &l.bv));
            }
            SPECQD_TRY(load_vector(m.file, p + "ffn_norm.weight", hp.n_embd, &w, &l.ffn_norm));
            SPECQD_TRY(load_matrix(m.file, p + "ffn_gate.weight", hp.n_embd, hp.n_ff, &l.w_gate));
            SPECQD_TRY(load_matrix(m.file, p + "ffn_up.weight", hp.n_embd, hp.n_ff, &l.w_up));
            SPECQD_TRY(load_matrix(m.file, p + "ffn_down.weight", hp.n_ff, hp.n_embd, &l.w_down));
        }
        use_mxfp4_step_layout(m.file, &w);
        return Status::ok();
    }();
    return st.with_context("'" + path + "'");
}

Status KvCache::init(const ModelHparams& hp, int32_t context, int32_t own_capacity) {
    if (context <= 0) return Status::error("context length must be positive");
    n_ctx = context;
    n_past = 0;
    n_layer = static_cast<int32_t>(hp.n_layer);
    n_embd_kv = static_cast<int32_t>(hp.n_embd_kv());
    shared = nullptr;
    n_shared = 0;
    capacity = own_capacity > 0 ? std::min(own_capacity, context) : context;
    const size_t n = static_cast<size_t>(n_layer) * capacity * n_embd_kv;
    SPECQD_TRY(k_.allocate(n * sizeof(float)));
    return v_.allocate(n * sizeof(float));
}

void KvCache::move_position(int32_t from, int32_t to) {
    const size_t bytes = sizeof(float) * static_cast<size_t>(n_embd_kv);
    for (int32_t layer = 0; layer < n_layer; ++layer) {
        std::memcpy(k_own(layer, to), k_own(layer, from), bytes);
        std::memcpy(v_own(layer, to), v_own(layer, from), bytes);
    }
}

void ForwardScratch::init(const ModelHparams& hp, int32_t max_n, int32_t n_ctx) {
    max_tokens = max_n;
    const size_t n = static_cast<size_t>(max_n);
    const size_t n_q = static_cast<size_t>(hp.n_head) * hp.head_dim;
    x.assign(n * hp.n_embd, 0.0f);
    xn.assign(n * hp.n_embd, 0.0f);
    q.assign(n * n_q, 0.0f);
    k.assign(n * hp.n_embd_kv(), 0.0f);
    v.assign(n * hp.n_embd_kv(), 0.0f);
    att_out.assign(n * n_q, 0.0f);
    att.assign(n * hp.n_head * static_cast<size_t>(n_ctx), 0.0f);
    proj.assign(n * hp.n_embd, 0.0f);
    gate.assign(n * hp.n_ff, 0.0f);
    up.assign(n * hp.n_ff, 0.0f);
    rope_cos.assign(n * (hp.n_rot / 2), 0.0f);
    positions.assign(n, 0);
    rope_sin.assign(n * (hp.n_rot / 2), 0.0f);
}

}  // namespace specqd
