// MXFP4 x f32 matmul, AVX-512 path (compiled with AVX-512 flags; called only when the CPU has them).
//
// Decoding a block costs three instructions per 16 weights: the 16 code bytes widen to 16 int32 lanes
// (vpmovzxbd), and vpermps, which reads only the low 4 bits of each index lane, looks each code up in a 16-entry
// float table already multiplied by the block's scale: lanes as they are give elements 0..15 (low nibbles), shifted
// right by 4 they give elements 16..31 (high nibbles). The table entries are kE2M1Doubled * 2^(e - 128), exact, so
// the weights are the reference's floats and only the summation order differs from ref::matmul.
//
// Shape (as in kernels/matmul-avx512.cpp): one dot product = one 16-lane accumulator, columns k..k+15 then
// k+16..k+31 of each block, then one fixed horizontal sum; tiles of R rows x T tokens change how many dot products
// run side by side, never the operations inside one, so results are batch- and thread-invariant.
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

// 2^(e - 128) from its bits, as ggml builds it: denormals 2^-128 and 2^-127 for e = 0 and 1.
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

// How many blocks ahead every tile prefetches its rows: decode and short verification batches stream each weight
// once from DRAM (see kernels/matmul-avx512.cpp).
constexpr int64_t kPrefetchBlocks = 16;

struct Tiles {
    const WeightView& w;
    const float* x;  // n_tokens rows of x_stride floats
    int64_t x_stride;
    float* y;
    int64_t y_stride;

    template <int R, int T>
    void tile(int64_t o0, int64_t t0) const {
        const int64_t n_blocks = w.cols / kBlockSize;
        const __m512 lut = _mm512_cvtepi32_ps(
            _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kE2M1Doubled))));
        const Block* rp[R];
        const float* xp[T];
        for (int r = 0; r < R; ++r) rp[r] = reinterpret_cast<const Block*>(w.row(o0 + r));
        for (int t = 0; t < T; ++t) xp[t] = x + (t0 + t) * x_stride;

        __m512 acc[R][T];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < n_blocks; ++b) {
            __m512 xv[T][2];
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) {
                xv[t][0] = _mm512_loadu_ps(xp[t] + b * kBlockSize);
                xv[t][1] = _mm512_loadu_ps(xp[t] + b * kBlockSize + 16);
            }
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const Block* blk = rp[r] + b;
                // One prefetch per 64 bytes of a row (every third 17-byte block), not one per block: the prefetches
                // compete with the loads for the load ports.
                if (b % 3 == 0) _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetchBlocks), _MM_HINT_T0);
                const __m512 lut_d = _mm512_mul_ps(lut, _mm512_set1_ps(kScaleHalf.v[blk->e]));
                const __m512i codes =
                    _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs)));
                const __m512 w0 = _mm512_permutexvar_ps(codes, lut_d);
                const __m512 w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(codes, 4), lut_d);
#pragma GCC unroll 16
                for (int t = 0; t < T; ++t) {
                    acc[r][t] = _mm512_fmadd_ps(w0, xv[t][0], acc[r][t]);
                    acc[r][t] = _mm512_fmadd_ps(w1, xv[t][1], acc[r][t]);
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
constexpr int kRowsPerTile = T == 1 ? 8 : 4;
constexpr int64_t kRowBlockBytes = 128 * 1024;  // rows whose weights stay in L2 while all token tiles pass

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

}  // namespace specqd::mxfp4::avx512
