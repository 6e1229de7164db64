// MXFP4 x f32 matmul, AVX2 path (compiled with AVX2 + FMA; called only when the CPU and OS support them).
//
// Decoding 8 weights: their 8 code bytes widen to 8 int32 lanes (vpmovzxbd); vpermps, which reads only the low 3
// bits of each index lane, looks up the magnitude in an 8-entry float table already multiplied by the block's
// scale, and a blend on bit 3 (shifted into the sign bit) picks the negated table instead. Lanes as loaded give
// elements 0..15 (low nibbles); shifted right by 4, elements 16..31. The tables hold kE2M1Doubled * 2^(e - 128),
// exact, and the negative table keeps +0 for code 8 as ggml does: the weights are the reference's floats.
//
// Shape (as in kernels/matmul-avx2.cpp): one dot product = one 8-lane accumulator fed columns k..k+7, k+8..k+15,
// k+16..k+23, k+24..k+31 of each block in that order, then one fixed horizontal sum; tiles of R rows x T tokens
// change how many dot products run side by side, never the operations inside one.
//
// Everything stays in an anonymous namespace and uses no shared inline functions (see kernels/matmul-avx512.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <bit>
#include <cstdint>

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

// 8 weights from 8 codes in the low 4 bits of each lane (higher bits ignored).
inline __m256 decode8(__m256i codes, __m256 pos, __m256 neg) {
    const __m256 sign = _mm256_castsi256_ps(_mm256_slli_epi32(codes, 28));
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(pos, codes), _mm256_permutevar8x32_ps(neg, codes), sign);
}

constexpr int64_t kPrefetchBlocks = 16;

struct Tiles {
    const WeightView& w;
    const float* x;
    int64_t x_stride;
    float* y;
    int64_t y_stride;

    template <int R, int T>
    void tile(int64_t o0, int64_t t0) const {
        const int64_t n_blocks = w.cols / kBlockSize;
        const __m256 pos = _mm256_setr_ps(0, 1, 2, 3, 4, 6, 8, 12);
        const __m256 neg = _mm256_setr_ps(0, -1, -2, -3, -4, -6, -8, -12);
        const Block* rp[R];
        const float* xp[T];
        for (int r = 0; r < R; ++r) rp[r] = reinterpret_cast<const Block*>(w.row(o0 + r));
        for (int t = 0; t < T; ++t) xp[t] = x + (t0 + t) * x_stride;

        __m256 acc[R][T];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        }
        for (int64_t b = 0; b < n_blocks; ++b) {
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const Block* blk = rp[r] + b;
                _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetchBlocks), _MM_HINT_T0);
                const __m256 d = _mm256_set1_ps(kScaleHalf.v[blk->e]);
                const __m256 pos_d = _mm256_mul_ps(pos, d);
                const __m256 neg_d = _mm256_mul_ps(neg, d);
                const __m256i c0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk->qs)));
                const __m256i c1 =
                    _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk->qs + 8)));
                const __m256 wv[4] = {decode8(c0, pos_d, neg_d), decode8(c1, pos_d, neg_d),
                                      decode8(_mm256_srli_epi32(c0, 4), pos_d, neg_d),
                                      decode8(_mm256_srli_epi32(c1, 4), pos_d, neg_d)};
#pragma GCC unroll 16
                for (int t = 0; t < T; ++t) {
                    const float* xb = xp[t] + b * kBlockSize;
#pragma GCC unroll 4
                    for (int i = 0; i < 4; ++i) acc[r][t] = _mm256_fmadd_ps(wv[i], _mm256_loadu_ps(xb + 8 * i), acc[r][t]);
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

template <int T>
void sweep_rows(const Tiles& tiles, int64_t row_begin, int64_t row_end, int64_t t0) {
    constexpr int R = kRowsPerTile<T>;
    int64_t o = row_begin;
    for (; o + R <= row_end; o += R) tiles.tile<R, T>(o, t0);
    for (; o < row_end; ++o) tiles.tile<1, T>(o, t0);
}

}  // namespace

void matmul_rows(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y, int64_t y_stride,
                 int64_t row_begin, int64_t row_end) {
    const Tiles tiles{w, static_cast<const float*>(x), x_row_bytes / 4, y, y_stride};
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

}  // namespace specqd::mxfp4::avx2
