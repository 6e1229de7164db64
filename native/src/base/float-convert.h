// Scalar conversions between float and the 16-bit storage formats (IEEE half and bfloat16).
//
// These are the exact rounding rules ggml uses, so weights we write are the weights llama.cpp reads.
#pragma once

#include <cstdint>
#include <cstring>

namespace specqd {

inline uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

inline float bits_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

// bf16 -> f32 is exact: the bf16 bits are the top half of the f32.
inline float bf16_to_f32(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

// f32 -> bf16, round to nearest even; NaN stays a (quiet) NaN.
inline uint16_t f32_to_bf16(float f) {
    const uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
    return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// IEEE binary16 -> f32 (exact, including subnormals, infinities and NaN).
inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        if (mant == 0) return bits_float(sign);
        // Subnormal: value = mant * 2^-24.
        const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_float(sign | 0x7f800000u | (mant << 13));
    return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

// f32 -> IEEE binary16, round to nearest even, overflow to infinity (the F16C / ggml behaviour).
inline uint16_t f32_to_f16(float f) {
    const uint32_t u = float_bits(f);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // NaN
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: infinity
    if (abs < 0x38800000u) {
        // Result is subnormal (or zero): scale so the rounding happens at the subnormal grid of 2^-24.
        const float mag = bits_float(abs) * 16777216.0f;  // * 2^24, exact
        // nearbyint with the default rounding mode (to nearest even)
        const float r = __builtin_nearbyintf(mag);
        return static_cast<uint16_t>(sign | static_cast<uint32_t>(r));
    }
    // Normal: rebias exponent, round mantissa from 23 to 10 bits to nearest even.
    uint32_t v = abs - 0x38000000u;  // exponent - 112
    v += 0xfffu + ((v >> 13) & 1u);
    return static_cast<uint16_t>(sign | (v >> 13));
}

}  // namespace specqd
