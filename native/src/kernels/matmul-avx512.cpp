// AVX-512 matmul kernels (compiled with AVX-512 F/BW/VL/DQ/BF16/VNNI; called only when the CPU has them).
//
// Shape of every kernel: one output = one dot product over k, accumulated in a single 16-lane vector (columns
// k..k+15 go to lanes 0..15, step after step), then one fixed horizontal sum. A register tile computes R rows x
// T tokens of such dot products at once, so that every weight vector loaded (and converted) is used T times and
// every activation vector R times; the tile shape changes how many dot products run side by side, never the
// operations inside one. That is why y[t][o] does not depend on n_tokens, on where t sits in the batch, or on how
// rows are split across threads. (One accumulator per dot product rather than several keeps R x T tiles of 4 x 4
// within the 32 registers; the R x T independent chains hide the FMA latency.)
//
// Everything here stays in an anonymous namespace and uses no inline functions or templates from shared headers:
// a non-inlined copy of such a function compiled with AVX-512 flags could be picked by the linker for callers on
// CPUs without AVX-512.
// GCC 12 reports -W(maybe-)uninitialized inside its own AVX-512 intrinsic headers (the "undefined" pass-through
// operands, GCC bug 105593); the warning is about the header, not this code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "kernels/kernel-table.h"

namespace specqd::avx512 {
namespace {

inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

// The one horizontal reduction every dot product ends with.
inline float reduce_add(__m512 s) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

// Masks for the last, partial 32-column step: lanes [0, n) of the two 16-lane halves.
inline __mmask16 tail_mask_lo(int64_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u); }
inline __mmask16 tail_mask_hi(int64_t n) { return n > 16 ? tail_mask_lo(n - 16) : __mmask16(0); }

// ---- Weight loaders: 32 weights of one row from column k, as two vectors of 16 floats. ----

struct LoadF32 {
    using Row = const float*;
    static constexpr bool kAnyCols = true;  // handles a partial last step
    static Row row(const WeightView& w, int64_t o) { return static_cast<const float*>(w.data) + o * w.cols; }
    static void load(Row p, int64_t k, __m512& w0, __m512& w1) {
        w0 = _mm512_loadu_ps(p + k);
        w1 = _mm512_loadu_ps(p + k + 16);
    }
    static void load_tail(Row p, int64_t k, __mmask16 m0, __mmask16 m1, __m512& w0, __m512& w1) {
        w0 = _mm512_maskz_loadu_ps(m0, p + k);
        w1 = _mm512_maskz_loadu_ps(m1, p + k + 16);
    }
    static void prefetch(Row p, int64_t k) { _mm_prefetch(reinterpret_cast<const char*>(p + k), _MM_HINT_T1); }
};

struct LoadF16 {
    using Row = const uint16_t*;
    static constexpr bool kAnyCols = true;
    static Row row(const WeightView& w, int64_t o) { return static_cast<const uint16_t*>(w.data) + o * w.cols; }
    static void load(Row p, int64_t k, __m512& w0, __m512& w1) {
        w0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k)));
        w1 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k + 16)));
    }
    static void load_tail(Row p, int64_t k, __mmask16 m0, __mmask16 m1, __m512& w0, __m512& w1) {
        w0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m0, p + k));
        w1 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m1, p + k + 16));
    }
    static void prefetch(Row p, int64_t k) { _mm_prefetch(reinterpret_cast<const char*>(p + k), _MM_HINT_T1); }
};

// bf16 -> f32 is exact: the bf16 bits become the top half of the f32.
inline __m512 widen_bf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }

struct LoadBF16 {
    using Row = const uint16_t*;
    static constexpr bool kAnyCols = true;
    static Row row(const WeightView& w, int64_t o) { return static_cast<const uint16_t*>(w.data) + o * w.cols; }
    static void load(Row p, int64_t k, __m512& w0, __m512& w1) {
        w0 = widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k)));
        w1 = widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k + 16)));
    }
    static void load_tail(Row p, int64_t k, __mmask16 m0, __mmask16 m1, __m512& w0, __m512& w1) {
        w0 = widen_bf16(_mm256_maskz_loadu_epi16(m0, p + k));
        w1 = widen_bf16(_mm256_maskz_loadu_epi16(m1, p + k + 16));
    }
    static void prefetch(Row p, int64_t k) { _mm_prefetch(reinterpret_cast<const char*>(p + k), _MM_HINT_T1); }
};

// Q8_0: one 32-column step is exactly one block. Dequantized as q * d in f32, the same product the reference
// computes, so only the summation order differs from it.
struct LoadQ8_0 {
    using Row = const BlockQ8_0*;
    static constexpr bool kAnyCols = false;  // cols is a multiple of 32
    static Row row(const WeightView& w, int64_t o) {
        return static_cast<const BlockQ8_0*>(w.data) + o * (w.cols / kQ8_0BlockSize);
    }
    static void load(Row p, int64_t k, __m512& w0, __m512& w1) {
        const BlockQ8_0* b = p + (k / kQ8_0BlockSize);
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d));
        const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs));
        const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + 16));
        w0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), d);
        w1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), d);
    }
    static void load_tail(Row, int64_t, __mmask16, __mmask16, __m512&, __m512&) {}
    static void prefetch(Row p, int64_t k) {
        _mm_prefetch(reinterpret_cast<const char*>(p + k / kQ8_0BlockSize), _MM_HINT_T1);
    }
};

// How many times a tile prefetches each weight line when it makes the only pass over the weights (decode,
// verification: every line comes from DRAM). Why repeating the same prefetch helps is not clear (perhaps prefetches
// are dropped while the core's miss buffers are full; prefetches of an address already in L1 helped a little too, so
// spacing the loads out may be part of it). Measured on the 2-core Zen 4 VM (bench-forward, 0.5B shape, 1 thread
// pinned, interleaved), BF16 decode tok/s by prefetches per line: 1: 22.0-23.6, 2: 24.0-25.7, 3: 25.7-26.5,
// 4: 27.3-28.1, 5: 28-31, 6: 27.5-28, 8: 27; from 1 to 4, verifying 2 / 4 tokens 41-42 / 43-44 -> 32 / 36 ms, on 2
// threads decode 33.0-33.3 -> 35.5-35.8, and F16 decode 21.6-22.0 -> 25.5 (1 thread). A second prefetch a tile further
// on, or of the next line, did about as well as a repeat. In a long prefill the weights come from L2 after the first
// token tile and extra prefetches cost ~3%, so there a line is prefetched once.
constexpr int kSinglePassPrefetches = 4;

// ---- f32-activation kernels: R rows x T tokens of dot products per tile. ----

template <class L>
struct F32Tiles {
    const WeightView& w;
    const float* x;  // n_tokens rows of x_stride floats
    int64_t x_stride;
    float* y;
    int64_t y_stride;
    bool single_pass;  // the only pass over the weights: kSinglePassPrefetches per line

    // One 32-column step of R x T dot products: columns [k, k+16) then [k+16, k+32) into the one accumulator.
    template <int R, int T>
    static void accumulate(__m512 (&acc)[R][T], const __m512 (&wv)[R][2], const __m512 (&xv)[T][2]) {
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r][0], xv[t][0], acc[r][t]);
        }
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r][1], xv[t][1], acc[r][t]);
        }
    }

    template <int R, int T>
    void tile(int64_t o0, int64_t t0) const {
        const int64_t cols = w.cols;
        typename L::Row rp[R];
        const float* xp[T];
        for (int r = 0; r < R; ++r) rp[r] = L::row(w, o0 + r);
        for (int t = 0; t < T; ++t) xp[t] = x + (t0 + t) * x_stride;

        __m512 acc[R][T];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
        }

        const int64_t ahead = prefetch_ahead<R>(cols);
        int64_t k = 0;
        for (; k + 32 <= cols; k += 32) {
            __m512 wv[R][2], xv[T][2];
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                L::prefetch(rp[r], k + ahead);
                if (single_pass) {
#pragma GCC unroll 8
                    for (int i = 1; i < kSinglePassPrefetches; ++i) L::prefetch(rp[r], k + ahead);
                }
                L::load(rp[r], k, wv[r][0], wv[r][1]);
            }
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) {
                xv[t][0] = _mm512_loadu_ps(xp[t] + k);
                xv[t][1] = _mm512_loadu_ps(xp[t] + k + 16);
            }
            accumulate<R, T>(acc, wv, xv);
        }
        if constexpr (L::kAnyCols) {
            if (k < cols) {
                // Partial last step: masked loads give zeros past the last column.
                const __mmask16 m0 = tail_mask_lo(cols - k);
                const __mmask16 m1 = tail_mask_hi(cols - k);
                __m512 wv[R][2], xv[T][2];
#pragma GCC unroll 16
                for (int r = 0; r < R; ++r) L::load_tail(rp[r], k, m0, m1, wv[r][0], wv[r][1]);
#pragma GCC unroll 16
                for (int t = 0; t < T; ++t) {
                    xv[t][0] = _mm512_maskz_loadu_ps(m0, xp[t] + k);
                    xv[t][1] = _mm512_maskz_loadu_ps(m1, xp[t] + k + 16);
                }
                accumulate<R, T>(acc, wv, xv);
            }
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) y[(t0 + t) * y_stride + o0 + r] = reduce_add(acc[r][t]);
        }
    }
};

// ---- BF16 weights x bf16-rounded activations with vdpbf16ps (32 multiply-adds per instruction). ----

// Activations are rounded to bf16 per row (round to nearest even, the rule of f32_to_bf16 in float-convert.h) and
// zero-padded to a multiple of 64 columns, so the kernel reads whole vectors past the last column.
int64_t bf16_row_bytes(int64_t cols) { return (cols + 63) / 64 * 64 * 2; }

inline __m256i round_to_bf16(__m512 v) {
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
    // NaN stays a quiet NaN instead of rounding into infinity.
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(r);
}

void prepare_bf16(const float* x, int64_t n_tokens, int64_t cols, void* dst, int64_t dst_row_bytes) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xr = x + t * cols;
        auto* out = reinterpret_cast<uint16_t*>(static_cast<uint8_t*>(dst) + t * dst_row_bytes);
        const int64_t padded = dst_row_bytes / 2;
        int64_t k = 0;
        for (; k + 16 <= cols; k += 16) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k), round_to_bf16(_mm512_loadu_ps(xr + k)));
        }
        for (; k < padded; k += 16) {
            const __mmask16 m = k < cols ? tail_mask_lo(cols - k) : __mmask16(0);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k), round_to_bf16(_mm512_maskz_loadu_ps(m, xr + k)));
        }
    }
}

struct Bf16DotTiles {
    // 8 rows per tile up to 2 tokens, as for 1: a tile of 2 tokens with 4 rows made verifying one drafted token
    // cost 1.32-1.38x a decode step (0.5B shape, bench-forward), the weights of 4 rows not enough to keep the
    // memory busy. Up to 4 tokens a step holds the tokens' activations (2T vectors) and one row's weights at a time.
    // Past 4 it holds the R rows' weights for one half of the step (R vectors) and streams the tokens' activations,
    // so that 3 rows x 8 tokens fit the 32 registers and a verification of up to 8 tokens reads the weights once.
    // With 4-token tiles, 5 tokens took a second pass over every row block (0.5B shape, 1 thread, bench-forward,
    // interleaved twice): verifying 5 / 6 / 8 / 16 tokens 55.5 / 58 / 66 / 108 ms -> 46-48 / 47-49 / 54 / 97 (one
    // token: 46-49), prefill of 512 / 2048 tokens 222 / 162 -> 228-230 / 166-171 tokens/s.
    template <int T>
    static constexpr int kRows = T <= 2 ? 8 : T <= 4 ? 4 : 3;
    template <int T>
    static constexpr bool kHoldWeights = T > 4;
    static constexpr int kMaxTokens = 8;

    // One 64-column step of R x T dot products: vdpbf16ps adds the column pair (k+2i, k+2i+1) to lane i, then a
    // second one the pair (k+32+2i, k+33+2i), into the one accumulator. load(r, half) gives row r's weights of
    // columns k + 32 half .. + 32. Either order below gives every accumulator the same two steps.
    template <int R, int T, class Load>
    static void accumulate(__m512 (&acc)[R][T], const uint16_t* const (&xp)[T], int64_t k, Load&& load) {
        if constexpr (kHoldWeights<T>) {
#pragma GCC unroll 2
            for (int half = 0; half < 2; ++half) {
                __m512i wh[R];
                // Keeps GCC from hoisting the second half's weight loads into the first: with them 3 x 8 spilled
                // accumulators to the stack (verifying 8 tokens 59 ms instead of 54).
                __asm__ volatile("" ::: "memory");
#pragma GCC unroll 16
                for (int r = 0; r < R; ++r) wh[r] = load(r, half);
#pragma GCC unroll 16
                for (int t = 0; t < T; ++t) {
                    const __m512i xh = _mm512_loadu_si512(xp[t] + k + 32 * half);
#pragma GCC unroll 16
                    for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], (__m512bh)wh[r], (__m512bh)xh);
                }
            }
        } else {
            __m512i x0[T], x1[T];
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) {
                x0[t] = _mm512_loadu_si512(xp[t] + k);
                x1[t] = _mm512_loadu_si512(xp[t] + k + 32);
            }
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const __m512i w0 = load(r, 0), w1 = load(r, 1);
#pragma GCC unroll 16
                for (int t = 0; t < T; ++t) {
                    acc[r][t] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(acc[r][t], (__m512bh)w0, (__m512bh)x0[t]),
                                                 (__m512bh)w1, (__m512bh)x1[t]);
                }
            }
        }
    }

    const WeightView& w;
    const uint8_t* x;  // n_tokens prepared rows of x_row_bytes
    int64_t x_row_bytes;
    float* y;
    int64_t y_stride;
    // The only pass over the weights (decode, verification): kSinglePassPrefetches per line.
    bool single_pass;

    template <int R, int T>
    void tile(int64_t o0, int64_t t0) const {
        const int64_t cols = w.cols;
        const uint16_t* rp[R];
        const uint16_t* xp[T];
        for (int r = 0; r < R; ++r) rp[r] = static_cast<const uint16_t*>(w.data) + (o0 + r) * cols;
        for (int t = 0; t < T; ++t) xp[t] = reinterpret_cast<const uint16_t*>(x + (t0 + t) * x_row_bytes);

        __m512 acc[R][T];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
        }

        const int64_t ahead = prefetch_ahead<R>(cols);
        int64_t k = 0;
        for (; k + 64 <= cols; k += 64) {
            accumulate<R, T>(acc, xp, k, [&](int r, int half) {
                // A step reads two cache lines of each row; both are prefetched (into L2, see prefetch_ahead() in
                // kernel-table.h). Prefetching only the first left the second to demand misses that did not overlap
                // the arithmetic: a 2-4 token tile ran at compute time + memory time (Zen 5, prefetches into L1:
                // both lines made verifying 2 / 3 / 4 tokens 5 / 9 / 11% faster, decode ~6% slower). Into L2 on the
                // Zen 4 VM, one line per step decoded at 15 tok/s, both at 20 (BF16 0.5B shape, 1 thread pinned).
                const char* line = reinterpret_cast<const char*>(rp[r] + k + ahead + 32 * half);
                _mm_prefetch(line, _MM_HINT_T1);
                if (single_pass) {
#pragma GCC unroll 8
                    for (int i = 1; i < kSinglePassPrefetches; ++i) _mm_prefetch(line, _MM_HINT_T1);
                }
                return _mm512_loadu_si512(rp[r] + k + 32 * half);
            });
        }
        if (k < cols) {
            // Partial last step: weights masked to the remaining columns; x is zero-padded, read whole.
            const int64_t n = cols - k;
            const __mmask32 m0 = n >= 32 ? ~__mmask32(0) : __mmask32((1u << n) - 1u);
            const __mmask32 m1 = n > 32 ? __mmask32((1u << (n - 32)) - 1u) : __mmask32(0);
            accumulate<R, T>(acc, xp, k, [&](int r, int half) {
                return _mm512_maskz_loadu_epi16(half == 0 ? m0 : m1, rp[r] + k + 32 * half);
            });
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) y[(t0 + t) * y_stride + o0 + r] = reduce_add(acc[r][t]);
        }
    }
};

// ---- Tiling over rows and tokens. ----

// Tokens per tile, and rows per tile for a tile of T tokens (a Tiles type may set its own, kMaxTokens and
// kRows<T>): R*T accumulators plus the weight and activation vectors in flight must fit in the 32 vector registers,
// and a 1-token tile (decode) needs at least 8 independent chains to keep both FMA pipes busy.
constexpr int kTokenTile = 4;
template <class Tiles>
constexpr int tokens_per_tile() {
    if constexpr (requires { Tiles::kMaxTokens; }) {
        return Tiles::kMaxTokens;
    } else {
        return kTokenTile;
    }
}
template <int T>
constexpr int kRowsPerTile = T == 1 ? 8 : 4;
template <class Tiles, int T>
constexpr int rows_per_tile() {
    if constexpr (requires { Tiles::template kRows<T>; }) {
        return Tiles::template kRows<T>;
    } else {
        return kRowsPerTile<T>;
    }
}

// A block of rows small enough that its weights stay in L2 while every token tile of a long batch (prefill)
// passes over it; the activations of all tokens are read once per block.
constexpr int64_t kRowBlockBytes = 128 * 1024;

template <int T, class Tiles>
void sweep_rows(const Tiles& tiles, int64_t row_begin, int64_t row_end, int64_t t0) {
    constexpr int R = rows_per_tile<Tiles, T>();
    int64_t o = row_begin;
    for (; o + R <= row_end; o += R) tiles.template tile<R, T>(o, t0);
    if constexpr (R == 3) {  // row blocks come in multiples of 8 rows: 3 + 3 + 2
        if (o + 2 <= row_end) {
            tiles.template tile<2, T>(o, t0);
            o += 2;
        }
    }
    for (; o < row_end; ++o) tiles.template tile<1, T>(o, t0);
}

// sweep_rows<n>, for n in [T, tokens_per_tile()].
template <class Tiles, int T = 1>
void sweep_token_tile(const Tiles& tiles, int64_t n, int64_t row_begin, int64_t row_end, int64_t t0) {
    if constexpr (T < tokens_per_tile<Tiles>()) {
        if (n > T) return sweep_token_tile<Tiles, T + 1>(tiles, n, row_begin, row_end, t0);
    }
    sweep_rows<T>(tiles, row_begin, row_end, t0);
}

template <class Tiles>
void run_tiles(const Tiles& tiles, const WeightView& w, int64_t n_tokens, int64_t row_begin, int64_t row_end) {
    const int64_t row_bytes = w.row_bytes() > 0 ? w.row_bytes() : 1;
    int64_t block = kRowBlockBytes / row_bytes;
    block = block < 8 ? 8 : block / 8 * 8;  // whole 8-row tiles
    for (int64_t rb = row_begin; rb < row_end; rb += block) {
        const int64_t re = min_i64(rb + block, row_end);
        constexpr int kTile = tokens_per_tile<Tiles>();
        for (int64_t t0 = 0; t0 < n_tokens; t0 += kTile) {
            sweep_token_tile(tiles, min_i64(kTile, n_tokens - t0), rb, re, t0);
        }
    }
}

template <class L>
void matmul_rows_f32(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y,
                     int64_t y_stride, int64_t row_begin, int64_t row_end) {
    const F32Tiles<L> tiles{w, static_cast<const float*>(x), x_row_bytes / 4, y, y_stride, n_tokens <= kTokenTile};
    run_tiles(tiles, w, n_tokens, row_begin, row_end);
}

void matmul_rows_bf16dot(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y,
                         int64_t y_stride, int64_t row_begin, int64_t row_end) {
    const Bf16DotTiles tiles{w, static_cast<const uint8_t*>(x), x_row_bytes, y, y_stride,
                             n_tokens <= Bf16DotTiles::kMaxTokens};
    run_tiles(tiles, w, n_tokens, row_begin, row_end);
}

}  // namespace

void fill_matmul_kernels(KernelTable& table, bool bf16_dot) {
    auto plain = [](MatmulRowsFn rows) {
        MatmulKernel k;
        k.rows = rows;
        return k;
    };
    table.matmul[static_cast<int>(WeightSlot::f32)] = plain(matmul_rows_f32<LoadF32>);
    table.matmul[static_cast<int>(WeightSlot::f16)] = plain(matmul_rows_f32<LoadF16>);
    table.matmul[static_cast<int>(WeightSlot::q8_0)] = plain(matmul_rows_f32<LoadQ8_0>);
    if (bf16_dot) {
        MatmulKernel k;
        k.rows = matmul_rows_bf16dot;
        k.prepare = prepare_bf16;
        k.prepared_row_bytes = bf16_row_bytes;
        k.rounding = ActivationRounding::bf16;
        table.matmul[static_cast<int>(WeightSlot::bf16)] = k;
    } else {
        table.matmul[static_cast<int>(WeightSlot::bf16)] = plain(matmul_rows_f32<LoadBF16>);
    }
}

}  // namespace specqd::avx512
