// make-bench-model: writes the benchmark's model files (qwen2 GGUFs that both our engine and llama.cpp load).
//
//   make-bench-model random OUT --shape 0.5b|1.5b --type bf16|f16|f32 --tokenizer-from DONOR.gguf [--seed N]
//       A model of Qwen2.5-Coder's exact shape with random weights (fixed seed). The tokenizer is the donor's
//       byte-level BPE vocabulary (bytes, merges, FIM and control tokens) padded with "<|dummy_N|>" tokens to the
//       shape's 151,936 rows. Speed depends only on shapes and types, so random weights measure real costs.
//
//   make-bench-model widen IN OUT --shape 0.5b|1.5b|keep|custom:E,L,H,KV,HD,FF --type bf16|f16|f32 [--pad-vocab N]
//       A function-preserving zero-padded copy of a trained qwen2 model at a bigger shape (see widen() below for
//       the construction and why it leaves every activation of the original dimensions unchanged). --shape keep
//       keeps the dimensions (to cast a model the same way, or only pad its vocabulary).
//
// Weights are streamed one tensor at a time through GgufWriter (atomic: the destination appears only when
// complete). Exit codes: 0 ok, 1 failure, 2 bad usage.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "base/float-convert.h"
#include "gguf/gguf-reader.h"
#include "gguf/gguf-writer.h"

using namespace specqd;

namespace {

struct Shape {
    uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab;
};

// Qwen2.5-Coder's published configurations (config.json of the -0.5B and -1.5B checkpoints).
bool shape_by_name(const std::string& name, Shape* out) {
    if (name == "0.5b") *out = {896, 24, 14, 2, 64, 4864, 151936};
    else if (name == "1.5b") *out = {1536, 28, 12, 2, 128, 8960, 151936};
    else if (name.rfind("custom:", 0) == 0) {  // custom:EMBD,LAYERS,HEADS,KV_HEADS,HEAD_DIM,FFN (tests use small ones)
        unsigned v[6];
        if (std::sscanf(name.c_str() + 7, "%u,%u,%u,%u,%u,%u", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return false;
        *out = {v[0], v[1], v[2], v[3], v[4], v[5], 151936};
    } else {
        return false;
    }
    return true;
}

int usage() {
    std::fprintf(stderr,
                 "usage: make-bench-model random OUT --shape 0.5b|1.5b --type bf16|f16|f32 --tokenizer-from DONOR.gguf "
                 "[--seed N]\n"
                 "       make-bench-model widen IN OUT --shape 0.5b|1.5b|keep|custom:E,L,H,KV,HD,FF --type bf16|f16|f32 "
                 "[--pad-vocab N]\n");
    return 2;
}

int fail(const Status& s) {
    std::fprintf(stderr, "make-bench-model: %s\n", s.message().c_str());
    return 1;
}

// Rows of float converted to the output type.
void encode(GgmlType type, const float* x, size_t n, std::vector<uint8_t>* out) {
    out->resize(n * (type == GgmlType::F32 ? 4 : 2));
    if (type == GgmlType::F32) {
        std::memcpy(out->data(), x, n * 4);
        return;
    }
    auto* o = reinterpret_cast<uint16_t*>(out->data());
    for (size_t i = 0; i < n; ++i) o[i] = type == GgmlType::F16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
}

// A tensor of the source as floats (F32, F16 or BF16 sources).
bool decode(const TensorInfo& t, std::vector<float>* out) {
    out->resize(t.n_elements);
    for (uint64_t i = 0; i < t.n_elements; ++i) {
        if (t.type == GgmlType::F32) std::memcpy(&(*out)[i], t.data + 4 * i, 4);
        else if (t.type == GgmlType::F16 || t.type == GgmlType::BF16) {
            uint16_t h;
            std::memcpy(&h, t.data + 2 * i, 2);
            (*out)[i] = t.type == GgmlType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        } else {
            return false;
        }
    }
    return true;
}

// The donor's tokenizer keys, with the token list padded to n_vocab rows by "<|dummy_N|>" NORMAL tokens (the
// merges stay valid: no merge produces a dummy). Returns false when the donor has more tokens than n_vocab.
bool copy_tokenizer(const GgufFile& donor, uint32_t n_vocab, GgufWriter* out) {
    const GgufValue* tokens = donor.find("tokenizer.ggml.tokens");
    if (!tokens || !tokens->as_array()) return false;
    const size_t n_donor = tokens->as_array()->items.size();
    if (n_donor > n_vocab) return false;
    for (const auto& [key, value] : donor.metadata()) {
        if (key.rfind("tokenizer.", 0) != 0) continue;
        const GgufArray* array = value.as_array();
        if (!array || array->items.size() != n_donor || n_vocab == n_donor) {
            out->set(key, value);
            continue;
        }
        GgufArray padded = *array;
        for (size_t i = n_donor; i < n_vocab; ++i) {
            if (key == "tokenizer.ggml.tokens") padded.items.push_back(GgufValue::of_string("<|dummy_" + std::to_string(i) + "|>"));
            else if (key == "tokenizer.ggml.token_type") padded.items.push_back(GgufValue::of_i32(1));  // NORMAL
            else if (key == "tokenizer.ggml.scores") padded.items.push_back(GgufValue::of_f32(0.0f));
            else return false;
        }
        out->set(key, GgufValue::of_array(std::move(padded)));
    }
    return true;
}

void set_shape(GgufWriter* out, const Shape& s, float rms_eps, float rope_base, uint32_t n_ctx) {
    out->set("general.architecture", GgufValue::of_string("qwen2"));
    out->set("qwen2.context_length", GgufValue::of_u32(n_ctx));
    out->set("qwen2.embedding_length", GgufValue::of_u32(s.n_embd));
    out->set("qwen2.block_count", GgufValue::of_u32(s.n_layer));
    out->set("qwen2.feed_forward_length", GgufValue::of_u32(s.n_ff));
    out->set("qwen2.attention.head_count", GgufValue::of_u32(s.n_head));
    out->set("qwen2.attention.head_count_kv", GgufValue::of_u32(s.n_head_kv));
    out->set("qwen2.attention.key_length", GgufValue::of_u32(s.head_dim));
    out->set("qwen2.attention.value_length", GgufValue::of_u32(s.head_dim));
    out->set("qwen2.rope.dimension_count", GgufValue::of_u32(s.head_dim));
    out->set("qwen2.rope.freq_base", GgufValue::of_f32(rope_base));
    out->set("qwen2.attention.layer_norm_rms_epsilon", GgufValue::of_f32(rms_eps));
}

uint32_t file_type_of(GgmlType t) { return t == GgmlType::F32 ? 0 : t == GgmlType::F16 ? 1 : 32; }

// The tensors of a tied qwen2 model, in llama.cpp's order: name, ne (innermost first), is_matrix.
struct TensorSpec {
    std::string name;
    std::vector<uint64_t> ne;
    bool matrix;
};

std::vector<TensorSpec> qwen2_tensors(const Shape& s) {
    const uint64_t q = uint64_t{s.n_head} * s.head_dim, kv = uint64_t{s.n_head_kv} * s.head_dim;
    std::vector<TensorSpec> t;
    t.push_back({"token_embd.weight", {s.n_embd, s.n_vocab}, true});
    for (uint32_t l = 0; l < s.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        t.push_back({p + "attn_norm.weight", {s.n_embd}, false});
        t.push_back({p + "attn_q.weight", {s.n_embd, q}, true});
        t.push_back({p + "attn_q.bias", {q}, false});
        t.push_back({p + "attn_k.weight", {s.n_embd, kv}, true});
        t.push_back({p + "attn_k.bias", {kv}, false});
        t.push_back({p + "attn_v.weight", {s.n_embd, kv}, true});
        t.push_back({p + "attn_v.bias", {kv}, false});
        t.push_back({p + "attn_output.weight", {q, s.n_embd}, true});
        t.push_back({p + "ffn_norm.weight", {s.n_embd}, false});
        t.push_back({p + "ffn_gate.weight", {s.n_embd, s.n_ff}, true});
        t.push_back({p + "ffn_up.weight", {s.n_embd, s.n_ff}, true});
        t.push_back({p + "ffn_down.weight", {s.n_ff, s.n_embd}, true});
    }
    t.push_back({"output_norm.weight", {s.n_embd}, false});
    return t;
}

uint64_t n_elements(const std::vector<uint64_t>& ne) {
    uint64_t n = 1;
    for (uint64_t d : ne) n *= d;
    return n;
}

// xorshift64*: fast and reproducible; weights are uniform with the standard deviation 0.02 of N(0, 0.02).
struct Rng {
    uint64_t state;
    float uniform_pm1() {  // [-1, 1)
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        const uint64_t r = state * 2685821657736338717ull;
        return static_cast<float>(r >> 40) * (2.0f / 16777216.0f) - 1.0f;
    }
};

int make_random(const std::string& out_path, const Shape& s, GgmlType type, const std::string& donor_path,
                uint64_t seed) {
    GgufFile donor;
    if (Status st = donor.open(donor_path); !st.ok()) return fail(st);
    GgufWriter out;
    out.set("general.name", GgufValue::of_string("specqd-bench-random"));
    set_shape(&out, s, 1e-6f, 1e6f, 32768);
    out.set("general.file_type", GgufValue::of_u32(file_type_of(type)));
    if (!copy_tokenizer(donor, s.n_vocab, &out)) {
        return fail(Status::error("the donor's tokenizer cannot be padded to " + std::to_string(s.n_vocab) + " tokens"));
    }
    const auto specs = qwen2_tensors(s);
    for (const auto& t : specs) {
        if (Status st = out.add_tensor(t.name, t.matrix ? type : GgmlType::F32, t.ne); !st.ok()) return fail(st);
    }
    if (Status st = out.open(out_path); !st.ok()) return fail(st);
    Rng rng{seed * 0x9E3779B97F4A7C15ull + 1};
    const float amplitude = 0.02f * std::sqrt(3.0f);  // uniform(-a, a) has sd a / sqrt(3)
    std::vector<float> x;
    std::vector<uint8_t> bytes;
    for (const auto& t : specs) {
        x.resize(n_elements(t.ne));
        const bool is_norm = t.name.find("_norm") != std::string::npos;
        for (float& v : x) v = (is_norm ? 1.0f : 0.0f) + amplitude * rng.uniform_pm1();
        encode(t.matrix ? type : GgmlType::F32, x.data(), x.size(), &bytes);
        if (Status st = out.write_tensor_data(bytes.data(), bytes.size()); !st.ok()) return fail(st);
    }
    if (Status st = out.commit(); !st.ok()) return fail(st);
    return 0;
}

// ---- widening -------------------------------------------------------------------------------------------------
//
// The small model (n embedding dims, L layers, H heads of dimension d over G KV heads, F FFN units, V tokens)
// becomes a big one (N, L', H', d', G', F', V'). Every small coordinate maps to one big coordinate; every big weight
// not mapped from a small one is zero. Why the function is preserved:
//
//  - Residual stream: small dim c -> big dim c. The embedding puts zeros in dims >= n, and every matrix that writes
//    the residual (attn_output, ffn_down) has zero rows there, so those dims stay exactly 0 in every layer.
//  - RMSNorm: y = g * x / sqrt(mean(x^2) + eps). With n real dims and N - n zeros, mean_N(x^2) = (n/N) mean_n(x^2).
//    Setting eps' = eps * n/N gives sqrt(mean_N + eps') = sqrt(n/N) * sqrt(mean_n + eps), so gains
//    g' = g * sqrt(n/N) give exactly the small model's y on the real dims (and 0 on the padded ones).
//  - FFN: unit u -> u; padded units have zero gate/up rows, so silu(0) * 0 = 0, and zero ffn_down columns.
//  - Heads: small head h of KV group j = h / (H/G) -> big head j * (H'/G') + h % (H/G), small KV head j -> j. Padded
//    query heads have zero q weights and zero attn_output columns, so whatever they attend to is multiplied by 0.
//  - Head dimension d -> d' = r*d (r integer): NeoX RoPE rotates pair (i, i + d/2) by pos * base^(-2i/d). Small
//    pair i goes to big pair r*i, whose angle pos * base^(-2ri/d') = pos * base^(-2i/d) is the same, so q.k over
//    the real pairs is unchanged and the padded pairs contribute 0. The softmax scale 1/sqrt(d') instead of
//    1/sqrt(d) is undone by scaling W_q and b_q by sqrt(r) (exact in any float type when r is a power of 4).
//  - Layers: layers >= L have all-zero weights: attention and FFN add exactly 0 to the residual.
//  - Vocabulary (--pad-vocab V'): the tied head gets V' - V extra rows, each a copy of real row (t mod V). A padded
//    token's logit is then the same dot product as a real token's, and argmax takes the lowest id on ties (ours
//    and llama.cpp's greedy sampler), so a padded token can never be chosen. The rows are never used as inputs.
//
// Real arithmetic is preserved exactly; float arithmetic is not bit-exact (mean over N instead of n, eps' rounded,
// RoPE frequencies computed from other exponents), so the benchmark checks greedy tokens on its prompts.

struct Hp {
    uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    float eps, rope_base;
};

Status read_hp(const GgufFile& f, Hp* hp) {
    std::string arch;
    SPECQD_TRY(f.get_string("general.architecture", &arch));
    if (arch != "qwen2") return Status::error("widen supports qwen2 models, got '" + arch + "'");
    SPECQD_TRY(f.get_u32("qwen2.embedding_length", &hp->n_embd));
    SPECQD_TRY(f.get_u32("qwen2.block_count", &hp->n_layer));
    SPECQD_TRY(f.get_u32("qwen2.attention.head_count", &hp->n_head));
    SPECQD_TRY(f.get_u32_or("qwen2.attention.head_count_kv", hp->n_head, &hp->n_head_kv));
    SPECQD_TRY(f.get_u32("qwen2.feed_forward_length", &hp->n_ff));
    SPECQD_TRY(f.get_u32("qwen2.context_length", &hp->n_ctx));
    SPECQD_TRY(f.get_f32_or("qwen2.attention.layer_norm_rms_epsilon", 1e-6f, &hp->eps));
    SPECQD_TRY(f.get_f32_or("qwen2.rope.freq_base", 10000.0f, &hp->rope_base));
    hp->head_dim = hp->n_embd / hp->n_head;
    SPECQD_TRY(f.get_u32_or("qwen2.attention.key_length", hp->head_dim, &hp->head_dim));
    uint32_t n_rot = hp->head_dim;
    SPECQD_TRY(f.get_u32_or("qwen2.rope.dimension_count", hp->head_dim, &n_rot));
    if (n_rot != hp->head_dim) return Status::error("widen needs RoPE over the whole head");
    const TensorInfo* embd = f.find_tensor("token_embd.weight");
    if (!embd) return Status::error("no token_embd.weight");
    if (f.find_tensor("output.weight")) return Status::error("widen supports tied heads only");
    hp->n_vocab = static_cast<uint32_t>(embd->ne[1]);
    return Status();
}

int widen(const std::string& in_path, const std::string& out_path, const std::string& shape_name, GgmlType type,
          uint32_t pad_vocab) {
    GgufFile in;
    if (Status st = in.open(in_path); !st.ok()) return fail(st);
    Hp s;
    if (Status st = read_hp(in, &s); !st.ok()) return fail(st);
    Shape b{s.n_embd, s.n_layer, s.n_head, s.n_head_kv, s.head_dim, s.n_ff, s.n_vocab};
    if (shape_name != "keep" && !shape_by_name(shape_name, &b)) return usage();
    b.n_vocab = pad_vocab ? pad_vocab : s.n_vocab;
    const uint32_t g_s = s.n_head / s.n_head_kv, g_b = b.n_head / b.n_head_kv;
    if (b.n_embd < s.n_embd || b.n_layer < s.n_layer || b.n_ff < s.n_ff || b.head_dim % s.head_dim != 0 ||
        b.n_head_kv < s.n_head_kv || g_b < g_s || b.n_vocab < s.n_vocab) {
        return fail(Status::error("the model does not fit inside the shape " + shape_name));
    }
    const uint32_t r = b.head_dim / s.head_dim;
    const float q_scale = std::sqrt(static_cast<float>(r));
    const float norm_scale = std::sqrt(static_cast<float>(s.n_embd) / static_cast<float>(b.n_embd));
    const float eps = s.eps * static_cast<float>(s.n_embd) / static_cast<float>(b.n_embd);

    // Index maps from small to big coordinates.
    auto head_of = [&](uint32_t h) { return (h / g_s) * g_b + h % g_s; };
    auto dim_of = [&](uint32_t i) { return i < s.head_dim / 2 ? i * r : b.head_dim / 2 + (i - s.head_dim / 2) * r; };
    auto q_row = [&](uint32_t row) { return head_of(row / s.head_dim) * b.head_dim + dim_of(row % s.head_dim); };
    auto kv_row = [&](uint32_t row) { return (row / s.head_dim) * b.head_dim + dim_of(row % s.head_dim); };
    auto same = [](uint32_t i) { return i; };

    GgufWriter out;
    for (const auto& [key, value] : in.metadata()) {
        if (key.rfind("tokenizer.", 0) != 0) out.set(key, value);
    }
    if (!copy_tokenizer(in, b.n_vocab, &out)) return fail(Status::error("cannot pad the tokenizer"));
    set_shape(&out, b, eps, s.rope_base, s.n_ctx);
    out.set("general.file_type", GgufValue::of_u32(file_type_of(type)));
    out.set("specqd.widened_from", GgufValue::of_string(in_path.substr(in_path.find_last_of('/') + 1)));
    const auto specs = qwen2_tensors(b);
    for (const auto& t : specs) {
        if (Status st = out.add_tensor(t.name, t.matrix ? type : GgmlType::F32, t.ne); !st.ok()) return fail(st);
    }
    if (Status st = out.open(out_path); !st.ok()) return fail(st);

    std::vector<float> src, dst;
    std::vector<uint8_t> bytes;
    for (const auto& t : specs) {
        dst.assign(n_elements(t.ne), 0.0f);
        const TensorInfo* st = in.find_tensor(t.name);  // null for padded layers: all zero
        if (st) {
            if (!decode(*st, &src)) return fail(Status::error(t.name + ": unsupported source type"));
            const uint64_t s_cols = st->ne[0], s_rows = st->rows(), b_cols = t.ne[0];
            // Which small->big map applies to this tensor's rows (outputs) and columns (inputs).
            std::function<uint32_t(uint32_t)> row_map = same, col_map = same;
            float scale = 1.0f;
            const std::string& n = t.name;
            auto ends = [&](const char* suffix) {
                return n.size() >= std::strlen(suffix) && n.compare(n.size() - std::strlen(suffix), std::string::npos, suffix) == 0;
            };
            if (ends("attn_q.weight") || ends("attn_q.bias")) row_map = q_row, scale = q_scale;
            else if (ends("attn_k.weight") || ends("attn_k.bias") || ends("attn_v.weight") || ends("attn_v.bias")) row_map = kv_row;
            else if (ends("attn_output.weight")) col_map = q_row;
            else if (ends("_norm.weight")) scale = norm_scale;
            if (t.ne.size() == 1) {
                for (uint64_t i = 0; i < s_cols; ++i) dst[row_map(static_cast<uint32_t>(i))] = src[i] * scale;
            } else {
                for (uint64_t row = 0; row < s_rows; ++row) {
                    float* d = dst.data() + static_cast<uint64_t>(row_map(static_cast<uint32_t>(row))) * b_cols;
                    for (uint64_t c = 0; c < s_cols; ++c) d[col_map(static_cast<uint32_t>(c))] = src[row * s_cols + c] * scale;
                }
                if (n == "token_embd.weight") {
                    for (uint64_t row = s_rows; row < t.ne[1]; ++row) {
                        std::memcpy(dst.data() + row * b_cols, dst.data() + (row % s_rows) * b_cols, b_cols * 4);
                    }
                }
            }
        }
        encode(t.matrix ? type : GgmlType::F32, dst.data(), dst.size(), &bytes);
        if (Status st2 = out.write_tensor_data(bytes.data(), bytes.size()); !st2.ok()) return fail(st2);
    }
    if (Status st = out.commit(); !st.ok()) return fail(st);
    std::printf("widened %u x %u layers -> %u x %u layers; heads %u/%u d%u -> %u/%u d%u; ffn %u -> %u; vocab %u -> %u; "
                "eps %g -> %g, norm gains x %.6f, W_q x %.6f\n",
                s.n_embd, s.n_layer, b.n_embd, b.n_layer, s.n_head, s.n_head_kv, s.head_dim, b.n_head, b.n_head_kv,
                b.head_dim, s.n_ff, b.n_ff, s.n_vocab, b.n_vocab, s.eps, eps, norm_scale, q_scale);
    return 0;
}

bool parse_type(const std::string& s, GgmlType* t) {
    if (s == "bf16") *t = GgmlType::BF16;
    else if (s == "f16") *t = GgmlType::F16;
    else if (s == "f32") *t = GgmlType::F32;
    else return false;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) return usage();
    const std::string mode = argv[1];
    std::vector<std::string> positional;
    std::string shape = "0.5b", type_name = "bf16", donor;
    uint64_t seed = 20261128;
    uint32_t pad_vocab = 0;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--shape") shape = next();
        else if (a == "--type") type_name = next();
        else if (a == "--tokenizer-from") donor = next();
        else if (a == "--seed") seed = std::strtoull(next().c_str(), nullptr, 10);
        else if (a == "--pad-vocab") pad_vocab = static_cast<uint32_t>(std::strtoul(next().c_str(), nullptr, 10));
        else if (a.rfind("--", 0) == 0) return usage();
        else positional.push_back(a);
    }
    GgmlType type;
    if (!parse_type(type_name, &type)) return usage();
    if (mode == "random" && positional.size() == 1 && !donor.empty()) {
        Shape s;
        if (!shape_by_name(shape, &s)) return usage();
        return make_random(positional[0], s, type, donor, seed);
    }
    if (mode == "widen" && positional.size() == 2) return widen(positional[0], positional[1], shape, type, pad_vocab);
    return usage();
}
