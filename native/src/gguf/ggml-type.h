// Tensor element types as ggml numbers them in GGUF files, with their block geometry.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace specqd {

enum class GgmlType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
    MXFP4 = 39,
};

struct GgmlTypeTraits {
    std::string_view name;
    uint32_t block_elements;  // elements per block (1 for plain types)
    uint32_t block_bytes;     // bytes per block
};

// Geometry of a known type id, or nullopt for ids this engine does not know (retired or future types).
std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t type_id);

// "F32", "BF16", "MXFP4", ... or "type <id>" for unknown ids.
std::string ggml_type_name(uint32_t type_id);

}  // namespace specqd
