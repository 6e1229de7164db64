// GgufFile: a parsed, validated, memory-mapped GGUF model file (versions 2 and 3).
//
// open() reads the header, every metadata value and the tensor directory, and checks every count, length, offset
// and size against the file with overflow-safe arithmetic before using it. A truncated or hostile file fails with a
// message naming the field and its byte offset; it can never cause an out-of-bounds read. Tensor data stays in the
// read-only map: TensorInfo::data points into it and lives as long as the GgufFile.
//
// Thread rules: a GgufFile is immutable after open(); any number of threads may read it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "base/mapped-file.h"
#include "base/status.h"
#include "gguf/ggml-type.h"

namespace specqd {

// Metadata value types, numbered as in the GGUF spec.
enum class GgufValueType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};

const char* gguf_value_type_name(GgufValueType type);

struct GgufArray;

// One metadata value. Integers are widened to int64/uint64 and floats to double, but `type` keeps the type the
// file used, so a writer can reproduce it exactly.
struct GgufValue {
    GgufValueType type = GgufValueType::UINT32;
    std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<const GgufArray>> value;

    bool is_integer() const;
    bool is_float() const;
    bool is_string() const { return type == GgufValueType::STRING; }
    bool is_array() const { return type == GgufValueType::ARRAY; }

    // Typed reads; they fail when the value has another type or does not fit.
    bool as_u64(uint64_t* out) const;
    bool as_i64(int64_t* out) const;
    bool as_f64(double* out) const;
    bool as_bool(bool* out) const;
    const std::string* as_string() const;
    const GgufArray* as_array() const;

    static GgufValue of_u32(uint32_t v);
    static GgufValue of_i32(int32_t v);
    static GgufValue of_u64(uint64_t v);
    static GgufValue of_f32(float v);
    static GgufValue of_bool(bool v);
    static GgufValue of_string(std::string v);
    static GgufValue of_array(GgufArray array);
};

// An array value. Arrays may nest (the spec allows it; ggml refuses to read them, so our writer never emits them).
struct GgufArray {
    GgufValueType element_type = GgufValueType::UINT8;
    std::vector<GgufValue> items;

    static GgufArray of_strings(std::vector<std::string> values);
    static GgufArray of_f32(const std::vector<float>& values);
    static GgufArray of_i32(const std::vector<int32_t>& values);
};

struct TensorInfo {
    std::string name;
    uint32_t n_dims = 0;
    uint64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the innermost (contiguous) dimension
    GgmlType type = GgmlType::F32;
    uint64_t offset = 0;            // relative to the start of the data section
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;
    const uint8_t* data = nullptr;  // into the map; valid while the GgufFile lives

    uint64_t rows() const { return n_elements / ne[0]; }  // product of ne[1..]
};

class GgufFile {
public:
    // `residency`: base/mapped-file.h (a memory map, or a copy on huge pages for weights read every token).
    Status open(const std::string& path, FileResidency residency = FileResidency::kMapped);

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }
    uint64_t file_size() const { return map_.size(); }
    const std::string& path() const { return map_.path(); }
    // The file was truncated or overwritten while mapped (base/mapped-file.h): its tensor data is meaningless now.
    // Never true for a copy.
    bool changed_on_disk() const { return map_.damaged(); }

    // Metadata in file order.
    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
    const GgufValue* find(const std::string& key) const;

    // Convenience getters. `required` variants fail with a message naming the key; `get_*_or` return the default
    // when the key is absent but fail (via the status) when it exists with a wrong type.
    Status get_string(const std::string& key, std::string* out) const;
    Status get_u32(const std::string& key, uint32_t* out) const;
    Status get_f32(const std::string& key, float* out) const;
    Status get_u32_or(const std::string& key, uint32_t fallback, uint32_t* out) const;
    Status get_f32_or(const std::string& key, float fallback, float* out) const;
    Status get_bool_or(const std::string& key, bool fallback, bool* out) const;

    const std::vector<TensorInfo>& tensors() const { return tensors_; }

    // The writable address of p, a byte of this file's tensor data, when the file was read into a copy (null for a
    // memory map, which is read-only): lets the loader rearrange weights in its own memory.
    uint8_t* writable(const void* p) {
        uint8_t* copy = map_.copy_data();
        return copy != nullptr ? copy + (static_cast<const uint8_t*>(p) - map_.data()) : nullptr;
    }
    const TensorInfo* find_tensor(const std::string& name) const;

private:
    MappedFile map_;
    uint32_t version_ = 0;
    uint32_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::map<std::string, size_t> metadata_index_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> tensor_index_;
};

}  // namespace specqd
