// Overflow-checked size arithmetic for parsing untrusted files.
//
// Every count, length, offset and size read from a model file goes through these before it is used to index
// memory, so a hostile value fails cleanly instead of wrapping around.
#pragma once

#include <cstdint>

namespace specqd {

// Returns false (and leaves *out unspecified) when a + b overflows uint64.
inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

// Returns false when a * b overflows uint64.
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

// Rounds x up to a multiple of `alignment` (a power of two or any non-zero value); false on overflow.
inline bool checked_align_up(uint64_t x, uint64_t alignment, uint64_t* out) {
    const uint64_t rem = x % alignment;
    if (rem == 0) {
        *out = x;
        return true;
    }
    return checked_add(x, alignment - rem, out);
}

}  // namespace specqd
