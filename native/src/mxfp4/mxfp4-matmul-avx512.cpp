// MXFP4 x int8 activations, AVX-512 path (compiled with AVX-512 flags; chosen only when the CPU also has VNNI and
// VBMI, see mxfp4-kernels.cpp).
//
// Why int8 activations, and their prepared layout: mxfp4-kernels.h. Here one vpdpbusd does 64 exact integer
// multiply-adds.
//
// Weights: a step covers 4 blocks = 128 columns = 68 bytes of a row. In the step layout (mxfp4.h) its first 64
// bytes are the 4 x 16 code bytes in order; in ggml's layout (a memory-mapped file) vpermt2b first gathers them out
// of two loads. The nibbles split into the elements 0..15 and 16..31 of each block, and vpermb maps each code to its
// doubled E2M1 value plus 12, in [0, 24] (vpdpbusd wants its first operand unsigned). vpermb also puts the 4 scale
// bytes in place, one per group of 4 int32 lanes.
//
// Activations: the prepared layout of mxfp4-kernels.h (written by avx2::prepare_activations), in the order the
// weights come out. A step for one token is then: two vpdpbusd give 16 exact integer partial sums (4 lanes per
// block) starting from the prepared -12 x activation sums, which become floats and are multiplied by activation
// scale x 2^(e - 128) into the one f32 accumulator of the dot product. The weight scale 2^(e - 128) is built once
// per row step from the exponent byte (a float's exponent field, no conversion), so each token pays one vmulps for
// it instead of a vscalefps, which on Zen 4 issues at half the rate (cycles per 128-column row step with the
// weights in L2, one thread: 1 token 10.1 either way, 2 tokens 14.2 -> 13.9, 4 tokens 23.5 -> 22.7).
//
// Invariance as in kernels/matmul-avx512.cpp: one dot product = one 16-lane accumulator, the same steps in the same
// order whatever the tile shape, one fixed horizontal sum; prepared rows depend on their own token only.
//
// Everything stays in an anonymous namespace and uses no shared inline functions (see kernels/matmul-avx512.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

#include "mxfp4/mxfp4-kernels.h"
#include "mxfp4/mxfp4.h"

namespace specqd::mxfp4::avx512 {
namespace {

inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

inline float reduce_add(__m512 s) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

// How far ahead each row is prefetched: mxfp4_prefetch_ahead() (mxfp4-kernels.h), into L2 (see prefetch_ahead() in
// kernels/kernel-table.h). A 68-byte step straddles two cache lines, so both lines at that distance are prefetched.
// On the 2-core Zen 4 VM (bench-forward, 0.5B shape, interleaved): decode on 1 thread pinned 43.7-43.8 -> 72.5-73.7
// tokens/s and on 2 threads 72-79 -> 107-110 against the earlier prefetch into L1 of one line there plus one 128 bytes
// ahead (which on Zen 5 had raised decode from ~15 to ~20 GB/s over the far one alone). Verifying 4 tokens costs the
// same milliseconds as before (it is bound by arithmetic), so its ratio to a decode step rose from 1.3 to 2.1.

// Byte permutes that take one step (68 bytes) apart.
struct StepIndex {
    // ggml's layout (4 blocks of scale byte + 16 code bytes), from the loads of bytes 0..63 and 64..67:
    //   codes: byte 16q + i <- byte 17q + 1 + i (code byte i of block q; an index >= 64 reads the second load);
    //   scale: byte 4l + 2 <- byte 17 (l / 4), the scale of the block of int32 lane l, placed so that a shift left by
    //          7 puts it at bit 23, a float's exponent field (the other bytes are masked off).
    // The step layout, from the load of its scale bytes: step_scale: byte 4l + 2 <- byte l / 4.
    alignas(64) uint8_t codes[64];
    alignas(64) uint8_t scale[64];
    alignas(64) uint8_t step_scale[64];
    constexpr StepIndex() : codes(), scale(), step_scale() {
        for (int i = 0; i < 64; ++i) {
            codes[i] = static_cast<uint8_t>(17 * (i / 16) + 1 + i % 16);
            scale[i] = static_cast<uint8_t>(17 * (i / 16));  // only bytes 4l + 2 are kept (kScaleBytes)
            step_scale[i] = static_cast<uint8_t>(i / 16);
        }
    }
};
constexpr StepIndex kStepIndex;
constexpr __mmask64 kScaleBytes = 0x4444444444444444ull;  // byte 2 of every int32 lane

// The bytes of one step as two vectors: a = bytes 0..63, b = bytes 64..67 (zeros elsewhere). A whole step is a
// plain 64-byte load and a 4-byte load — masked byte loads cost several times more on some CPUs (measured here:
// the kernel ran at 10.7 GB/s with them, 24 with plain loads). The last step of a row with fewer than 4 blocks left
// uses masked loads, which never touch the bytes they mask off, so nothing past the row is read; in the step layout
// they give a its code bytes and b its scale bytes, as a whole step does.
template <bool kSteps>
inline void load_step(const uint8_t* p, int64_t blocks, __m512i& a, __m512i& b) {
    if (blocks == kStepBlocks) {
        a = _mm512_loadu_si512(p);
        b = _mm512_castsi128_si512(_mm_loadu_si32(p + 64));
        return;
    }
    if constexpr (kSteps) {
        a = _mm512_maskz_loadu_epi8((__mmask64(1) << (16 * blocks)) - 1, p);
        b = _mm512_maskz_loadu_epi8((__mmask64(1) << blocks) - 1, p + 16 * blocks);
        return;
    }
    const int64_t bytes = blocks * static_cast<int64_t>(sizeof(Block));  // < 64
    a = _mm512_maskz_loadu_epi8((__mmask64(1) << bytes) - 1, p);
    b = _mm512_setzero_si512();
}

template <bool kSteps>  // the step layout (else ggml's)
struct Tiles {
    const WeightView& w;
    const uint8_t* x;  // n_tokens prepared rows of x_row_bytes
    int64_t x_row_bytes;
    float* y;
    int64_t y_stride;

    template <int R, int T>
    void tile(int64_t o0, int64_t t0) const {
        const int64_t n_blocks = w.cols / kBlockSize;
        const __m512i code_index = _mm512_load_si512(kStepIndex.codes);
        const __m512i scale_index = _mm512_load_si512(kSteps ? kStepIndex.step_scale : kStepIndex.scale);
        const __m512i lut = _mm512_broadcast_i32x4(_mm_add_epi8(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(kE2M1Doubled)), _mm_set1_epi8(kCodeBias)));
        const __m512i one = _mm512_set1_epi8(1);

        const uint8_t* rp[R];
        const uint8_t* xp[T];
        for (int r = 0; r < R; ++r) rp[r] = w.row(o0 + r);
        for (int t = 0; t < T; ++t) xp[t] = x + (t0 + t) * x_row_bytes;

        __m512 acc[R][T];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
        }
        const int64_t ahead = mxfp4_prefetch_ahead<R>(w);
        for (int64_t b0 = 0; b0 < n_blocks; b0 += kStepBlocks) {
            const int64_t step_blocks = min_i64(kStepBlocks, n_blocks - b0);
            const int64_t offset = b0 / kStepBlocks * kStepWeightBytes;
            const int64_t x_offset = b0 / kStepBlocks * kStepPreparedBytes;
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const uint8_t* p = rp[r] + offset;
                _mm_prefetch(reinterpret_cast<const char*>(p + ahead), _MM_HINT_T1);
                _mm_prefetch(reinterpret_cast<const char*>(p + ahead + 64), _MM_HINT_T1);
                __m512i a, b;
                load_step<kSteps>(p, step_blocks, a, b);
                const __m512i codes = kSteps ? a : _mm512_permutex2var_epi8(a, code_index, b);
                const __m512i low = _mm512_permutexvar_epi8(codes, lut);
                const __m512i high = _mm512_permutexvar_epi8(_mm512_srli_epi16(codes, 4), lut);
                // 2^(e - 128) as a float is the exponent field e - 1: subtract 1 from the byte (saturating, so the
                // denormal scales e = 0 and 1 become 0.0) and shift it into place.
                const __m512i e = _mm512_maskz_permutexvar_epi8(kScaleBytes, scale_index, kSteps ? b : a);
                const __m512 weight_scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_subs_epu8(e, one), 7));
#pragma GCC unroll 16
                for (int t = 0; t < T; ++t) {
                    const uint8_t* xs = xp[t] + x_offset;
                    __m512i sum = _mm512_loadu_si512(xs + kPreparedStartOffset);
                    sum = _mm512_dpbusd_epi32(sum, low, _mm512_loadu_si512(xs + kPreparedLowOffset));
                    sum = _mm512_dpbusd_epi32(sum, high, _mm512_loadu_si512(xs + kPreparedHighOffset));
                    // activation scale x 2^(e - 128): exact (a power of two) unless it leaves the normal floats.
                    const __m512 scale =
                        _mm512_mul_ps(_mm512_loadu_ps(reinterpret_cast<const float*>(xs + kPreparedScaleOffset)), weight_scale);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, acc[r][t]);
                }
            }
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) y[(t0 + t) * y_stride + o0 + r] = reduce_add(acc[r][t]);
        }
    }
};

// 8 rows per tile up to 2 tokens (16 accumulators; verifying one drafted token then costs about one decode),
// 4 rows for 3 and 4 tokens.
constexpr int kTokenTile = 4;
template <int T>
constexpr int kRowsPerTile = T <= 2 ? 8 : 4;
constexpr int64_t kRowBlockBytes = 128 * 1024;  // rows whose weights stay in L2 while all token tiles pass

template <int T, bool kSteps>
void sweep_rows(const Tiles<kSteps>& tiles, int64_t row_begin, int64_t row_end, int64_t t0) {
    constexpr int R = kRowsPerTile<T>;
    int64_t o = row_begin;
    for (; o + R <= row_end; o += R) tiles.template tile<R, T>(o, t0);
    for (; o < row_end; ++o) tiles.template tile<1, T>(o, t0);
}

template <bool kSteps>
void matmul_rows_layout(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y,
                        int64_t y_stride, int64_t row_begin, int64_t row_end) {
    const Tiles<kSteps> tiles{w, static_cast<const uint8_t*>(x), x_row_bytes, y, y_stride};
    const int64_t row_bytes = w.row_bytes() > 0 ? w.row_bytes() : 1;
    int64_t block = kRowBlockBytes / row_bytes;
    block = block < 8 ? 8 : block / 8 * 8;
    for (int64_t rb = row_begin; rb < row_end; rb += block) {
        const int64_t re = min_i64(rb + block, row_end);
        for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenTile) {
            switch (min_i64(kTokenTile, n_tokens - t0)) {
                case 1: sweep_rows<1>(tiles, rb, re, t0); break;
                case 2: sweep_rows<2>(tiles, rb, re, t0); break;
                case 3: sweep_rows<3>(tiles, rb, re, t0); break;
                default: sweep_rows<4>(tiles, rb, re, t0); break;
            }
        }
    }
}

}  // namespace

const RowKernelsByLayout kRowKernels{matmul_rows_layout<false>, matmul_rows_layout<true>};

}  // namespace specqd::mxfp4::avx512
