// MXFP4 x int8 activations, AVX2 path (compiled with AVX2 + FMA; called only when the CPU and OS support them),
// and the activation rounding both int8 kernels use (prepare_activations; the avx512 kernel reads the same layout).
//
// Why int8, and the prepared layout: see mxfp4-kernels.h. Here a step of 4 blocks is two halves of 2 blocks, each
// one 256-bit vector: the 2 x 16 code bytes load as one vector, the nibbles split into elements 0..15 and 16..31,
// and vpshufb maps each code to its doubled E2M1 value plus 12, in [0, 24]. vpmaddubsw multiplies those unsigned
// bytes by the int8 activations and adds pairs (at most 2 x 24 x 127, no saturation), the low and high halves add
// up in int16 (at most 12192), and vpmaddwd by 1 gives 8 int32 lanes of 8 products each, 4 lanes per block — the
// lanes vpdpbusd gives on AVX-512, so the prepared starting sums (-12 x the lane's activations) cancel the bias
// exactly. The block scales come from a 256-entry table of 2^(e - 128), times the activation scale of the lane.
//
// Shape (as in kernels/matmul-avx2.cpp): one dot product = one 8-lane accumulator fed the two halves of every step
// in order, then one fixed horizontal sum; tiles of R rows x T tokens change how many dot products run side by
// side, never the operations inside one.
//
// Everything stays in an anonymous namespace and uses no shared inline functions (see kernels/matmul-avx512.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <bit>
#include <cstdint>
#include <cstring>

#include "mxfp4/mxfp4-kernels.h"
#include "mxfp4/mxfp4.h"

namespace specqd::mxfp4::avx2 {
namespace {

inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

inline float reduce_add(__m256 s) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

inline float reduce_max(__m256 s) {
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

constexpr float kFloatMax = 3.40282347e38f;

// ---- Activations ----

// One block of 32 floats as ActivationRounding::int8 rounds it (see kernels/matmul.h): elements 0..15 to low,
// 16..31 to high; returns the scale (0 for a block that becomes all zeros).
float round_block(const float* x, int8_t* low, int8_t* high) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    __m256 magnitude = zero;
    for (int i = 0; i < 4; ++i) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        // x - x is 0 exactly for finite x and NaN otherwise: non-finite values count as 0.
        v[i] = _mm256_and_ps(v[i], _mm256_cmp_ps(_mm256_sub_ps(v[i], v[i]), zero, _CMP_EQ_OQ));
        magnitude = _mm256_max_ps(magnitude, _mm256_andnot_ps(sign, v[i]));
    }
    const float amax = reduce_max(magnitude);
    const float inverse = amax > 0.0f ? 127.0f / amax : 0.0f;
    if (!(inverse > 0.0f && inverse <= kFloatMax)) {
        std::memset(low, 0, 16);
        std::memset(high, 0, 16);
        return 0.0f;
    }
    const __m256 iv = _mm256_set1_ps(inverse);
    __m256i q[4];
    // vcvtps2dq rounds to nearest even (the default MXCSR mode), like nearbyintf in the reference.
    for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], iv));
    // The packs interleave 128-bit lanes; the dword permute puts the 32 bytes back in element order.
    const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    const __m256i ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(low), _mm256_castsi256_si128(ordered));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(high), _mm256_extracti128_si256(ordered, 1));
    return amax / 127.0f;
}

// ---- Weights x activations ----

// 2^(e - 128) for every E8M0 byte, from its bits as ggml builds it (denormals 2^-128 and 2^-127 for e = 0 and 1);
// a table, so a block's scale is one broadcast load. Built at compile time: no code runs for it.
struct ScaleTable {
    float v[256];
    constexpr ScaleTable() : v() {
        for (int e = 0; e < 256; ++e) {
            v[e] = std::bit_cast<float>(e < 2 ? (0x00200000u << e) : static_cast<uint32_t>(e - 1) << 23);
        }
    }
};
constexpr ScaleTable kScaleHalf;

// Half h of a step, decoded (decode_half).
struct HalfStep {
    __m256i low, high;
    __m256 scale;
};

// Half h of a step: the biased weights of blocks 2h and 2h + 1 (low: elements 0..15 of each, high: 16..31) and
// their weight scales, 4 lanes each. p is the step, `blocks` how many blocks it has (the last step of a row may
// have fewer than 4); a block the step lacks gets zero codes and a zero scale, and nothing past the row is read. In
// the step layout (mxfp4.h) the two blocks' codes are 32 consecutive bytes; in ggml's, two 16-byte loads.
template <bool kSteps>
inline HalfStep decode_half(const uint8_t* p, int64_t blocks, int64_t h, __m256i lut, __m256i nibble) {
    __m256i codes;
    __m256 scale;
    if (2 * h + 1 < blocks) {
        if constexpr (kSteps) {
            const uint8_t* e = p + 16 * blocks + 2 * h;
            codes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * h));
            scale = _mm256_set_m128(_mm_set1_ps(kScaleHalf.v[e[1]]), _mm_set1_ps(kScaleHalf.v[e[0]]));
        } else {
            const auto* a = reinterpret_cast<const Block*>(p) + 2 * h;
            codes = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(a[1].qs),
                                        reinterpret_cast<const __m128i*>(a[0].qs));
            scale = _mm256_set_m128(_mm_set1_ps(kScaleHalf.v[a[1].e]), _mm_set1_ps(kScaleHalf.v[a[0].e]));
        }
    } else {
        const uint8_t* qs = kSteps ? p + 32 * h : reinterpret_cast<const Block*>(p)[2 * h].qs;
        const uint8_t e = kSteps ? p[16 * blocks + 2 * h] : reinterpret_cast<const Block*>(p)[2 * h].e;
        codes = _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
        codes = _mm256_inserti128_si256(codes, _mm_setzero_si128(), 1);
        scale = _mm256_set_m128(_mm_setzero_ps(), _mm_set1_ps(kScaleHalf.v[e]));
    }
    HalfStep half;
    half.low = _mm256_shuffle_epi8(lut, _mm256_and_si256(codes, nibble));
    half.high = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(codes, 4), nibble));
    half.scale = scale;
    return half;
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
        const __m256i nibble = _mm256_set1_epi8(0x0f);
        const __m256i ones = _mm256_set1_epi16(1);
        const __m128i lut128 =
            _mm_add_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kE2M1Doubled)), _mm_set1_epi8(kCodeBias));
        const __m256i lut = _mm256_broadcastsi128_si256(lut128);
        const uint8_t* rp[R];
        const uint8_t* xp[T];
        for (int r = 0; r < R; ++r) rp[r] = w.row(o0 + r);
        for (int t = 0; t < T; ++t) xp[t] = x + (t0 + t) * x_row_bytes;
        const int64_t ahead = mxfp4_prefetch_ahead<R>(w);

        __m256 acc[R][T];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        }
        for (int64_t b0 = 0; b0 < n_blocks; b0 += kStepBlocks) {
            const int64_t step_blocks = min_i64(kStepBlocks, n_blocks - b0);
            const int64_t offset = b0 / kStepBlocks * kStepWeightBytes;
            const int64_t x_offset = b0 / kStepBlocks * kStepPreparedBytes;
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const uint8_t* p = rp[r] + offset;
                // Into L1, unlike the other fast kernels (kernel-table.h says why and what L2 measured here).
                _mm_prefetch(reinterpret_cast<const char*>(p + ahead), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(p + 128), _MM_HINT_T0);
                for (int64_t h = 0; h < 2 && 2 * h < step_blocks; ++h) {
                    const HalfStep half = decode_half<kSteps>(p, step_blocks, h, lut, nibble);
#pragma GCC unroll 16
                    for (int t = 0; t < T; ++t) {
                        const uint8_t* xs = xp[t] + x_offset + 32 * h;
                        const __m256i pairs = _mm256_add_epi16(
                            _mm256_maddubs_epi16(half.low, _mm256_loadu_si256(
                                                               reinterpret_cast<const __m256i*>(xs + kPreparedLowOffset))),
                            _mm256_maddubs_epi16(half.high, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                                                xs + kPreparedHighOffset))));
                        const __m256i sum = _mm256_add_epi32(
                            _mm256_madd_epi16(pairs, ones),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs + kPreparedStartOffset)));
                        const __m256 scale = _mm256_mul_ps(
                            half.scale, _mm256_loadu_ps(reinterpret_cast<const float*>(xs + kPreparedScaleOffset)));
                        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc[r][t]);
                    }
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

constexpr int kTokenTile = 4;
template <int T>
constexpr int kRowsPerTile = T == 1 ? 4 : 2;
constexpr int64_t kRowBlockBytes = 128 * 1024;

template <int T, bool kSteps>
void sweep_rows(const Tiles<kSteps>& tiles, int64_t row_begin, int64_t row_end, int64_t t0) {
    constexpr int R = kRowsPerTile<T>;
    int64_t o = row_begin;
    for (; o + R <= row_end; o += R) tiles.template tile<R, T>(o, t0);
    for (; o < row_end; ++o) tiles.template tile<1, T>(o, t0);
}

}  // namespace

void prepare_activations(const float* x, int64_t n_tokens, int64_t cols, void* dst, int64_t dst_row_bytes) {
    const int64_t n_blocks = cols / kBlockSize;
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    const __m256i minus_bias = _mm256_set1_epi32(-kCodeBias);
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xr = x + t * cols;
        uint8_t* out = static_cast<uint8_t*>(dst) + t * dst_row_bytes;
        for (int64_t b0 = 0; b0 < n_blocks; b0 += kStepBlocks) {
            uint8_t* step = out + b0 / kStepBlocks * kStepPreparedBytes;
            auto* low = reinterpret_cast<int8_t*>(step + kPreparedLowOffset);
            auto* high = reinterpret_cast<int8_t*>(step + kPreparedHighOffset);
            alignas(16) float scale[kStepBlocks] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int64_t j = 0; j < kStepBlocks; ++j) {
                if (b0 + j < n_blocks) {
                    scale[j] = round_block(xr + (b0 + j) * kBlockSize, low + 16 * j, high + 16 * j);
                } else {  // past the last block: zeros contribute nothing (the kernels give those weights scale 0)
                    std::memset(low + 16 * j, 0, 16);
                    std::memset(high + 16 * j, 0, 16);
                }
            }
            // Lane l (of 16, two halves of 8) covers bytes 4l..4l+3 of both the low and the high bytes: its starting
            // sum is -12 x the sum of those 8 int8 values.
            const __m128 four = _mm_load_ps(scale);
            for (int h = 0; h < 2; ++h) {
                const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(low + 32 * h));
                const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(high + 32 * h));
                const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(ones8, lo), _mm256_maddubs_epi16(ones8, hi));
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(step + kPreparedStartOffset + 32 * h),
                                    _mm256_mullo_epi32(_mm256_madd_epi16(pairs, ones16), minus_bias));
                const __m256i lane_block = _mm256_setr_epi32(2 * h, 2 * h, 2 * h, 2 * h, 2 * h + 1, 2 * h + 1,
                                                             2 * h + 1, 2 * h + 1);
                _mm256_storeu_ps(reinterpret_cast<float*>(step + kPreparedScaleOffset + 32 * h),
                                 _mm256_permutevar8x32_ps(_mm256_castps128_ps256(four), lane_block));
            }
        }
    }
}

int64_t prepared_row_bytes(int64_t cols) {
    return (cols / kBlockSize + kStepBlocks - 1) / kStepBlocks * kStepPreparedBytes;
}

namespace {

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

}  // namespace specqd::mxfp4::avx2
