#include "mxfp4/mxfp4.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace specqd::mxfp4 {

float e8m0_to_f32_half(uint8_t e) {
    // 2^(e - 128): a normal float for e >= 2 (exponent field e - 1), a denormal for e = 1 (2^-127) and e = 0
    // (2^-128). ldexpf is exact for powers of two in range.
    return std::ldexp(1.0f, static_cast<int>(e) - 128);
}

uint8_t shared_exponent(float amax) {
    if (!(amax > 0.0f)) return 0;
    uint32_t bits;
    std::memcpy(&bits, &amax, sizeof bits);
    // For a normal float the biased exponent field E is exactly floor(log2(amax)) + 127, so e = E - 2. A denormal
    // (E = 0) has floor(log2) <= -127, below what e can hold: clamp to 0 like every other too-small block.
    const int biased = static_cast<int>((bits >> 23) & 0xFF);
    const int e = biased - 2;
    return static_cast<uint8_t>(e < 0 ? 0 : (e > 254 ? 254 : e));
}

namespace {

// The unit of a block is 2^(e - 128): in it the E2M1 magnitudes are the integers 0, 1, 2, 3, 4, 6, 8, 12. |x| in
// units is |x| * 2^(128 - e), exact in f32: a power-of-two scaling that cannot overflow (every finite |x| <= amax <
// 8 units) or underflow (it scales up). 2^(128 - e) itself is a normal float for e >= 1; for e = 0 (2^128) it is
// applied as two factors of 2^64.
struct Unit {
    float first, second;
    explicit Unit(uint8_t e)
        : first(e >= 1 ? std::ldexp(1.0f, 128 - static_cast<int>(e)) : std::ldexp(1.0f, 64)),
          second(e >= 1 ? 1.0f : std::ldexp(1.0f, 64)) {}
};

// The magnitude index is the number of midpoints between neighbouring magnitudes that v exceeds; ">" (not ">=")
// sends a tie to the smaller magnitude. NaN exceeds none (code 0), +-Inf all (saturates). Zero stays code 0 (+0)
// whatever the sign, as ggml's search picks code 0 before code 8. Branch-free, so the loop over a block vectorizes.
inline uint8_t code_of(float x, const Unit& unit) {
    const float v = (std::fabs(x) * unit.first) * unit.second;
    const int magnitude = (v > 0.5f) + (v > 1.5f) + (v > 2.5f) + (v > 3.5f) + (v > 5.0f) + (v > 7.0f) + (v > 10.0f);
    const int negative = std::signbit(x) && magnitude != 0;
    return static_cast<uint8_t>(magnitude | (negative << 3));
}

}  // namespace

uint8_t e2m1_code(float x, uint8_t e) { return code_of(x, Unit(e)); }

void quantize_block(const float* x, Block* out) {
    float amax = 0.0f;
    for (int64_t j = 0; j < kBlockSize; ++j) {
        const float a = std::fabs(x[j]);
        if (a <= std::numeric_limits<float>::max() && a > amax) amax = a;  // finite only (NaN fails both tests)
    }
    out->e = shared_exponent(amax);
    const Unit unit(out->e);
    for (int64_t j = 0; j < kBlockSize / 2; ++j) {
        const uint8_t lo = code_of(x[j], unit);
        const uint8_t hi = code_of(x[j + kBlockSize / 2], unit);
        out->qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
}

void quantize_row(const float* x, int64_t n, void* out) {
    auto* blocks = static_cast<Block*>(out);
    for (int64_t b = 0; b < n / kBlockSize; ++b) quantize_block(x + b * kBlockSize, blocks + b);
}

namespace {

// The 32 weights of one block: its scale byte e and its 16 code bytes qs.
void dequantize_block(uint8_t e, const uint8_t* qs, float* out) {
    const float d = e8m0_to_f32_half(e);
    for (int64_t j = 0; j < kBlockSize / 2; ++j) {
        out[j] = static_cast<float>(kE2M1Doubled[qs[j] & 0x0F]) * d;
        out[j + kBlockSize / 2] = static_cast<float>(kE2M1Doubled[qs[j] >> 4]) * d;
    }
}

// Calls fn(block, step_codes, step_scales, q) for each block of a row of n weights in the step layout: block index,
// where the step's code bytes and scale bytes start, and the block's place q in its step.
template <typename Fn>
void for_each_step_block(int64_t n, Fn&& fn) {
    const int64_t n_blocks = n / kBlockSize;
    for (int64_t b0 = 0; b0 < n_blocks; b0 += kStepBlocks) {
        const int64_t nb = std::min(kStepBlocks, n_blocks - b0);
        const int64_t step = b0 * static_cast<int64_t>(sizeof(Block));  // steps before this one are whole
        for (int64_t q = 0; q < nb; ++q) fn(b0 + q, step, step + 16 * nb, q);
    }
}

}  // namespace

void dequantize_row(const void* in, int64_t n, float* out) {
    const auto* blocks = static_cast<const Block*>(in);
    for (int64_t b = 0; b < n / kBlockSize; ++b) dequantize_block(blocks[b].e, blocks[b].qs, out + b * kBlockSize);
}

void to_step_layout(const void* in, int64_t n, void* out) {
    const auto* blocks = static_cast<const Block*>(in);
    auto* o = static_cast<uint8_t*>(out);
    for_each_step_block(n, [&](int64_t b, int64_t codes, int64_t scales, int64_t q) {
        std::memcpy(o + codes + 16 * q, blocks[b].qs, 16);
        o[scales + q] = blocks[b].e;
    });
}

void to_step_layout_in_place(void* rows, int64_t n_rows, int64_t n) {
    const int64_t row_bytes = n / kBlockSize * static_cast<int64_t>(sizeof(Block));
    std::vector<uint8_t> ggml_row(static_cast<size_t>(row_bytes));
    for (int64_t r = 0; r < n_rows; ++r) {
        uint8_t* row = static_cast<uint8_t*>(rows) + r * row_bytes;
        std::memcpy(ggml_row.data(), row, static_cast<size_t>(row_bytes));
        to_step_layout(ggml_row.data(), n, row);
    }
}

void dequantize_row_steps(const void* in, int64_t n, float* out) {
    const auto* p = static_cast<const uint8_t*>(in);
    for_each_step_block(n, [&](int64_t b, int64_t codes, int64_t scales, int64_t q) {
        dequantize_block(p[scales + q], p + codes + 16 * q, out + b * kBlockSize);
    });
}

}  // namespace specqd::mxfp4
