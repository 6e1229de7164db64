#include "gguf/gguf-reader.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "base/checked-math.h"

namespace specqd {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kMaxNameLength = 63;   // ggml requires name length < GGML_MAX_NAME (64)
constexpr uint32_t kMaxArrayDepth = 8;    // nested arrays deeper than this are refused (stack safety)

// A bounds-checked cursor over the mapped file. Every read names the field it reads so a failure says what and where.
class Cursor {
public:
    Cursor(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}

    uint64_t offset() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }

    Status fail(const std::string& field, const std::string& problem) const {
        return Status::error(field + " at offset " + std::to_string(pos_) + ": " + problem);
    }

    template <typename T>
    Status read(const std::string& field, T* out) {
        if (remaining() < sizeof(T)) return fail(field, "file ends early (truncated)");
        std::memcpy(out, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return Status::ok();
    }

    Status read_string(const std::string& field, std::string* out) {
        const uint64_t at = pos_;
        uint64_t length = 0;
        SPECQD_TRY(read(field + " length", &length));
        if (length > remaining()) {
            pos_ = at;
            return fail(field, "string length " + std::to_string(length) + " runs past the end of the file");
        }
        out->assign(reinterpret_cast<const char*>(data_ + pos_), length);
        pos_ += length;
        return Status::ok();
    }

private:
    const uint8_t* data_;
    uint64_t size_;
    uint64_t pos_ = 0;
};

// Smallest number of bytes one element of `type` occupies in the file; used to reject array counts that could not fit.
uint64_t min_encoded_size(GgufValueType type) {
    switch (type) {
        case GgufValueType::UINT8:
        case GgufValueType::INT8:
        case GgufValueType::BOOL: return 1;
        case GgufValueType::UINT16:
        case GgufValueType::INT16: return 2;
        case GgufValueType::UINT32:
        case GgufValueType::INT32:
        case GgufValueType::FLOAT32: return 4;
        case GgufValueType::UINT64:
        case GgufValueType::INT64:
        case GgufValueType::FLOAT64:
        case GgufValueType::STRING: return 8;    // the length prefix
        case GgufValueType::ARRAY: return 12;    // element type + count
    }
    return 1;
}

bool is_known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::FLOAT64); }

Status read_value(Cursor& cur, GgufValueType type, const std::string& field, uint32_t depth, GgufValue* out);

Status read_array(Cursor& cur, const std::string& field, uint32_t depth, GgufValue* out) {
    if (depth >= kMaxArrayDepth) return cur.fail(field, "arrays nested deeper than " + std::to_string(kMaxArrayDepth));
    uint32_t element_type = 0;
    SPECQD_TRY(cur.read(field + " array element type", &element_type));
    if (!is_known_value_type(element_type)) {
        return cur.fail(field, "unknown array element type " + std::to_string(element_type));
    }
    uint64_t count = 0;
    SPECQD_TRY(cur.read(field + " array length", &count));
    const auto elem = static_cast<GgufValueType>(element_type);
    uint64_t min_bytes = 0;
    if (!checked_mul(count, min_encoded_size(elem), &min_bytes) || min_bytes > cur.remaining()) {
        return cur.fail(field, "array length " + std::to_string(count) + " cannot fit in the rest of the file");
    }
    GgufArray array;
    array.element_type = elem;
    array.items.resize(count);
    for (uint64_t i = 0; i < count; ++i) {
        SPECQD_TRY(read_value(cur, elem, field + "[" + std::to_string(i) + "]", depth + 1, &array.items[i]));
    }
    out->type = GgufValueType::ARRAY;
    out->value = std::make_shared<const GgufArray>(std::move(array));
    return Status::ok();
}

Status read_value(Cursor& cur, GgufValueType type, const std::string& field, uint32_t depth, GgufValue* out) {
    out->type = type;
    switch (type) {
        case GgufValueType::UINT8: { uint8_t v{}; SPECQD_TRY(cur.read(field, &v)); out->value = uint64_t{v}; break; }
        case GgufValueType::INT8: { int8_t v{}; SPECQD_TRY(cur.read(field, &v)); out->value = int64_t{v}; break; }
        case GgufValueType::UINT16: { uint16_t v{}; SPECQD_TRY(cur.read(field, &v)); out->value = uint64_t{v}; break; }
        case GgufValueType::INT16: { int16_t v{}; SPECQD_TRY(cur.read(field, &v)); out->value = int64_t{v}; break; }
        case GgufValueType::UINT32: { uint32_t v{}; SPECQD_TRY(cur.read(field, &v)); out->value = uint64_t{v}; break; }
        case GgufValueType::INT32: { int32_t v{}; SPECQD_TRY(cur.read(field, &v)); out->value = int64_t{v}; break; }
        case GgufValueType::UINT64: { uint64_t v{}; SPECQD_TRY(cur.read(field, &v)); out->value = v; break; }
        case GgufValueType::INT64: { int64_t v{}; SPECQD_TRY(cur.read(field, &v)); out->value = v; break; }
        case GgufValueType::FLOAT32: { float v{}; SPECQD_TRY(cur.read(field, &v)); out->value = double{v}; break; }
        case GgufValueType::FLOAT64: { double v{}; SPECQD_TRY(cur.read(field, &v)); out->value = v; break; }
        case GgufValueType::BOOL: {
            uint8_t v{};
            SPECQD_TRY(cur.read(field, &v));
            if (v > 1) return cur.fail(field, "bool value " + std::to_string(v) + " is neither 0 nor 1");
            out->value = v == 1;
            break;
        }
        case GgufValueType::STRING: {
            std::string s;
            SPECQD_TRY(cur.read_string(field, &s));
            out->value = std::move(s);
            break;
        }
        case GgufValueType::ARRAY: return read_array(cur, field, depth, out);
    }
    return Status::ok();
}

}  // namespace

const char* gguf_value_type_name(GgufValueType type) {
    switch (type) {
        case GgufValueType::UINT8: return "u8";
        case GgufValueType::INT8: return "i8";
        case GgufValueType::UINT16: return "u16";
        case GgufValueType::INT16: return "i16";
        case GgufValueType::UINT32: return "u32";
        case GgufValueType::INT32: return "i32";
        case GgufValueType::FLOAT32: return "f32";
        case GgufValueType::BOOL: return "bool";
        case GgufValueType::STRING: return "string";
        case GgufValueType::ARRAY: return "array";
        case GgufValueType::UINT64: return "u64";
        case GgufValueType::INT64: return "i64";
        case GgufValueType::FLOAT64: return "f64";
    }
    return "unknown";
}

// ---- GgufValue ----

bool GgufValue::is_integer() const {
    return std::holds_alternative<uint64_t>(value) || std::holds_alternative<int64_t>(value);
}

bool GgufValue::is_float() const { return std::holds_alternative<double>(value); }

bool GgufValue::as_u64(uint64_t* out) const {
    if (const auto* u = std::get_if<uint64_t>(&value)) {
        *out = *u;
        return true;
    }
    if (const auto* i = std::get_if<int64_t>(&value); i && *i >= 0) {
        *out = static_cast<uint64_t>(*i);
        return true;
    }
    return false;
}

bool GgufValue::as_i64(int64_t* out) const {
    if (const auto* i = std::get_if<int64_t>(&value)) {
        *out = *i;
        return true;
    }
    if (const auto* u = std::get_if<uint64_t>(&value); u && *u <= static_cast<uint64_t>(INT64_MAX)) {
        *out = static_cast<int64_t>(*u);
        return true;
    }
    return false;
}

bool GgufValue::as_f64(double* out) const {
    if (const auto* d = std::get_if<double>(&value)) {
        *out = *d;
        return true;
    }
    return false;
}

bool GgufValue::as_bool(bool* out) const {
    if (const auto* b = std::get_if<bool>(&value)) {
        *out = *b;
        return true;
    }
    return false;
}

const std::string* GgufValue::as_string() const { return std::get_if<std::string>(&value); }

const GgufArray* GgufValue::as_array() const {
    const auto* a = std::get_if<std::shared_ptr<const GgufArray>>(&value);
    return a ? a->get() : nullptr;
}

GgufValue GgufValue::of_u32(uint32_t v) { return {GgufValueType::UINT32, uint64_t{v}}; }
GgufValue GgufValue::of_i32(int32_t v) { return {GgufValueType::INT32, int64_t{v}}; }
GgufValue GgufValue::of_u64(uint64_t v) { return {GgufValueType::UINT64, v}; }
GgufValue GgufValue::of_f32(float v) { return {GgufValueType::FLOAT32, double{v}}; }
GgufValue GgufValue::of_bool(bool v) { return {GgufValueType::BOOL, v}; }
GgufValue GgufValue::of_string(std::string v) { return {GgufValueType::STRING, std::move(v)}; }
GgufValue GgufValue::of_array(GgufArray array) {
    return {GgufValueType::ARRAY, std::make_shared<const GgufArray>(std::move(array))};
}

GgufArray GgufArray::of_strings(std::vector<std::string> values) {
    GgufArray a;
    a.element_type = GgufValueType::STRING;
    a.items.reserve(values.size());
    for (auto& v : values) a.items.push_back(GgufValue::of_string(std::move(v)));
    return a;
}

GgufArray GgufArray::of_f32(const std::vector<float>& values) {
    GgufArray a;
    a.element_type = GgufValueType::FLOAT32;
    a.items.reserve(values.size());
    for (float v : values) a.items.push_back(GgufValue::of_f32(v));
    return a;
}

GgufArray GgufArray::of_i32(const std::vector<int32_t>& values) {
    GgufArray a;
    a.element_type = GgufValueType::INT32;
    a.items.reserve(values.size());
    for (int32_t v : values) a.items.push_back(GgufValue::of_i32(v));
    return a;
}

// ---- GgufFile ----

Status GgufFile::open(const std::string& path, FileResidency residency) {
    SPECQD_TRY(map_.open(path, residency));
    Status status = [&]() -> Status {
        Cursor cur(map_.data(), map_.size());

        // Header: magic, version, tensor count, metadata count.
        uint32_t magic = 0;
        SPECQD_TRY(cur.read("magic", &magic));
        if (magic != kGgufMagic) return Status::error("not a GGUF file (magic at offset 0 is not 'GGUF')");
        SPECQD_TRY(cur.read("version", &version_));
        if (version_ == 1) return Status::error("GGUF version 1 is not supported (only versions 2 and 3)");
        if (version_ != 2 && version_ != 3) {
            // A byte-swapped (big-endian) file shows its version in the high half.
            if ((version_ & 0xffffu) == 0) return Status::error("big-endian GGUF files are not supported");
            return Status::error("unsupported GGUF version " + std::to_string(version_) + " at offset 4");
        }
        uint64_t n_tensors = 0, n_kv = 0;
        SPECQD_TRY(cur.read("tensor count", &n_tensors));
        SPECQD_TRY(cur.read("metadata count", &n_kv));
        // Each metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 8+4+4+8.
        uint64_t min_bytes = 0;
        if (!checked_mul(n_kv, 13, &min_bytes) || min_bytes > cur.remaining()) {
            return Status::error("metadata count " + std::to_string(n_kv) + " at offset 16 cannot fit in the file");
        }
        if (!checked_mul(n_tensors, 24, &min_bytes) || min_bytes > cur.remaining()) {
            return Status::error("tensor count " + std::to_string(n_tensors) + " at offset 8 cannot fit in the file");
        }

        // Metadata.
        metadata_.reserve(n_kv);
        for (uint64_t i = 0; i < n_kv; ++i) {
            const std::string field = "metadata key #" + std::to_string(i);
            std::string key;
            SPECQD_TRY(cur.read_string(field, &key));
            if (key.empty()) return cur.fail(field, "empty key");
            if (metadata_index_.count(key)) return cur.fail(field, "duplicate key '" + key + "'");
            uint32_t type = 0;
            SPECQD_TRY(cur.read("type of '" + key + "'", &type));
            if (!is_known_value_type(type)) {
                return cur.fail("type of '" + key + "'", "unknown metadata type " + std::to_string(type));
            }
            GgufValue value;
            SPECQD_TRY(read_value(cur, static_cast<GgufValueType>(type), "value of '" + key + "'", 0, &value));
            metadata_index_[key] = metadata_.size();
            metadata_.emplace_back(std::move(key), std::move(value));
        }
        if (const GgufValue* a = find("general.alignment")) {
            uint64_t alignment = 0;
            if (a->type != GgufValueType::UINT32 || !a->as_u64(&alignment)) {
                return Status::error("general.alignment must be a u32");
            }
            if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
                return Status::error("general.alignment " + std::to_string(alignment) + " is not a power of two");
            }
            alignment_ = static_cast<uint32_t>(alignment);
        }

        // Tensor directory.
        tensors_.resize(n_tensors);
        for (uint64_t i = 0; i < n_tensors; ++i) {
            TensorInfo& t = tensors_[i];
            const std::string field = "tensor #" + std::to_string(i);
            SPECQD_TRY(cur.read_string(field + " name", &t.name));
            if (t.name.empty() || t.name.size() > kMaxNameLength) {
                return cur.fail(field + " name", "length " + std::to_string(t.name.size()) + " is not in 1..63");
            }
            if (tensor_index_.count(t.name)) return cur.fail(field, "duplicate tensor name '" + t.name + "'");
            const std::string tfield = "tensor '" + t.name + "'";
            SPECQD_TRY(cur.read(tfield + " dimension count", &t.n_dims));
            if (t.n_dims == 0 || t.n_dims > kMaxDims) {
                return cur.fail(tfield, "dimension count " + std::to_string(t.n_dims) + " is not in 1..4");
            }
            t.n_elements = 1;
            for (uint32_t d = 0; d < t.n_dims; ++d) {
                SPECQD_TRY(cur.read(tfield + " dimension " + std::to_string(d), &t.ne[d]));
                if (t.ne[d] == 0 || t.ne[d] > static_cast<uint64_t>(INT64_MAX)) {
                    return cur.fail(tfield, "dimension " + std::to_string(d) + " is " + std::to_string(t.ne[d]));
                }
                if (!checked_mul(t.n_elements, t.ne[d], &t.n_elements) || t.n_elements > static_cast<uint64_t>(INT64_MAX)) {
                    return cur.fail(tfield, "element count overflows");
                }
            }
            uint32_t type = 0;
            SPECQD_TRY(cur.read(tfield + " type", &type));
            const auto traits = ggml_type_traits(type);
            if (!traits) return cur.fail(tfield + " type", "unknown tensor type id " + std::to_string(type));
            t.type = static_cast<GgmlType>(type);
            if (t.ne[0] % traits->block_elements != 0) {
                return cur.fail(tfield, "row length " + std::to_string(t.ne[0]) + " is not a whole number of " +
                                            std::string(traits->name) + " blocks of " +
                                            std::to_string(traits->block_elements));
            }
            if (!checked_mul(t.n_elements / traits->block_elements, traits->block_bytes, &t.n_bytes)) {
                return cur.fail(tfield, "byte size overflows");
            }
            SPECQD_TRY(cur.read(tfield + " data offset", &t.offset));
            if (t.offset % alignment_ != 0) {
                return Status::error(tfield + ": data offset " + std::to_string(t.offset) +
                                     " is not a multiple of the alignment " + std::to_string(alignment_));
            }
            tensor_index_[t.name] = i;
        }

        // Data section: starts at the aligned end of the directory; every tensor must lie inside the file and
        // tensors must not overlap.
        if (!checked_align_up(cur.offset(), alignment_, &data_offset_)) return Status::error("data offset overflows");
        if (n_tensors > 0 && data_offset_ > map_.size()) {
            return Status::error("tensor data section at offset " + std::to_string(data_offset_) +
                                 " starts past the end of the file (" + std::to_string(map_.size()) + " bytes): truncated");
        }
        std::vector<std::pair<uint64_t, uint64_t>> extents;  // [begin, end) relative to the data section
        extents.reserve(n_tensors);
        for (TensorInfo& t : tensors_) {
            uint64_t begin = 0, end = 0;
            if (!checked_add(data_offset_, t.offset, &begin) || !checked_add(begin, t.n_bytes, &end) ||
                end > map_.size()) {
                return Status::error("tensor '" + t.name + "': data at offset " + std::to_string(t.offset) + " (+" +
                                     std::to_string(t.n_bytes) + " bytes) lies outside the file (" +
                                     std::to_string(map_.size()) + " bytes): truncated or corrupt");
            }
            t.data = map_.data() + begin;
            extents.emplace_back(t.offset, t.offset + t.n_bytes);
        }
        std::sort(extents.begin(), extents.end());
        for (size_t i = 1; i < extents.size(); ++i) {
            if (extents[i].first < extents[i - 1].second) {
                return Status::error("tensor data regions overlap at data offset " + std::to_string(extents[i].first));
            }
        }
        // Like ggml, require the data to be dense in directory order, each tensor padded to the alignment. A tensor
        // whose type or shape was altered then shows up as a following tensor that is not where the sizes put it.
        uint64_t expected = 0;
        for (const TensorInfo& t : tensors_) {
            if (t.offset != expected) {
                return Status::error("tensor '" + t.name + "': data offset " + std::to_string(t.offset) +
                                     " is not where the sizes of the tensors before it put it (" +
                                     std::to_string(expected) + "); a tensor's type, shape or offset is corrupt");
            }
            uint64_t padded = 0;
            if (!checked_align_up(t.n_bytes, alignment_, &padded) || !checked_add(expected, padded, &expected)) {
                return Status::error("tensor '" + t.name + "': data size overflows");
            }
        }
        return Status::ok();
    }();
    if (!status) {
        metadata_.clear();
        metadata_index_.clear();
        tensors_.clear();
        tensor_index_.clear();
        map_.close();
        return status.with_context("'" + path + "'");
    }
    return Status::ok();
}

const GgufValue* GgufFile::find(const std::string& key) const {
    const auto it = metadata_index_.find(key);
    return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* GgufFile::find_tensor(const std::string& name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Status GgufFile::get_string(const std::string& key, std::string* out) const {
    const GgufValue* v = find(key);
    if (!v) return Status::error("missing metadata key '" + key + "'");
    const std::string* s = v->as_string();
    if (!s) return Status::error("metadata key '" + key + "' is a " + gguf_value_type_name(v->type) + ", not a string");
    *out = *s;
    return Status::ok();
}

Status GgufFile::get_u32(const std::string& key, uint32_t* out) const {
    const GgufValue* v = find(key);
    if (!v) return Status::error("missing metadata key '" + key + "'");
    uint64_t u = 0;
    if (!v->as_u64(&u) || u > UINT32_MAX) {
        return Status::error("metadata key '" + key + "' is not an unsigned 32-bit integer");
    }
    *out = static_cast<uint32_t>(u);
    return Status::ok();
}

Status GgufFile::get_f32(const std::string& key, float* out) const {
    const GgufValue* v = find(key);
    if (!v) return Status::error("missing metadata key '" + key + "'");
    double d = 0;
    if (!v->as_f64(&d)) return Status::error("metadata key '" + key + "' is not a float");
    *out = static_cast<float>(d);
    return Status::ok();
}

Status GgufFile::get_u32_or(const std::string& key, uint32_t fallback, uint32_t* out) const {
    if (!find(key)) {
        *out = fallback;
        return Status::ok();
    }
    return get_u32(key, out);
}

Status GgufFile::get_f32_or(const std::string& key, float fallback, float* out) const {
    if (!find(key)) {
        *out = fallback;
        return Status::ok();
    }
    return get_f32(key, out);
}

Status GgufFile::get_bool_or(const std::string& key, bool fallback, bool* out) const {
    const GgufValue* v = find(key);
    if (!v) {
        *out = fallback;
        return Status::ok();
    }
    if (!v->as_bool(out)) return Status::error("metadata key '" + key + "' is not a bool");
    return Status::ok();
}

}  // namespace specqd
