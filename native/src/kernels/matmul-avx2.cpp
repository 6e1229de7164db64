// AVX2 + FMA + F16C matmul kernels (called only when the CPU and OS support them).
//
// Same shape as the AVX-512 kernels (see matmul-avx512.cpp) with 8-lane vectors: one output = one dot product over
// k accumulated in a single 8-lane vector, then one fixed horizontal sum. Register tiles of R rows x T tokens reuse
// each converted weight vector T times without changing the operations inside any one dot product, so results do
// not depend on batch size, batch position or threads.
//
// Everything stays in an anonymous namespace and uses no shared inline functions (see matmul-avx512.cpp for why).
// GCC 12 reports -W(maybe-)uninitialized inside its own AVX-512 intrinsic headers (the "undefined" pass-through
// operands, GCC bug 105593); the warning is about the header, not this code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "kernels/kernel-table.h"

namespace specqd::avx2 {
namespace {

inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

inline float reduce_add(__m256 s) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

// ---- Weight loaders: 16 weights of one row from column k, as two vectors of 8 floats. ----

struct LoadF32 {
    using Elem = float;
    using Row = const float*;
    static constexpr bool kAnyCols = true;
    static Row row(const WeightView& w, int64_t o) { return static_cast<const float*>(w.data) + o * w.cols; }
    static void load(Row p, int64_t k, __m256& w0, __m256& w1) {
        w0 = _mm256_loadu_ps(p + k);
        w1 = _mm256_loadu_ps(p + k + 8);
    }
    static void prefetch(Row p, int64_t k) { _mm_prefetch(reinterpret_cast<const char*>(p + k), _MM_HINT_T1); }
};

struct LoadF16 {
    using Elem = uint16_t;
    using Row = const uint16_t*;
    static constexpr bool kAnyCols = true;
    static Row row(const WeightView& w, int64_t o) { return static_cast<const uint16_t*>(w.data) + o * w.cols; }
    static void load(Row p, int64_t k, __m256& w0, __m256& w1) {
        w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k)));
        w1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k + 8)));
    }
    static void prefetch(Row p, int64_t k) { _mm_prefetch(reinterpret_cast<const char*>(p + k), _MM_HINT_T1); }
};

inline __m256 widen_bf16(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }

struct LoadBF16 {
    using Elem = uint16_t;
    using Row = const uint16_t*;
    static constexpr bool kAnyCols = true;
    static Row row(const WeightView& w, int64_t o) { return static_cast<const uint16_t*>(w.data) + o * w.cols; }
    static void load(Row p, int64_t k, __m256& w0, __m256& w1) {
        w0 = widen_bf16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k)));
        w1 = widen_bf16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k + 8)));
    }
    static void prefetch(Row p, int64_t k) { _mm_prefetch(reinterpret_cast<const char*>(p + k), _MM_HINT_T1); }
};

// Q8_0: a 16-column step is half a block; weights dequantized as q * d in f32, as the reference does.
struct LoadQ8_0 {
    using Elem = BlockQ8_0;
    using Row = const BlockQ8_0*;
    static constexpr bool kAnyCols = false;
    static Row row(const WeightView& w, int64_t o) {
        return static_cast<const BlockQ8_0*>(w.data) + o * (w.cols / kQ8_0BlockSize);
    }
    static void load(Row p, int64_t k, __m256& w0, __m256& w1) {
        const BlockQ8_0* b = p + (k / kQ8_0BlockSize);
        const int8_t* q = b->qs + (k % kQ8_0BlockSize);
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d));
        const __m128i q16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
        w0 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q16)), d);
        w1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(q16, q16))), d);
    }
    static void prefetch(Row p, int64_t k) {
        _mm_prefetch(reinterpret_cast<const char*>(p + k / kQ8_0BlockSize), _MM_HINT_T1);
    }
};

// ---- R rows x T tokens of dot products per tile. ----

template <class L>
struct F32Tiles {
    const WeightView& w;
    const float* x;
    int64_t x_stride;
    float* y;
    int64_t y_stride;

    // One 16-column step of R x T dot products: columns [k, k+8) then [k+8, k+16) into the one accumulator.
    template <int R, int T>
    static void accumulate(__m256 (&acc)[R][T], const __m256 (&wv)[R][2], const float* const (&xp)[T], int64_t k) {
#pragma GCC unroll 16
        for (int half = 0; half < 2; ++half) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) {
                const __m256 xv = _mm256_loadu_ps(xp[t] + k + 8 * half);
#pragma GCC unroll 16
                for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r][half], xv, acc[r][t]);
            }
        }
    }

    template <int R, int T>
    void tile(int64_t o0, int64_t t0) const {
        const int64_t cols = w.cols;
        typename L::Row rp[R];
        const float* xp[T];
        for (int r = 0; r < R; ++r) rp[r] = L::row(w, o0 + r);
        for (int t = 0; t < T; ++t) xp[t] = x + (t0 + t) * x_stride;

        __m256 acc[R][T];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        }

        const int64_t ahead = prefetch_ahead<R>(cols);
        int64_t k = 0;
        for (; k + 16 <= cols; k += 16) {
            __m256 wv[R][2];
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                L::prefetch(rp[r], k + ahead);
                L::load(rp[r], k, wv[r][0], wv[r][1]);
            }
            accumulate<R, T>(acc, wv, xp, k);
        }
        if constexpr (L::kAnyCols) {
            if (k < cols) {
                // Partial last step: copy the remaining columns into zero-padded buffers and run one full step.
                const int64_t n = cols - k;
                typename L::Elem wbuf[R][16] = {};
                float xbuf[T][16] = {};
                __m256 wv[R][2];
                const float* xbp[T];
                for (int r = 0; r < R; ++r) {
                    __builtin_memcpy(wbuf[r], rp[r] + k, static_cast<size_t>(n) * sizeof(typename L::Elem));
                    L::load(wbuf[r], 0, wv[r][0], wv[r][1]);
                }
                for (int t = 0; t < T; ++t) {
                    __builtin_memcpy(xbuf[t], xp[t] + k, static_cast<size_t>(n) * sizeof(float));
                    xbp[t] = xbuf[t];
                }
                accumulate<R, T>(acc, wv, xbp, 0);
            }
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) y[(t0 + t) * y_stride + o0 + r] = reduce_add(acc[r][t]);
        }
    }
};

// Tokens per tile and rows per tile for T tokens: R*T accumulators plus the weight and activation vectors in
// flight must fit the 16 vector registers; a 1-token tile needs 8 independent chains for the two FMA pipes.
constexpr int kTokenTile = 3;
template <int T>
constexpr int kRowsPerTile = T == 1 ? 8 : 3;

// A block of rows whose weights stay in L2 while the token tiles of a long batch pass over it.
constexpr int64_t kRowBlockBytes = 128 * 1024;

template <int T, class Tiles>
void sweep_rows(const Tiles& tiles, int64_t row_begin, int64_t row_end, int64_t t0) {
    constexpr int R = kRowsPerTile<T>;
    int64_t o = row_begin;
    for (; o + R <= row_end; o += R) tiles.template tile<R, T>(o, t0);
    for (; o < row_end; ++o) tiles.template tile<1, T>(o, t0);
}

template <class L>
void matmul_rows_f32(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y,
                     int64_t y_stride, int64_t row_begin, int64_t row_end) {
    const F32Tiles<L> tiles{w, static_cast<const float*>(x), x_row_bytes / 4, y, y_stride};
    const int64_t row_bytes = w.row_bytes() > 0 ? w.row_bytes() : 1;
    int64_t block = kRowBlockBytes / row_bytes;
    block = block < 8 ? 8 : block / 4 * 4;
    for (int64_t rb = row_begin; rb < row_end; rb += block) {
        const int64_t re = min_i64(rb + block, row_end);
        for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenTile) {
            switch (min_i64(kTokenTile, n_tokens - t0)) {
                case 1: sweep_rows<1>(tiles, rb, re, t0); break;
                case 2: sweep_rows<2>(tiles, rb, re, t0); break;
                default: sweep_rows<3>(tiles, rb, re, t0); break;
            }
        }
    }
}

}  // namespace

void fill_matmul_kernels(KernelTable& table) {
    auto plain = [](MatmulRowsFn rows) {
        MatmulKernel k;
        k.rows = rows;
        return k;
    };
    table.matmul[static_cast<int>(WeightSlot::f32)] = plain(matmul_rows_f32<LoadF32>);
    table.matmul[static_cast<int>(WeightSlot::f16)] = plain(matmul_rows_f32<LoadF16>);
    table.matmul[static_cast<int>(WeightSlot::bf16)] = plain(matmul_rows_f32<LoadBF16>);
    table.matmul[static_cast<int>(WeightSlot::q8_0)] = plain(matmul_rows_f32<LoadQ8_0>);
}

}  // namespace specqd::avx2
