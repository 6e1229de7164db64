// AVX-512 versions of the small operations (called only when the CPU has AVX-512 F/BW/VL/DQ).
//
// Tails are handled with masked loads and stores, so every element goes through the same vector arithmetic.
// Everything stays in an anonymous namespace (see matmul-avx512.cpp for why).
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

inline __mmask16 first_lanes(int64_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u); }

// exp(x) on 16 lanes, within ~1.5 ulp of expf: x = n*ln2 + r with |r| <= ln2/2, exp(r) by a degree-5 polynomial,
// then scaled by 2^n with vscalefps (which also gets overflow to +inf and underflow to 0 right for |n| <= 192).
// The algorithm and coefficients are ARM's optimized-routines expf, as ggml uses them.
inline __m512 exp_ps(__m512 x) {
    const __m512 shift = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
    const __m512 n = _mm512_sub_ps(z, shift);
    const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __m512 r2 = _mm512_mul_ps(r, r);
    const __m512 p = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), r, _mm512_set1_ps(0x1.573e2ep-5f)), r2,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), r, _mm512_set1_ps(0x1.fffdb6p-2f))),
        r2, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), r, _mm512_set1_ps(1.0f)));
    const __m512 result = _mm512_scalef_ps(p, n);
    // |n| > 192: far outside the float range (and -inf inputs, whose r is NaN): +inf or 0 by the sign.
    const __mmask16 huge = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    if (huge == 0) return result;
    const __m512 saturated = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                                  _mm512_set1_ps(__builtin_inff()), _mm512_setzero_ps());
    return _mm512_mask_blend_ps(huge, result, saturated);
}

inline float reduce_add(__m512 s) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

inline double reduce_add_pd(__m512d s) {
    const __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));
    __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    q = _mm_add_sd(q, _mm_unpackhi_pd(q, q));
    return _mm_cvtsd_f64(q);
}

// Adds the 16 floats of v to two 8-lane double accumulators.
inline void add_to_double(__m512 v, __m512d& acc0, __m512d& acc1) {
    acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

void rms_norm(const float* x, const float* weight, int64_t n_tokens, int64_t dim, float eps, float* y) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xr = x + t * dim;
        float* yr = y + t * dim;
        __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
        for (int64_t i = 0; i < dim; i += 16) {
            const __m512 v = _mm512_maskz_loadu_ps(first_lanes(dim - i), xr + i);
            add_to_double(_mm512_mul_ps(v, v), acc0, acc1);
        }
        const double sum_sq = reduce_add_pd(_mm512_add_pd(acc0, acc1));
        const float mean_eps = static_cast<float>(sum_sq / static_cast<double>(dim)) + eps;
        const float scale = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(mean_eps)));
        const __m512 vscale = _mm512_set1_ps(scale);
        for (int64_t i = 0; i < dim; i += 16) {
            const __mmask16 m = first_lanes(dim - i);
            const __m512 v = _mm512_maskz_loadu_ps(m, xr + i);
            const __m512 w = _mm512_maskz_loadu_ps(m, weight + i);
            _mm512_mask_storeu_ps(yr + i, m, _mm512_mul_ps(_mm512_mul_ps(v, vscale), w));
        }
    }
}

void add_bias(float* x, const float* bias, int64_t n_tokens, int64_t dim) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        float* xr = x + t * dim;
        for (int64_t i = 0; i < dim; i += 16) {
            const __mmask16 m = first_lanes(dim - i);
            _mm512_mask_storeu_ps(xr + i, m,
                                  _mm512_add_ps(_mm512_maskz_loadu_ps(m, xr + i), _mm512_maskz_loadu_ps(m, bias + i)));
        }
    }
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_lanes(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        const __m512 u = _mm512_maskz_loadu_ps(m, up + i);
        const __m512 e = exp_ps(_mm512_xor_ps(g, sign));
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), u));
    }
}

void softmax(float* x, int64_t n) {
    const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
    __m512 vmax = neg_inf;
    for (int64_t i = 0; i < n; i += 16) {
        vmax = _mm512_max_ps(_mm512_mask_loadu_ps(neg_inf, first_lanes(n - i), x + i), vmax);
    }
    const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));

    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_lanes(n - i);
        const __m512 e = _mm512_maskz_mov_ps(m, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), max)));
        _mm512_mask_storeu_ps(x + i, m, e);
        add_to_double(e, acc0, acc1);
    }
    const __m512 inv_sum = _mm512_set1_ps(static_cast<float>(1.0 / reduce_add_pd(_mm512_add_pd(acc0, acc1))));
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_lanes(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv_sum));
    }
}

int64_t argmax(const float* x, int64_t n) {
    // Pass 1: the maximum. vmaxps returns its second operand when one is NaN, so NaNs never replace the running max.
    const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
    __m512 vmax = neg_inf;
    for (int64_t i = 0; i < n; i += 16) {
        vmax = _mm512_max_ps(_mm512_mask_loadu_ps(neg_inf, first_lanes(n - i), x + i), vmax);
    }
    const float best = _mm512_reduce_max_ps(vmax);
    if (!(best > -__builtin_inff())) return 0;
    // Pass 2: the first index holding it (ties go to the lowest index).
    const __m512 vbest = _mm512_set1_ps(best);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_lanes(n - i);
        const __mmask16 eq = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, x + i), vbest, _CMP_EQ_OQ);
        if (eq != 0) return i + __builtin_ctz(eq);
    }
    return 0;
}

// The 16 lane sums of a dot product before the final horizontal sum (dot() = reduce_add of this).
inline __m512 dot_lanes(const float* a, const float* b, int64_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    }
    if (i < n) {
        const __mmask16 m0 = first_lanes(n - i);
        const __mmask16 m1 = n - i > 16 ? first_lanes(n - i - 16) : __mmask16(0);
        acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, a + i), _mm512_maskz_loadu_ps(m0, b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, a + i + 16), _mm512_maskz_loadu_ps(m1, b + i + 16), acc1);
    }
    return _mm512_add_ps(acc0, acc1);
}

float dot(const float* a, const float* b, int64_t n) { return reduce_add(dot_lanes(a, b, n)); }

// reduce_add of 16 vectors at once: lane j of the result is reduce_add(v[j]), bit for bit, because the same pairs are
// added with the same operand first (lanes i and i+8, then i and i+4, i and i+2, i and i+1; the lower lane first),
// only each add now serves 16 vectors (or 8, 4, 2) instead of one. The shuffles gather, for each step, the lower
// and the upper lanes of several vectors into one register each.
inline __m512 reduce_add_16(const __m512 (&v)[16]) {
    // Lanes i + (i+8): vector pair (2p, 2p+1) -> h[p], 128-bit chunks 0-1 from vector 2p, 2-3 from 2p+1.
    __m512 h[8];
#pragma GCC unroll 8
    for (int p = 0; p < 8; ++p) {
        h[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    }
    // Lanes i + (i+4): h pair (2m, 2m+1) -> x[m], whose chunk c holds vector 4m + c.
    __m512 x[4];
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) {
        x[m] = _mm512_add_ps(_mm512_shuffle_f32x4(h[2 * m], h[2 * m + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(h[2 * m], h[2 * m + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    }
    // Lanes i + (i+2), within each chunk: x pair (2n, 2n+1) -> y[n].
    __m512 y[2];
#pragma GCC unroll 2
    for (int n = 0; n < 2; ++n) {
        y[n] = _mm512_add_ps(_mm512_shuffle_ps(x[2 * n], x[2 * n + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(x[2 * n], x[2 * n + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    }
    // Lanes i + (i+1): lane 4c + m of z is the sum of vector 4m + c; put vector j's sum in lane j.
    const __m512 z = _mm512_add_ps(_mm512_shuffle_ps(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_ps(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), z);
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
    const __m512 va = _mm512_set1_ps(alpha);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_lanes(n - i);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, xv, _mm512_maskz_loadu_ps(m, y + i)));
    }
}

// One call per strided matrix instead of one dispatch per row; each row is this file's dot / axpy, so the bits are
// those of the calls one row at a time.
//   dot_rows: kernels/dot-rows.h, 16 rows' horizontal sums at a time (reduce_add_16). With it dot_rows went from 16%
// to 11% of a 2,048-token prefill (0.5B shape, BF16, 1 thread, perf), that prefill ~5% faster; the batched sums
// alone, without the unrolled head widths, did not measure faster.
struct Vec16 {
    using Vec = __m512;
    static constexpr int kLanes = 16;
    static Vec zero() { return _mm512_setzero_ps(); }
    static Vec load(const float* p) { return _mm512_loadu_ps(p); }
    static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
    static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
    static Vec dot_lanes(const float* a, const float* b, int64_t n) { return avx512::dot_lanes(a, b, n); }
    static Vec reduce_lanes(const Vec (&v)[16]) { return reduce_add_16(v); }
    static void store_first(float* p, Vec v, int64_t n) { _mm512_mask_storeu_ps(p, first_lanes(n), v); }
};

#include "kernels/dot-rows.h"  // inside this namespace on purpose (see there)

void dot_rows(const float* q, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* out) {
    dot_rows_of<Vec16>(q, rows, stride, n_rows, dim, out);
}

// y stays in registers across the rows, 64 floats at a time (one load and one store per chunk instead of per row:
// a masked store followed by a load of the same y stalls store forwarding); every element still takes
// fma(w[j], row_j[i], y[i]) for j in order, exactly as axpy does.
void axpy_rows(const float* w, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* y) {
    for (int64_t c = 0; c < dim; c += 64) {
        __mmask16 m[4];
        __m512 acc[4];
        // Unrolled so that acc stays in registers: rolled, GCC kept it on the stack, and every multiply-add waited
        // for the store of the one before (axpy_rows was a fifth of a 2,048-token prefill).
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) {
            m[u] = c + 16 * u < dim ? first_lanes(dim - c - 16 * u) : __mmask16(0);
            acc[u] = _mm512_maskz_loadu_ps(m[u], y + c + 16 * u);
        }
        for (int64_t j = 0; j < n_rows; ++j) {
            const __m512 va = _mm512_set1_ps(w[j]);
            const float* x = rows + j * stride + c;
#pragma GCC unroll 4
            for (int u = 0; u < 4; ++u) acc[u] = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m[u], x + 16 * u), acc[u]);
        }
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) _mm512_mask_storeu_ps(y + c + 16 * u, m[u], acc[u]);
    }
}

}  // namespace

void fill_op_kernels(KernelTable& table) {
    table.rms_norm = rms_norm;
    table.add_bias = add_bias;
    table.silu_mul = silu_mul;
    table.softmax = softmax;
    table.argmax = argmax;
    table.dot = dot;
    table.axpy = axpy;
    table.dot_rows = dot_rows;
    table.axpy_rows = axpy_rows;
}

}  // namespace specqd::avx512
