// make-fuzz-corpus: writes the fuzz targets' committed inputs under native/fuzz/, every one made here from tiny
// models written with the project's own GgufWriter (no real model is copied):
//   seeds/gguf/           valid models — llama + SentencePiece, qwen2 + byte-level BPE with FIM tokens — in every
//                         weight type the engine reads (F32, F16, BF16, Q8_0, MXFP4), each well under 64 KB;
//   seeds/tokenizer/      short texts: code, FIM markers, special-token text, Unicode, invalid UTF-8, whitespace;
//   regressions/gguf/     one damaged or hostile file per known kind of attack on a GGUF reader or model loader;
//   regressions/gguf.tsv  for each of those, the words its refusal must contain and what it is
//                         (native/tests/test-gguf-regressions.cpp checks them).
// The output is deterministic (its own PRNG, no time stamps), so --check can compare it with the committed files.
//
//   make-fuzz-corpus OUT_DIR        write everything under OUT_DIR (native/fuzz refreshes the committed set)
//   make-fuzz-corpus --check DIR    regenerate in a temporary folder and compare with DIR (exit 1 on a difference)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/float-convert.h"
#include "gguf/gguf-reader.h"
#include "gguf/gguf-writer.h"
#include "model/convert.h"
#include "test-util.h"
#include "tokenizer/unicode.h"

using namespace specqd;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

[[noreturn]] void die(const std::string& message) {
    std::fprintf(stderr, "make-fuzz-corpus: %s\n", message.c_str());
    std::exit(1);
}

void must(const Status& st) {
    if (!st) die(st.message());
}

// ---------------------------------------------------------------------------------------------------------------
// Tiny models

struct TensorSpec {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> ne;
    std::optional<float> fill = std::nullopt;  // every element this value instead of random ones
};

// A model file before it is written: metadata and tensors in file order. Regressions edit one of these.
struct ModelFile {
    std::vector<std::pair<std::string, GgufValue>> metadata;
    std::vector<TensorSpec> tensors;

    void set(const std::string& key, GgufValue value) {
        for (auto& [k, v] : metadata) {
            if (k == key) {
                v = std::move(value);
                return;
            }
        }
        metadata.emplace_back(key, std::move(value));
    }
    void erase(const std::string& key) {
        std::erase_if(metadata, [&](const auto& kv) { return kv.first == key; });
    }
    GgufArray array(const std::string& key) const {
        for (const auto& [k, v] : metadata) {
            if (k == key && v.as_array()) return *v.as_array();
        }
        die("no array key " + key);
    }
    TensorSpec& tensor(const std::string& name) {
        for (TensorSpec& t : tensors) {
            if (t.name == name) return t;
        }
        die("no tensor " + name);
    }
};

// Deterministic pseudo-random numbers (xorshift64*): the same bytes with every compiler and standard library.
class Rng {
public:
    explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint64_t next() {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return state_ * 0x2545F4914F6CDD1Dull;
    }
    float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1 << 23) - 1.0f; }  // [-1, 1)

private:
    uint64_t state_;
};

enum class Tokenizer { SentencePiece, BytePairs };

struct Shape {
    std::string arch;  // "llama" or "qwen2"
    Tokenizer tokenizer;
    uint32_t n_embd, n_ff, n_head, n_head_kv;
    GgmlType type;   // the matrices; norms and biases are F32
    bool tied;       // no output.weight
    bool all_bytes;  // a token for every byte (else printable ASCII, newline and tab only)
};

// SentencePiece: <unk> <s> </s>, one byte token, pieces that spell "def"/"return" by score, CodeLlama's FIM tokens.
void add_sentencepiece(ModelFile* m, bool all_bytes) {
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};
    for (int b = 0; b < 256; ++b) {
        if (!all_bytes && b != '\n') continue;
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        tokens.push_back(name);
        types.push_back(6);
    }
    for (const char* t : {"▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"}) {
        tokens.push_back(t);
        types.push_back(3);
    }
    for (const char* t : {"▁", "a", "b", "d",  "e",  "f",   "n",    "r",  "t",   "u",   "x",      "(",       ")", ":",
                          ",", "=", "+", "re", "de", "▁de", "▁def", "ur", "urn", "ret", "return", "▁return", "▁a"}) {
        tokens.push_back(t);
        types.push_back(1);
    }
    std::vector<float> scores(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) scores[i] = -static_cast<float>(i);  // longer pieces come later
    m->set("tokenizer.ggml.model", GgufValue::of_string("llama"));
    m->set("tokenizer.ggml.tokens", GgufValue::of_array(GgufArray::of_strings(tokens)));
    m->set("tokenizer.ggml.scores", GgufValue::of_array(GgufArray::of_f32(scores)));
    m->set("tokenizer.ggml.token_type", GgufValue::of_array(GgufArray::of_i32(types)));
    m->set("tokenizer.ggml.bos_token_id", GgufValue::of_u32(1));
    m->set("tokenizer.ggml.eos_token_id", GgufValue::of_u32(2));
    m->set("tokenizer.ggml.unknown_token_id", GgufValue::of_u32(0));
    m->set("tokenizer.ggml.add_bos_token", GgufValue::of_bool(true));
}

// Byte-level BPE in GPT-2's alphabet with the qwen2 pre-tokenizer, a few merges, and Qwen's special tokens.
void add_byte_pairs(ModelFile* m, bool all_bytes) {
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (int b = 0; b < 256; ++b) {
        if (!all_bytes && !(b >= 0x20 && b < 0x7F) && b != '\n' && b != '\t') continue;
        std::string text;
        utf8_append(gpt2_byte_to_codepoint(static_cast<uint8_t>(b)), &text);
        tokens.push_back(text);
        types.push_back(1);
    }
    const std::vector<std::pair<std::string, std::string>> merges = {
        {"d", "e"}, {"de", "f"}, {"Ġ", "Ġ"},     {"ĠĠ", "ĠĠ"}, {"r", "e"}, {"re", "t"},
        {"u", "r"}, {"ur", "n"}, {"ret", "urn"}, {"Ġ", "a"},   {"a", "d"}, {"ad", "d"},
    };
    std::vector<std::string> merge_texts;
    for (const auto& [left, right] : merges) {
        tokens.push_back(left + right);
        types.push_back(1);
        merge_texts.push_back(left + " " + right);
    }
    const uint32_t first_special = static_cast<uint32_t>(tokens.size());
    for (const char* t :
         {"<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>", "<|file_sep|>"}) {
        tokens.push_back(t);
        types.push_back(3);
    }
    m->set("tokenizer.ggml.model", GgufValue::of_string("gpt2"));
    m->set("tokenizer.ggml.pre", GgufValue::of_string("qwen2"));
    m->set("tokenizer.ggml.tokens", GgufValue::of_array(GgufArray::of_strings(tokens)));
    m->set("tokenizer.ggml.token_type", GgufValue::of_array(GgufArray::of_i32(types)));
    m->set("tokenizer.ggml.merges", GgufValue::of_array(GgufArray::of_strings(merge_texts)));
    m->set("tokenizer.ggml.bos_token_id", GgufValue::of_u32(first_special));
    m->set("tokenizer.ggml.eos_token_id", GgufValue::of_u32(first_special));
    m->set("tokenizer.ggml.padding_token_id", GgufValue::of_u32(first_special));
    m->set("tokenizer.ggml.fim_pre_token_id", GgufValue::of_u32(first_special + 1));
    m->set("tokenizer.ggml.fim_suf_token_id", GgufValue::of_u32(first_special + 2));
    m->set("tokenizer.ggml.fim_mid_token_id", GgufValue::of_u32(first_special + 3));
    m->set("tokenizer.ggml.add_bos_token", GgufValue::of_bool(false));
}

ModelFile tiny_model(const Shape& s) {
    ModelFile m;
    const std::string a = s.arch + ".";
    const uint32_t head_dim = s.n_embd / s.n_head;
    const uint64_t n_kv = uint64_t{s.n_head_kv} * head_dim;
    m.set("general.architecture", GgufValue::of_string(s.arch));
    m.set("general.name", GgufValue::of_string("specqd-fuzz-seed"));
    m.set("general.alignment", GgufValue::of_u32(32));
    m.set(a + "context_length", GgufValue::of_u32(128));
    m.set(a + "embedding_length", GgufValue::of_u32(s.n_embd));
    m.set(a + "block_count", GgufValue::of_u32(1));
    m.set(a + "feed_forward_length", GgufValue::of_u32(s.n_ff));
    m.set(a + "attention.head_count", GgufValue::of_u32(s.n_head));
    m.set(a + "attention.head_count_kv", GgufValue::of_u32(s.n_head_kv));
    m.set(a + "attention.layer_norm_rms_epsilon", GgufValue::of_f32(1e-5f));
    m.set(a + "rope.freq_base", GgufValue::of_f32(10000.0f));
    m.set(a + "rope.dimension_count", GgufValue::of_u32(head_dim));
    if (s.tokenizer == Tokenizer::SentencePiece)
        add_sentencepiece(&m, s.all_bytes);
    else
        add_byte_pairs(&m, s.all_bytes);
    const uint64_t n_vocab = m.array("tokenizer.ggml.tokens").items.size();

    m.tensors.push_back({"token_embd.weight", s.type, {s.n_embd, n_vocab}});
    const std::string p = "blk.0.";
    m.tensors.push_back({p + "attn_norm.weight", GgmlType::F32, {s.n_embd}});
    m.tensors.push_back({p + "attn_q.weight", s.type, {s.n_embd, s.n_embd}});
    m.tensors.push_back({p + "attn_k.weight", s.type, {s.n_embd, n_kv}});
    m.tensors.push_back({p + "attn_v.weight", s.type, {s.n_embd, n_kv}});
    if (s.arch == "qwen2") {
        m.tensors.push_back({p + "attn_q.bias", GgmlType::F32, {s.n_embd}});
        m.tensors.push_back({p + "attn_k.bias", GgmlType::F32, {n_kv}});
        m.tensors.push_back({p + "attn_v.bias", GgmlType::F32, {n_kv}});
    }
    m.tensors.push_back({p + "attn_output.weight", s.type, {s.n_embd, s.n_embd}});
    m.tensors.push_back({p + "ffn_norm.weight", GgmlType::F32, {s.n_embd}});
    m.tensors.push_back({p + "ffn_gate.weight", s.type, {s.n_embd, s.n_ff}});
    m.tensors.push_back({p + "ffn_up.weight", s.type, {s.n_embd, s.n_ff}});
    m.tensors.push_back({p + "ffn_down.weight", s.type, {s.n_ff, s.n_embd}});
    m.tensors.push_back({"output_norm.weight", GgmlType::F32, {s.n_embd}});
    if (!s.tied) m.tensors.push_back({"output.weight", s.type, {s.n_embd, n_vocab}});
    return m;
}

// The bytes of one tensor: norms near 1, everything else small, in the tensor's type (types the engine cannot
// compute with get deterministic noise of the right size).
Bytes tensor_data(const TensorSpec& t, Rng& rng) {
    const uint64_t n_bytes = GgufWriter::tensor_bytes(t.type, t.ne);
    if (n_bytes == 0 || n_bytes > (1u << 24)) die("tensor " + t.name + " has no sensible size");
    uint64_t n = 1;
    for (uint64_t d : t.ne) n *= d;
    std::vector<float> values(n);
    const bool norm = t.name.find("norm") != std::string::npos;
    for (float& v : values) v = t.fill ? *t.fill : norm ? 1.0f + 0.1f * rng.uniform() : 0.5f * rng.uniform();
    Bytes out(n_bytes);
    if (t.type == GgmlType::F32) {
        std::memcpy(out.data(), values.data(), n_bytes);
    } else if (t.type == GgmlType::F16 || t.type == GgmlType::BF16) {
        for (uint64_t i = 0; i < n; ++i) {
            const uint16_t h = t.type == GgmlType::F16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
    } else {
        const int64_t row = static_cast<int64_t>(t.ne[0]);
        const uint64_t row_bytes = GgufWriter::tensor_bytes(t.type, {t.ne[0]});
        for (uint64_t r = 0; r < n / t.ne[0]; ++r) {
            if (!quantize_row(t.type, values.data() + r * t.ne[0], row, out.data() + r * row_bytes)) {
                for (uint64_t i = 0; i < row_bytes; ++i) out[r * row_bytes + i] = static_cast<uint8_t>(rng.next());
            }
        }
    }
    return out;
}

Bytes write_model(const ModelFile& m, uint64_t seed) {
    test_util::TempDir dir;
    const std::string path = dir.file("model.gguf");
    GgufWriter w;
    for (const auto& [k, v] : m.metadata) w.set(k, v);
    for (const TensorSpec& t : m.tensors) must(w.add_tensor(t.name, t.type, t.ne));
    must(w.open(path));
    Rng rng(seed);
    for (const TensorSpec& t : m.tensors) {
        const Bytes data = tensor_data(t, rng);
        must(w.write_tensor_data(data.data(), data.size()));
    }
    must(w.commit());
    return test_util::read_file(path);
}

// A copy of `model` with its matrices cast by the project's converter (what `specqd convert/quantize` writes).
Bytes convert(const Bytes& model, GgmlType type) {
    test_util::TempDir dir;
    test_util::write_file(dir.file("in.gguf"), model);
    ConvertOptions options;
    options.type = type;
    options.convert_embedding = type != GgmlType::MXFP4;  // as the addon does: MXFP4 keeps the embedding
    ConvertReport report;
    must(convert_model(dir.file("in.gguf"), dir.file("out.gguf"), options, &report));
    return test_util::read_file(dir.file("out.gguf"));
}

// ---------------------------------------------------------------------------------------------------------------
// Byte surgery on a written file

// The offset just past the length-prefixed string `text` (a metadata key or a tensor name); it must occur once.
size_t after_string(const Bytes& b, const std::string& text) {
    const uint64_t length = text.size();
    Bytes pattern(8);
    std::memcpy(pattern.data(), &length, 8);
    pattern.insert(pattern.end(), text.begin(), text.end());
    const auto first = std::search(b.begin(), b.end(), pattern.begin(), pattern.end());
    if (first == b.end()) die("'" + text + "' not found");
    if (std::search(first + 1, b.end(), pattern.begin(), pattern.end()) != b.end()) die("'" + text + "' found twice");
    return static_cast<size_t>(first - b.begin()) + pattern.size();
}

template <typename T>
Bytes poke(Bytes b, size_t at, T value) {
    if (at + sizeof value > b.size()) die("poke past the end");
    std::memcpy(b.data() + at, &value, sizeof value);
    return b;
}

// Where the fields of a metadata entry or a tensor's directory entry start.
size_t value_type_at(const Bytes& b, const std::string& key) {
    return after_string(b, key);
}
size_t value_at(const Bytes& b, const std::string& key) {
    return after_string(b, key) + 4;
}
size_t n_dims_at(const Bytes& b, const std::string& tensor) {
    return after_string(b, tensor);
}
size_t ne_at(const Bytes& b, const std::string& tensor) {
    return after_string(b, tensor) + 4;
}
size_t type_at(const Bytes& b, const std::string& tensor, uint32_t n_dims) {
    return ne_at(b, tensor) + 8 * n_dims;
}
size_t offset_at(const Bytes& b, const std::string& tensor, uint32_t n_dims) {
    return type_at(b, tensor, n_dims) + 4;
}

uint64_t read_u64(const Bytes& b, size_t at) {
    uint64_t v = 0;
    std::memcpy(&v, b.data() + at, 8);
    return v;
}

Bytes cut(const Bytes& b, size_t size) {
    return Bytes(b.begin(), b.begin() + static_cast<long>(size));
}

// ---------------------------------------------------------------------------------------------------------------
// The corpus

const Shape kSeedLlama{"llama", Tokenizer::SentencePiece, 32, 32, 2, 1, GgmlType::F32, false, false};
const Shape kSeedQwen{"qwen2", Tokenizer::BytePairs, 32, 32, 2, 1, GgmlType::F16, true, true};
// The regressions' base: as small as a complete model gets (one 16-wide layer, F16 matrices, 35 tokens).
const Shape kBaseLlama{"llama", Tokenizer::SentencePiece, 16, 16, 2, 1, GgmlType::F16, true, false};
const Shape kBaseQwen{"qwen2", Tokenizer::BytePairs, 16, 16, 2, 1, GgmlType::F16, true, false};

// A file that once broke something. Most must be refused with a message containing `expected`; a valid model that
// is hostile in its values (expected == kLoads) must load and complete.
struct Regression {
    std::string file;
    std::string expected;
    std::string what;
    std::function<Bytes()> make;
};
const std::string kLoads = "LOADS AND COMPLETES";

Bytes base() {
    return write_model(tiny_model(kBaseLlama), 1);
}
Bytes base_with(const std::function<void(ModelFile&)>& edit, const Shape& shape = kBaseLlama) {
    ModelFile m = tiny_model(shape);
    edit(m);
    return write_model(m, 1);
}

std::vector<Regression> regressions() {
    const std::string embd = "token_embd.weight";
    const std::string q = "blk.0.attn_q.weight";
    const std::string k = "blk.0.attn_k.weight";
    const std::string v = "blk.0.attn_v.weight";
    const std::string tokens = "tokenizer.ggml.tokens";
    const size_t n_tokens = tiny_model(kBaseLlama).array(tokens).items.size();
    const std::string n = std::to_string(n_tokens);
    std::vector<Regression> r;
    // The header.
    r.push_back(
        {"not-gguf.gguf", "not a GGUF file", "wrong magic", [] { return poke<uint32_t>(base(), 0, 0x46554758); }});
    r.push_back(
        {"version-1.gguf", "version 1 is not supported", "GGUF v1", [] { return poke<uint32_t>(base(), 4, 1); }});
    r.push_back(
        {"big-endian.gguf", "big-endian", "a byte-swapped file", [] { return poke<uint32_t>(base(), 4, 0x03000000); }});
    r.push_back({"future-version.gguf", "unsupported GGUF version 4", "a version from the future",
                 [] { return poke<uint32_t>(base(), 4, 4); }});
    r.push_back({"truncated-header.gguf", "tensor count at offset 8: file ends early", "cut inside the header",
                 [] { return cut(base(), 12); }});
    // Counts and lengths that cannot fit: refused before anything is allocated for them.
    r.push_back({"huge-metadata-count.gguf", "metadata count 1152921504606846976 at offset 16 cannot fit",
                 "metadata count 2^60", [] { return poke<uint64_t>(base(), 16, 1ull << 60); }});
    r.push_back({"tensor-count-overflow.gguf", "tensor count 18446744073709551615 at offset 8 cannot fit",
                 "tensor count whose directory size overflows", [] { return poke<uint64_t>(base(), 8, ~0ull); }});
    r.push_back({"tensor-count-one-too-many.gguf", "tensor #", "one tensor more than the directory holds", [] {
                     const Bytes b = base();
                     return poke<uint64_t>(b, 8, read_u64(b, 8) + 1);
                 }});
    r.push_back({"huge-key-length.gguf", "runs past the end of the file", "first key's length 2^62",
                 [] { return poke<uint64_t>(base(), 24, 1ull << 62); }});
    r.push_back({"huge-string-length.gguf", "string length 4611686018427387904 runs past the end",
                 "a string value's length 2^62", [] {
                     const Bytes b = base();
                     return poke<uint64_t>(b, value_at(b, "general.name"), 1ull << 62);
                 }});
    r.push_back(
        {"huge-array-length.gguf", "array length 1099511627776 cannot fit", "the token array's count 2^40", [=] {
             const Bytes b = base();
             return poke<uint64_t>(b, value_at(b, tokens) + 4, 1ull << 40);
         }});
    r.push_back({"array-length-overflow.gguf", "array length 4611686018427387904 cannot fit",
                 "an array count whose byte size overflows", [=] {
                     const Bytes b = base();
                     return poke<uint64_t>(b, value_at(b, tokens) + 4, 1ull << 62);
                 }});
    r.push_back({"huge-token-length.gguf", "value of 'tokenizer.ggml.tokens'[0]", "one token's length 2^62", [=] {
                     const Bytes b = base();
                     return poke<uint64_t>(b, value_at(b, tokens) + 12, 1ull << 62);
                 }});
    r.push_back({"truncated-metadata.gguf", "value of 'tokenizer.ggml.tokens'", "cut inside the token list", [=] {
                     const Bytes b = base();
                     return cut(b, value_at(b, tokens) + 40);
                 }});
    r.push_back({"truncated-directory.gguf", "file ends early (truncated)", "cut inside the tensor directory", [=] {
                     const Bytes b = base();
                     return cut(b, n_dims_at(b, v) + 6);
                 }});
    r.push_back({"truncated-data.gguf", "lies outside the file", "cut inside the tensor data", [] {
                     const Bytes b = base();
                     return cut(b, b.size() - 40);
                 }});
    // Metadata values.
    r.push_back({"arrays-nested-too-deep.gguf", "arrays nested deeper than 8", "nine arrays inside each other", [] {
                     return base_with([](ModelFile& m) {
                         GgufValue nested = GgufValue::of_array(GgufArray::of_i32({1}));
                         for (int depth = 0; depth < 9; ++depth) {
                             GgufArray outer;
                             outer.element_type = GgufValueType::ARRAY;
                             outer.items.push_back(nested);
                             nested = GgufValue::of_array(outer);
                         }
                         m.set("fuzz.nested", nested);
                     });
                 }});
    r.push_back({"unknown-metadata-type.gguf", "unknown metadata type 13", "a value type id past the spec's", [] {
                     const Bytes b = base();
                     return poke<uint32_t>(b, value_type_at(b, "general.name"), 13);
                 }});
    r.push_back({"unknown-array-element-type.gguf", "unknown array element type 99", "an array of type 99", [=] {
                     const Bytes b = base();
                     return poke<uint32_t>(b, value_at(b, tokens), 99);
                 }});
    r.push_back({"bool-out-of-range.gguf", "bool value 2 is neither 0 nor 1", "a bool stored as 2", [] {
                     const Bytes b = base();
                     return poke<uint8_t>(b, value_at(b, "tokenizer.ggml.add_bos_token"), 2);
                 }});
    r.push_back({"duplicate-key.gguf", "duplicate key 'fuzz.key.a'", "the same key twice", [] {
                     Bytes b = base_with([](ModelFile& m) {
                         m.set("fuzz.key.a", GgufValue::of_u32(1));
                         m.set("fuzz.key.b", GgufValue::of_u32(2));
                     });
                     b[after_string(b, "fuzz.key.b") - 1] = 'a';
                     return b;
                 }});
    r.push_back({"alignment-not-power-of-two.gguf", "general.alignment 48 is not a power of two", "alignment 48", [] {
                     const Bytes b = base();
                     return poke<uint32_t>(b, value_at(b, "general.alignment"), 48);
                 }});
    r.push_back({"alignment-wrong-type.gguf", "general.alignment must be a u32", "alignment stored as i32", [] {
                     const Bytes b = base();
                     return poke<uint32_t>(b, value_type_at(b, "general.alignment"), 5);
                 }});
    // The tensor directory.
    r.push_back({"five-dimensions.gguf", "dimension count 5 is not in 1..4", "more than 4 dimensions", [=] {
                     const Bytes b = base();
                     return poke<uint32_t>(b, n_dims_at(b, embd), 5);
                 }});
    r.push_back({"zero-dimensions.gguf", "dimension count 0 is not in 1..4", "no dimensions", [=] {
                     const Bytes b = base();
                     return poke<uint32_t>(b, n_dims_at(b, embd), 0);
                 }});
    r.push_back({"zero-dimension.gguf", "dimension 0 is 0", "a dimension of size 0", [=] {
                     const Bytes b = base();
                     return poke<uint64_t>(b, ne_at(b, embd), 0);
                 }});
    r.push_back({"dimension-product-overflow.gguf", "element count overflows", "2^32 x 2^32 elements", [=] {
                     const Bytes b = base();
                     return poke<uint64_t>(poke<uint64_t>(b, ne_at(b, embd), 1ull << 32), ne_at(b, embd) + 8,
                                           1ull << 32);
                 }});
    r.push_back({"byte-size-overflow.gguf", "byte size overflows", "2^62 F64 elements: 2^65 bytes", [=] {
                     Bytes b = base();
                     b = poke<uint64_t>(b, ne_at(b, embd), 1ull << 61);
                     b = poke<uint64_t>(b, ne_at(b, embd) + 8, 2);
                     return poke<uint32_t>(b, type_at(b, embd, 2), 28);
                 }});
    r.push_back({"unknown-type-retired.gguf", "unknown tensor type id 4", "type 4 (ggml's retired Q4_2)", [=] {
                     const Bytes b = base();
                     return poke<uint32_t>(b, type_at(b, q, 2), 4);
                 }});
    r.push_back({"unknown-type-future.gguf", "unknown tensor type id 1000", "a type id from the future", [=] {
                     const Bytes b = base();
                     return poke<uint32_t>(b, type_at(b, q, 2), 1000);
                 }});
    r.push_back({"row-not-whole-blocks.gguf", "is not a whole number of Q8_0 blocks of 32", "Q8_0 rows of 16", [] {
                     const Bytes b = base();
                     return poke<uint32_t>(b, type_at(b, "blk.0.attn_norm.weight", 1), 8);
                 }});
    r.push_back(
        {"duplicate-tensor-name.gguf", "duplicate tensor name 'blk.0.attn_q.weight'", "the same tensor twice", [=] {
             Bytes b = base();
             b[after_string(b, k) - 8] = 'q';  // blk.0.attn_k.weight -> blk.0.attn_q.weight
             return b;
         }});
    // Tensor data.
    r.push_back({"offset-outside-file.gguf", "lies outside the file", "data offset 2^40", [=] {
                     const Bytes b = base();
                     return poke<uint64_t>(b, offset_at(b, q, 2), 1ull << 40);
                 }});
    r.push_back({"offset-size-overflow.gguf", "lies outside the file", "offset + size overflows 64 bits", [=] {
                     const Bytes b = base();
                     return poke<uint64_t>(b, offset_at(b, q, 2), 0xffffffffffffffe0ull);
                 }});
    r.push_back({"misaligned-offset.gguf", "is not a multiple of the alignment 32", "offset off the alignment", [=] {
                     const Bytes b = base();
                     return poke<uint64_t>(b, offset_at(b, q, 2), read_u64(b, offset_at(b, q, 2)) + 4);
                 }});
    r.push_back({"overlapping-tensors.gguf", "tensor data regions overlap", "two tensors on the same bytes", [=] {
                     const Bytes b = base();
                     return poke<uint64_t>(b, offset_at(b, k, 2), read_u64(b, offset_at(b, q, 2)));
                 }});
    r.push_back({"type-disagrees-with-size.gguf", "not where the sizes of the tensors before it put it",
                 "an F16 matrix relabelled I8 (half its bytes)", [=] {
                     const Bytes b = base();
                     return poke<uint32_t>(b, type_at(b, q, 2), 24);
                 }});
    r.push_back({"shape-disagrees-with-size.gguf", "not where the sizes of the tensors before it put it",
                 "a matrix with half its rows", [=] {
                     const Bytes b = base();
                     return poke<uint64_t>(b, ne_at(b, q) + 8, 8);
                 }});
    r.push_back({"last-tensor-grown.gguf", "lies outside the file", "the last tensor 64 times longer", [] {
                     const Bytes b = base();
                     return poke<uint64_t>(b, ne_at(b, "output_norm.weight"), 16 * 64);
                 }});
    // The model loader: hyperparameters and tensors.
    r.push_back({"missing-architecture.gguf", "missing metadata key 'general.architecture'", "no architecture",
                 [] { return base_with([](ModelFile& m) { m.erase("general.architecture"); }); }});
    r.push_back(
        {"unsupported-architecture.gguf", "unsupported architecture 'gptneox'", "an architecture not run here", [] {
             return base_with([](ModelFile& m) { m.set("general.architecture", GgufValue::of_string("gptneox")); });
         }});
    r.push_back({"missing-hparam.gguf", "missing metadata key 'llama.embedding_length'", "no embedding length",
                 [] { return base_with([](ModelFile& m) { m.erase("llama.embedding_length"); }); }});
    r.push_back(
        {"hparam-wrong-type.gguf", "'llama.block_count' is not an unsigned 32-bit integer", "block count as a string",
         [] { return base_with([](ModelFile& m) { m.set("llama.block_count", GgufValue::of_string("1")); }); }});
    r.push_back({"hparam-implausible.gguf", "model dimensions are implausibly large", "a million blocks", [] {
                     return base_with([](ModelFile& m) { m.set("llama.block_count", GgufValue::of_u32(1000000)); });
                 }});
    r.push_back({"hparam-zero.gguf", "model dimensions must be non-zero", "zero heads", [] {
                     return base_with([](ModelFile& m) { m.set("llama.attention.head_count", GgufValue::of_u32(0)); });
                 }});
    r.push_back(
        {"heads-not-dividing.gguf", "is not a multiple of head_count_kv 3", "2 heads over 3 KV heads",
         [] { return base_with([](ModelFile& m) { m.set("llama.attention.head_count_kv", GgufValue::of_u32(3)); }); }});
    r.push_back({"rope-dimensions-too-large.gguf", "rope.dimension_count 64 does not fit head dimension 8",
                 "rotating more than a head", [] {
                     return base_with([](ModelFile& m) { m.set("llama.rope.dimension_count", GgufValue::of_u32(64)); });
                 }});
    r.push_back({"rope-scaling-unsupported.gguf", "rope scaling 'yarn' is not supported", "YaRN scaling", [] {
                     return base_with(
                         [](ModelFile& m) { m.set("llama.rope.scaling.type", GgufValue::of_string("yarn")); });
                 }});
    r.push_back({"missing-tensor.gguf", "missing tensor 'blk.0.ffn_up.weight'", "a projection left out", [] {
                     return base_with([](ModelFile& m) {
                         std::erase_if(m.tensors, [](const TensorSpec& t) { return t.name == "blk.0.ffn_up.weight"; });
                     });
                 }});
    r.push_back({"tensor-wrong-shape.gguf", "'blk.0.attn_q.weight' has shape [16, 8], expected [16, 16]",
                 "a projection of the wrong shape", [=] {
                     return base_with([=](ModelFile& m) { m.tensor(q).ne = {16, 8}; });
                 }});
    r.push_back({"tensor-type-unsupported.gguf", "has type I32, which the engine does not support",
                 "a projection stored as I32",
                 [=] { return base_with([=](ModelFile& m) { m.tensor(q).type = GgmlType::I32; }); }});
    r.push_back({"embedding-wrong-width.gguf",
                 "'token_embd.weight' has shape [8, " + std::to_string(2 * n_tokens) + "], expected [16, n_vocab]",
                 "an embedding narrower than the model", [=] {
                     return base_with([=](ModelFile& m) {
                         TensorSpec& t = m.tensor(embd);
                         t.ne = {8, t.ne[1] * 2};
                     });
                 }});
    r.push_back({"more-tokens-than-embedding-rows.gguf",
                 "the tokenizer has " + n + " tokens but the embedding only " + std::to_string(n_tokens - 1) + " rows",
                 "a vocabulary larger than the embedding",
                 [=] { return base_with([=](ModelFile& m) { m.tensor(embd).ne[1] -= 1; }); }});
    // The tokenizer.
    r.push_back({"missing-tokenizer.gguf", "the file has no tokenizer", "no tokenizer.ggml.model",
                 [] { return base_with([](ModelFile& m) { m.erase("tokenizer.ggml.model"); }); }});
    r.push_back(
        {"unknown-tokenizer.gguf", "'bert' is not supported", "a WordPiece tokenizer",
         [] { return base_with([](ModelFile& m) { m.set("tokenizer.ggml.model", GgufValue::of_string("bert")); }); }});
    r.push_back({"missing-tokens.gguf", "missing metadata key 'tokenizer.ggml.tokens'", "no token list",
                 [=] { return base_with([=](ModelFile& m) { m.erase(tokens); }); }});
    r.push_back(
        {"tokens-not-strings.gguf", "'tokenizer.ggml.tokens' must be an array of strings", "tokens as i32", [=] {
             return base_with([=](ModelFile& m) {
                 m.set(tokens, GgufValue::of_array(GgufArray::of_i32(std::vector<int32_t>(n_tokens, 7))));
             });
         }});
    r.push_back(
        {"bos-id-out-of-range.gguf", "bos_token_id = 999 is out of range", "BOS id past the vocabulary",
         [] { return base_with([](ModelFile& m) { m.set("tokenizer.ggml.bos_token_id", GgufValue::of_u32(999)); }); }});
    r.push_back(
        {"eos-id-negative.gguf", "eos_token_id = -5 is out of range", "a negative EOS id",
         [] { return base_with([](ModelFile& m) { m.set("tokenizer.ggml.eos_token_id", GgufValue::of_i32(-5)); }); }});
    r.push_back({"unk-id-out-of-range.gguf", "unknown_token_id = 4294967294 is out of range", "UNK id 2^32 - 2", [] {
                     return base_with([](ModelFile& m) {
                         m.set("tokenizer.ggml.unknown_token_id", GgufValue::of_u32(0xFFFFFFFEu));
                     });
                 }});
    r.push_back({"fim-id-out-of-range.gguf", "fim_pre_token_id = 70000 is out of range", "FIM prefix id 70000", [] {
                     return base_with(
                         [](ModelFile& m) { m.set("tokenizer.ggml.fim_pre_token_id", GgufValue::of_u32(70000)); },
                         kBaseQwen);
                 }});
    r.push_back({"token-type-out-of-range.gguf", "token_type[5] = 9 is not a token type", "token type 9", [] {
                     return base_with([](ModelFile& m) {
                         GgufArray types = m.array("tokenizer.ggml.token_type");
                         types.items[5] = GgufValue::of_i32(9);
                         m.set("tokenizer.ggml.token_type", GgufValue::of_array(types));
                     });
                 }});
    r.push_back({"token-types-length-mismatch.gguf",
                 "token_type has " + std::to_string(n_tokens - 1) + " entries but tokenizer.ggml.tokens has " + n,
                 "one token type short", [] {
                     return base_with([](ModelFile& m) {
                         GgufArray types = m.array("tokenizer.ggml.token_type");
                         types.items.pop_back();
                         m.set("tokenizer.ggml.token_type", GgufValue::of_array(types));
                     });
                 }});
    r.push_back({"scores-length-mismatch.gguf",
                 "scores has " + std::to_string(n_tokens + 1) + " entries but tokenizer.ggml.tokens has " + n,
                 "one score too many", [] {
                     return base_with([](ModelFile& m) {
                         GgufArray scores = m.array("tokenizer.ggml.scores");
                         scores.items.push_back(GgufValue::of_f32(0.0f));
                         m.set("tokenizer.ggml.scores", GgufValue::of_array(scores));
                     });
                 }});
    r.push_back({"score-nan.gguf", "scores[7] is NaN", "a NaN score", [] {
                     return base_with([](ModelFile& m) {
                         GgufArray scores = m.array("tokenizer.ggml.scores");
                         scores.items[7] = GgufValue::of_f32(std::nanf(""));
                         m.set("tokenizer.ggml.scores", GgufValue::of_array(scores));
                     });
                 }});
    r.push_back({"duplicate-token.gguf", "holds 'a' twice", "two tokens with the same text", [=] {
                     return base_with([=](ModelFile& m) {
                         GgufArray list = m.array(tokens);
                         list.items[list.items.size() - 1] = GgufValue::of_string("a");
                         m.set(tokens, GgufValue::of_array(list));
                     });
                 }});
    r.push_back({"merges-missing.gguf", "missing metadata key 'tokenizer.ggml.merges'", "BPE without merges",
                 [] { return base_with([](ModelFile& m) { m.erase("tokenizer.ggml.merges"); }, kBaseQwen); }});
    r.push_back({"merge-unknown-token.gguf", "'zz' is not a token", "a merge naming a token that does not exist", [] {
                     return base_with(
                         [](ModelFile& m) {
                             GgufArray merges = m.array("tokenizer.ggml.merges");
                             merges.items.push_back(GgufValue::of_string("a zz"));
                             m.set("tokenizer.ggml.merges", GgufValue::of_array(merges));
                         },
                         kBaseQwen);
                 }});
    r.push_back({"merge-without-space.gguf", "is not two tokens separated by a space", "a merge with no space", [] {
                     return base_with(
                         [](ModelFile& m) {
                             GgufArray merges = m.array("tokenizer.ggml.merges");
                             merges.items[0] = GgufValue::of_string("de");
                             m.set("tokenizer.ggml.merges", GgufValue::of_array(merges));
                         },
                         kBaseQwen);
                 }});
    // Valid files with hostile values, found by fuzz-gguf.
    r.push_back({"infinite-embedding.gguf", kLoads,
                 "an embedding of +Inf, so every logit is NaN (a NaN draft confidence was once converted to int)",
                 [=] { return base_with([=](ModelFile& m) { m.tensor(embd).fill = INFINITY; }); }});
    return r;
}

struct TextSeed {
    std::string file;
    std::string text;
};

// Stray continuation bytes, cut sequences, a UTF-16 surrogate, an overlong '/', a NUL.
constexpr char kInvalidUtf8[] = "\xff\xfe a\xc3 b\xe2\x82 c\xf0\x9f\x99 \xed\xa0\x80 \xc0\xaf \0 end";

std::vector<TextSeed> text_seeds() {
    return {
        {"code.txt", "def add(a, b):\n    return a + b\n\n\nclass Point:\n    x: int = 0\n"},
        {"fim-markers.txt", "<|fim_prefix|>def f(<|fim_suffix|>)\n<|fim_middle|>x<|endoftext|>"},
        {"special-text.txt", "<s>Once</s> upon <unk> a ▁<PRE> time<|file_sep|><|im_end|>"},
        {"unicode.txt", "héllo wörld — 日本語 🙂 Ελληνικά ▁▁spaces ﬁ\u00a0nbsp"},
        {"invalid-utf8.bin", std::string(kInvalidUtf8, sizeof kInvalidUtf8 - 1)},
        {"whitespace.txt", "   \n\n\t  x  \r\n\r\n\t\t y\u3000z  "},
        {"numbers.txt", "1234567890 3.14159e-10 0xDEADBEEF 1_000_000 ١٢٣"},
        {"contractions.txt", "don't I'LL we've they'RE it'S you'd WE'D"},
    };
}

// Writes the whole corpus under `dir`; returns the files written (relative paths).
std::vector<std::string> write_corpus(const fs::path& dir) {
    std::vector<std::string> written;
    const auto put = [&](const std::string& rel, const Bytes& bytes) {
        if (bytes.size() >= 64 * 1024) die(rel + " is " + std::to_string(bytes.size()) + " bytes: keep it under 64 KB");
        fs::create_directories((dir / rel).parent_path());
        test_util::write_file((dir / rel).string(), bytes);
        written.push_back(rel);
    };
    const Bytes llama = write_model(tiny_model(kSeedLlama), 7);
    const Bytes qwen = write_model(tiny_model(kSeedQwen), 8);
    put("seeds/gguf/llama-spm-f32.gguf", llama);
    put("seeds/gguf/llama-spm-bf16.gguf", convert(llama, GgmlType::BF16));
    put("seeds/gguf/llama-spm-q8_0.gguf", convert(llama, GgmlType::Q8_0));
    put("seeds/gguf/qwen2-bpe-f16.gguf", qwen);
    put("seeds/gguf/qwen2-bpe-mxfp4.gguf", convert(qwen, GgmlType::MXFP4));
    for (const TextSeed& s : text_seeds()) put("seeds/tokenizer/" + s.file, Bytes(s.text.begin(), s.text.end()));

    std::string tsv =
        "# Regression files for the GGUF reader and model loader (native/fuzz/make-fuzz-corpus.cpp writes them).\n"
        "# file\twords the refusal must contain\twhat the file is\n";
    for (const Regression& r : regressions()) {
        put("regressions/gguf/" + r.file, r.make());
        tsv += r.file + "\t" + r.expected + "\t" + r.what + "\n";
    }
    put("regressions/gguf.tsv", Bytes(tsv.begin(), tsv.end()));
    return written;
}

int check(const fs::path& committed) {
    test_util::TempDir fresh;
    const std::vector<std::string> files = write_corpus(fresh.path());
    int differences = 0;
    for (const std::string& rel : files) {
        if (test_util::read_file((committed / rel).string()) != test_util::read_file(fresh.file(rel))) {
            std::fprintf(stderr, "differs from what make-fuzz-corpus writes: %s\n", (committed / rel).c_str());
            ++differences;
        }
    }
    // Files of the generated folders that the generator no longer writes.
    for (const char* folder : {"seeds/gguf", "seeds/tokenizer", "regressions/gguf"}) {
        for (const auto& e : fs::directory_iterator(committed / folder)) {
            const std::string rel = std::string(folder) + "/" + e.path().filename().string();
            if (std::find(files.begin(), files.end(), rel) == files.end()) {
                std::fprintf(stderr, "not written by make-fuzz-corpus (stale?): %s\n", e.path().c_str());
                ++differences;
            }
        }
    }
    if (differences > 0) {
        std::fprintf(stderr, "%d difference(s); run make-fuzz-corpus %s to refresh the committed corpus\n", differences,
                     committed.c_str());
        return 1;
    }
    std::printf("make-fuzz-corpus: the %zu committed files in %s are current\n", files.size(), committed.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--check") return check(argv[2]);
    if (argc != 2 || argv[1][0] == '-') {
        std::fprintf(stderr, "usage: make-fuzz-corpus OUT_DIR | --check DIR\n");
        return 2;
    }
    const std::vector<std::string> files = write_corpus(argv[1]);
    std::printf("make-fuzz-corpus: wrote %zu files under %s\n", files.size(), argv[1]);
    return 0;
}
