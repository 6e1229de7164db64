// GGUF reader and writer: the shared stories260K model, writer round trips, refusal of damaged files, and the two
// ways a file's bytes are held (a memory map, or a copy on huge pages).
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "base/huge-page-buffer.h"
#include "base/mapped-file.h"
#include "check.h"
#include "gguf/gguf-reader.h"
#include "gguf/gguf-writer.h"
#include "test-util.h"

using namespace specqd;

namespace {

const std::string kStories = check::shared_path("models/stories260K.gguf");

void test_reads_stories260k() {
    GgufFile f;
    const Status st = f.open(kStories);
    CHECK_MSG(st.is_ok(), st.message());
    if (!st) return;
    CHECK_EQ(f.version(), 3u);
    CHECK_EQ(f.alignment(), 32u);
    CHECK_EQ(f.data_offset(), 14176u);
    CHECK_EQ(f.metadata().size(), 19u);
    CHECK_EQ(f.tensors().size(), 48u);
    std::string arch;
    CHECK(f.get_string("general.architecture", &arch).is_ok());
    CHECK(arch == "llama");
    uint32_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0;
    CHECK(f.get_u32("llama.embedding_length", &n_embd).is_ok());
    CHECK(f.get_u32("llama.block_count", &n_layer).is_ok());
    CHECK(f.get_u32("llama.attention.head_count", &n_head).is_ok());
    CHECK(f.get_u32("llama.attention.head_count_kv", &n_head_kv).is_ok());
    CHECK_EQ(n_embd, 64u);
    CHECK_EQ(n_layer, 5u);
    CHECK_EQ(n_head, 8u);
    CHECK_EQ(n_head_kv, 4u);
    const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
    CHECK(tokens && tokens->as_array() && tokens->as_array()->items.size() == 512);
    const TensorInfo* embd = f.find_tensor("token_embd.weight");
    CHECK(embd != nullptr);
    if (embd) {
        CHECK(embd->type == GgmlType::F32);
        CHECK_EQ(embd->ne[0], 64u);
        CHECK_EQ(embd->ne[1], 512u);
        CHECK_EQ(embd->n_bytes, 64u * 512u * 4u);
        CHECK(embd->data != nullptr);
    }
    // A wrongly typed read names the key.
    uint32_t u = 0;
    const Status bad = f.get_u32("general.architecture", &u);
    CHECK(!bad.is_ok() && bad.message().find("general.architecture") != std::string::npos);
    const Status missing = f.get_u32("llama.no_such_key", &u);
    CHECK(!missing.is_ok() && missing.message().find("missing") != std::string::npos);
}

// Writes every metadata type (nested arrays too) and tensors of several types, reads them back, and compares.
void test_writer_round_trip() {
    test_util::TempDir dir;
    const std::string path = dir.file("round-trip.gguf");
    GgufWriter w;
    w.set("general.architecture", GgufValue::of_string("llama"));
    w.set("t.u8", {GgufValueType::UINT8, uint64_t{200}});
    w.set("t.i8", {GgufValueType::INT8, int64_t{-100}});
    w.set("t.u16", {GgufValueType::UINT16, uint64_t{60000}});
    w.set("t.i16", {GgufValueType::INT16, int64_t{-30000}});
    w.set("t.u32", GgufValue::of_u32(4000000000u));
    w.set("t.i32", GgufValue::of_i32(-2000000000));
    w.set("t.u64", GgufValue::of_u64(0xfedcba9876543210ull));
    w.set("t.i64", {GgufValueType::INT64, int64_t{-9000000000000000000ll}});
    w.set("t.f32", GgufValue::of_f32(1.5f));
    w.set("t.f64", {GgufValueType::FLOAT64, 3.141592653589793});
    w.set("t.bool", GgufValue::of_bool(true));
    w.set("t.str", GgufValue::of_string("héllo ▁ 🙂"));
    w.set("t.strs", GgufValue::of_array(GgufArray::of_strings({"a", "", "ccc"})));
    w.set("t.f32s", GgufValue::of_array(GgufArray::of_f32({0.25f, -1.0f})));
    GgufArray nested;
    nested.element_type = GgufValueType::ARRAY;
    nested.items.push_back(GgufValue::of_array(GgufArray::of_i32({1, 2, 3})));
    nested.items.push_back(GgufValue::of_array(GgufArray::of_i32({})));
    w.set("t.nested", GgufValue::of_array(nested));
    w.set("t.u32", GgufValue::of_u32(7));  // replacing keeps one entry
    w.set_alignment(64);

    std::vector<float> a(32 * 3);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f - 7.0f;
    std::vector<uint8_t> q8(34 * 2, 0x5a);
    CHECK(w.add_tensor("a", GgmlType::F32, {32, 3}).is_ok());
    CHECK(w.add_tensor("q", GgmlType::Q8_0, {64}).is_ok());
    CHECK(!w.add_tensor("bad", GgmlType::Q8_0, {33}).is_ok());  // not whole blocks
    CHECK(!w.add_tensor("a", GgmlType::F32, {4}).is_ok());      // duplicate
    const Status open = w.open(path);
    CHECK_MSG(open.is_ok(), open.message());
    CHECK(!std::filesystem::exists(path));  // nothing at the destination before commit
    CHECK(!w.write_tensor_data(a.data(), 12).is_ok());  // wrong size refused
    // A failed write abandons the file; start again.
    CHECK(w.open(path).is_ok());
    CHECK(w.write_tensor_data(a.data(), a.size() * 4).is_ok());
    CHECK(w.write_tensor_data(q8.data(), q8.size()).is_ok());
    const Status commit = w.commit();
    CHECK_MSG(commit.is_ok(), commit.message());

    GgufFile f;
    const Status st = f.open(path);
    CHECK_MSG(st.is_ok(), st.message());
    if (!st) return;
    CHECK_EQ(f.alignment(), 64u);
    CHECK_EQ(f.data_offset() % 64, 0u);
    uint64_t u = 0;
    int64_t i = 0;
    double d = 0;
    bool b = false;
    CHECK(f.find("t.u8")->as_u64(&u) && u == 200 && f.find("t.u8")->type == GgufValueType::UINT8);
    CHECK(f.find("t.i8")->as_i64(&i) && i == -100);
    CHECK(f.find("t.u16")->as_u64(&u) && u == 60000);
    CHECK(f.find("t.i16")->as_i64(&i) && i == -30000);
    CHECK(f.find("t.u32")->as_u64(&u) && u == 7);
    CHECK(f.find("t.i32")->as_i64(&i) && i == -2000000000);
    CHECK(f.find("t.u64")->as_u64(&u) && u == 0xfedcba9876543210ull);
    CHECK(f.find("t.i64")->as_i64(&i) && i == -9000000000000000000ll);
    CHECK(f.find("t.f32")->as_f64(&d) && d == 1.5);
    CHECK(f.find("t.f64")->as_f64(&d) && d == 3.141592653589793);
    CHECK(f.find("t.bool")->as_bool(&b) && b);
    CHECK(*f.find("t.str")->as_string() == "héllo ▁ 🙂");
    const GgufArray* strs = f.find("t.strs")->as_array();
    CHECK(strs && strs->items.size() == 3 && *strs->items[2].as_string() == "ccc" && strs->items[1].as_string()->empty());
    const GgufArray* nest = f.find("t.nested")->as_array();
    CHECK(nest && nest->items.size() == 2 && nest->items[0].as_array()->items.size() == 3 &&
          nest->items[1].as_array()->items.empty());
    size_t count_u32 = 0;
    for (const auto& kv : f.metadata()) count_u32 += kv.first == "t.u32";
    CHECK_EQ(count_u32, 1u);
    const TensorInfo* ta = f.find_tensor("a");
    const TensorInfo* tq = f.find_tensor("q");
    CHECK(ta && tq);
    if (ta && tq) {
        CHECK(std::memcmp(ta->data, a.data(), a.size() * 4) == 0);
        CHECK(std::memcmp(tq->data, q8.data(), q8.size()) == 0);
        CHECK_EQ(tq->offset % 64, 0u);
        CHECK(tq->type == GgmlType::Q8_0);
    }
    // No temporary files left behind.
    size_t n_files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) n_files += e.is_regular_file();
    CHECK_EQ(n_files, 1u);
}

// Re-writing stories260K through the writer (all metadata and tensors) must give a file that reads back identically.
void test_rewrite_stories260k() {
    GgufFile src;
    if (!src.open(kStories)) return;
    test_util::TempDir dir;
    GgufWriter w;
    for (const auto& [k, v] : src.metadata()) w.set(k, v);
    for (const auto& t : src.tensors()) {
        CHECK(w.add_tensor(t.name, t.type, std::vector<uint64_t>(t.ne, t.ne + t.n_dims)).is_ok());
    }
    CHECK(w.open(dir.file("copy.gguf")).is_ok());
    for (const auto& t : src.tensors()) CHECK(w.write_tensor_data(t.data, t.n_bytes).is_ok());
    CHECK(w.commit().is_ok());
    // The bytes are identical to the original: same layout rules as llama.cpp's writer.
    CHECK(test_util::read_file(dir.file("copy.gguf")) == test_util::read_file(kStories));
}

// Abandoning a write leaves neither the destination nor a temporary file.
void test_writer_abort_leaves_nothing() {
    test_util::TempDir dir;
    const std::string path = dir.file("out.gguf");
    test_util::write_file(path, {1, 2, 3});  // an existing file that must survive
    {
        GgufWriter w;
        w.set("general.architecture", GgufValue::of_string("llama"));
        CHECK(w.add_tensor("x", GgmlType::F32, {4}).is_ok());
        CHECK(w.open(path).is_ok());
        // destroyed without commit
    }
    CHECK(test_util::read_file(path) == std::vector<uint8_t>({1, 2, 3}));
    size_t n_files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) n_files += e.is_regular_file();
    CHECK_EQ(n_files, 1u);
}

Status open_bytes(const std::vector<uint8_t>& bytes) {
    test_util::TempDir dir;
    test_util::write_file(dir.file("x.gguf"), bytes);
    GgufFile f;
    return f.open(dir.file("x.gguf"));
}

bool refused_with(const std::vector<uint8_t>& bytes, const std::string& words) {
    const Status st = open_bytes(bytes);
    if (st.is_ok()) {
        std::fprintf(stderr, "  accepted a damaged file (expected: %s)\n", words.c_str());
        return false;
    }
    if (st.message().find(words) == std::string::npos) {
        std::fprintf(stderr, "  message '%s' does not mention '%s'\n", st.message().c_str(), words.c_str());
        return false;
    }
    return true;
}

template <typename T>
void poke(std::vector<uint8_t>* bytes, size_t offset, T v) {
    std::memcpy(bytes->data() + offset, &v, sizeof v);
}

// Damaged copies of stories260K: each is refused with a message naming the problem.
void test_refuses_damaged_files() {
    const std::vector<uint8_t> good = test_util::read_file(kStories);
    if (good.size() < 20000) {
        CHECK_MSG(false, "stories260K.gguf not found");
        return;
    }
    CHECK(open_bytes(good).is_ok());

    // Truncated anywhere: in the header, the metadata, the directory, the data.
    for (size_t cut : {size_t{0}, size_t{3}, size_t{10}, size_t{100}, size_t{5000}, size_t{14000}, size_t{14176},
                       good.size() / 2, good.size() - 1}) {
        std::vector<uint8_t> t(good.begin(), good.begin() + static_cast<long>(cut));
        const Status st = open_bytes(t);
        CHECK_MSG(!st.is_ok(), "truncated at " + std::to_string(cut));
    }
    std::vector<uint8_t> half(good.begin(), good.begin() + static_cast<long>(good.size() / 2));
    CHECK(refused_with(half, "outside the file"));
    std::vector<uint8_t> in_meta(good.begin(), good.begin() + 200);
    CHECK(refused_with(in_meta, "cannot fit in the file"));
    std::vector<uint8_t> in_tokens(good.begin(), good.begin() + 3000);  // inside tokenizer.ggml.tokens
    CHECK(refused_with(in_tokens, "tokenizer.ggml.tokens"));

    // Bad magic and version.
    auto bad = good;
    bad[0] = 'X';
    CHECK(refused_with(bad, "not a GGUF file"));
    bad = good;
    poke<uint32_t>(&bad, 4, 1);
    CHECK(refused_with(bad, "version 1"));
    bad = good;
    poke<uint32_t>(&bad, 4, 0x03000000);
    CHECK(refused_with(bad, "big-endian"));

    // Counts that cannot fit.
    bad = good;
    poke<uint64_t>(&bad, 8, 0xffffffffffffffffull);
    CHECK(refused_with(bad, "tensor count"));
    bad = good;
    poke<uint64_t>(&bad, 16, 1ull << 60);
    CHECK(refused_with(bad, "metadata count"));
    // A huge string length in the first key.
    bad = good;
    poke<uint64_t>(&bad, 24, 1ull << 62);
    CHECK(refused_with(bad, "runs past the end"));

    // Locate the directory entry of the first tensor to corrupt its fields.
    GgufFile f;
    if (!f.open(kStories)) return;
    const TensorInfo& first = f.tensors()[0];
    // Find the name in the file; the entry follows it: n_dims, ne[], type, offset.
    const std::string& name = first.name;
    size_t name_at = 0;
    for (size_t i = 0; i + name.size() < f.data_offset(); ++i) {
        uint64_t length_before = 0;
        if (i >= 8) std::memcpy(&length_before, good.data() + i - 8, 8);
        if (std::memcmp(good.data() + i, name.data(), name.size()) == 0 && length_before == name.size()) {
            name_at = i;
        }
    }
    CHECK(name_at > 0);
    const size_t ndims_at = name_at + name.size();
    const size_t ne_at = ndims_at + 4;
    const size_t type_at = ne_at + 8 * first.n_dims;
    const size_t offset_at = type_at + 4;

    bad = good;
    poke<uint64_t>(&bad, offset_at, 1ull << 40);
    CHECK(refused_with(bad, "outside the file"));
    CHECK(refused_with(bad, "'" + name + "'"));
    bad = good;
    poke<uint64_t>(&bad, offset_at, 0xffffffffffffffe0ull);  // offset + size overflows
    CHECK(refused_with(bad, "outside the file"));
    bad = good;
    poke<uint64_t>(&bad, offset_at, 4);  // misaligned
    CHECK(refused_with(bad, "alignment"));
    bad = good;
    poke<uint64_t>(&bad, offset_at, f.tensors()[1].offset);  // overlaps the next tensor
    CHECK(refused_with(bad, "overlap"));
    bad = good;
    poke<uint32_t>(&bad, ndims_at, 5);
    CHECK(refused_with(bad, "dimension count"));
    bad = good;
    poke<uint32_t>(&bad, type_at, 4);  // retired Q4_2
    CHECK(refused_with(bad, "unknown tensor type"));
    bad = good;
    poke<uint32_t>(&bad, type_at, 8);  // F32 relabelled Q8_0: smaller size, so the next tensor is misplaced
    CHECK(refused_with(bad, "not where the sizes"));
    bad = good;
    poke<uint64_t>(&bad, ne_at, 0x4000000000000000ull);  // dimension product overflows
    CHECK(refused_with(bad, "overflow") || refused_with(bad, "outside the file"));
    bad = good;
    poke<uint64_t>(&bad, ne_at, 0);
    CHECK(refused_with(bad, "dimension 0"));
}

// HugePageBuffer: zero-filled, 2 MiB-aligned (what a huge page needs), and moving it keeps the bytes in place (the
// model's weight views point into it).
void test_huge_page_buffer() {
    HugePageBuffer empty;
    CHECK(empty.allocate(0).is_ok());
    CHECK(empty.data() == nullptr && empty.size() == 0);

    HugePageBuffer b;
    const uint64_t n = (uint64_t{3} << 20) + 17;  // not a whole number of huge pages
    CHECK(b.allocate(n).is_ok());
    CHECK(b.data() != nullptr && b.size() == n);
    CHECK_EQ(reinterpret_cast<uintptr_t>(b.data()) % (uintptr_t{2} << 20), 0u);
    bool zero = true;
    for (uint64_t i = 0; i < n; i += 4093) zero = zero && b.data()[i] == 0;
    CHECK(zero && b.data()[n - 1] == 0);
    b.data()[n - 1] = 7;
    uint8_t* where = b.data();
    HugePageBuffer moved(std::move(b));
    CHECK(moved.data() == where && moved.data()[n - 1] == 7 && b.data() == nullptr);
    b = std::move(moved);
    CHECK(b.data() == where && b.size() == n && moved.size() == 0);
    // An impossible size fails with a message instead of throwing or crashing.
    HugePageBuffer huge;
    const Status st = huge.allocate(uint64_t{1} << 62);
    CHECK(!st.is_ok() && st.message().find("cannot allocate") != std::string::npos);
    CHECK(huge.data() == nullptr);
}

// A copied file holds exactly the file's bytes, as the map does; GGUF parsing over either gives the same tensors.
void test_copied_file_equals_mapped_file() {
    std::ifstream in(kStories, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    MappedFile mapped, copied;
    CHECK(mapped.open(kStories, FileResidency::kMapped).is_ok());
    CHECK(copied.open(kStories, FileResidency::kCopied).is_ok());
    CHECK_EQ(copied.size(), bytes.size());
    CHECK(copied.data() != mapped.data());
    CHECK(copied.size() == mapped.size() && std::memcmp(copied.data(), bytes.data(), bytes.size()) == 0);
    CHECK(std::memcmp(mapped.data(), bytes.data(), bytes.size()) == 0);
    CHECK(!copied.damaged());

    GgufFile a, b;
    CHECK(a.open(kStories, FileResidency::kMapped).is_ok());
    CHECK(b.open(kStories, FileResidency::kCopied).is_ok());
    CHECK_EQ(a.tensors().size(), b.tensors().size());
    for (size_t i = 0; i < a.tensors().size() && i < b.tensors().size(); ++i) {
        const TensorInfo& x = a.tensors()[i];
        const TensorInfo& y = b.tensors()[i];
        CHECK(x.name == y.name && x.n_bytes == y.n_bytes && x.data != y.data);
        CHECK(std::memcmp(x.data, y.data, x.n_bytes) == 0);
    }

    // The same errors either way: a missing file, a directory; an empty file holds nothing.
    MappedFile m;
    const Status missing = m.open("/nonexistent/model.gguf", FileResidency::kCopied);
    CHECK(!missing.is_ok() && missing.message().find("/nonexistent/model.gguf") != std::string::npos);
    CHECK(!m.open("/tmp", FileResidency::kCopied).is_ok());
    test_util::TempDir dir;
    { std::ofstream(dir.file("empty")); }
    CHECK(m.open(dir.file("empty"), FileResidency::kCopied).is_ok());
    CHECK(m.size() == 0 && m.data() == nullptr);
}

}  // namespace

int main() {
    test_huge_page_buffer();
    test_copied_file_equals_mapped_file();
    test_reads_stories260k();
    test_writer_round_trip();
    test_rewrite_stories260k();
    test_writer_abort_leaves_nothing();
    test_refuses_damaged_files();
    return check::summary("test-gguf");
}
