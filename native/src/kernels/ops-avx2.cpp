// AVX2 + FMA versions of the small operations (called only when the CPU and OS support them).
//
// A partial last vector is copied into a zero-padded buffer and goes through the same vector arithmetic as the
// rest. Everything stays in an anonymous namespace (see matmul-avx512.cpp for why).
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

// The first n (< 8) floats of p, zero-padded, and the inverse.
inline __m256 load_partial(const float* p, int64_t n) {
    float buf[8] = {};
    __builtin_memcpy(buf, p, static_cast<size_t>(n) * sizeof(float));
    return _mm256_loadu_ps(buf);
}
inline void store_partial(float* p, __m256 v, int64_t n) {
    float buf[8];
    _mm256_storeu_ps(buf, v);
    __builtin_memcpy(p, buf, static_cast<size_t>(n) * sizeof(float));
}
inline __m256 load_upto8(const float* p, int64_t n) { return n >= 8 ? _mm256_loadu_ps(p) : load_partial(p, n); }
inline void store_upto8(float* p, __m256 v, int64_t n) {
    if (n >= 8) {
        _mm256_storeu_ps(p, v);
    } else {
        store_partial(p, v, n);
    }
}

// exp(x) on 8 lanes, within ~1.5 ulp of expf; ARM's optimized-routines expf as ggml uses it: x = n*ln2 + r,
// exp(r) = 1 + poly(r), scale 2^n built in the exponent bits, with a split scale where 2^n would overflow.
inline __m256 exp_ps(__m256 x) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
    const __m256 n = _mm256_sub_ps(z, shift);
    const __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 scale = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
    const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 big = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    const __m256 r2 = _mm256_mul_ps(r, r);
    const __m256 poly = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), r, _mm256_set1_ps(0x1.573e2ep-5f)), r2,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), r, _mm256_set1_ps(0x1.fffdb6p-2f))),
        r2, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), r));
    if (_mm256_movemask_ps(big) == 0) return _mm256_fmadd_ps(poly, scale, scale);
    // 2^n may overflow or underflow: split it into s1 * s2; beyond |n| > 192 the result is +inf or 0.
    const __m256i b = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32(static_cast<int>(0x82000000u)));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(b, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, b));
    const __m256 huge = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    const __m256 r_huge = _mm256_mul_ps(s1, s1);
    const __m256 r_big = _mm256_mul_ps(_mm256_fmadd_ps(poly, s2, s2), s1);
    const __m256 r_normal = _mm256_fmadd_ps(poly, scale, scale);
    return _mm256_blendv_ps(_mm256_blendv_ps(r_normal, r_big, big), r_huge, huge);
}

inline float reduce_add(__m256 s) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

inline double reduce_add_pd(__m256d s) {
    __m128d q = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    q = _mm_add_sd(q, _mm_unpackhi_pd(q, q));
    return _mm_cvtsd_f64(q);
}

inline void add_to_double(__m256 v, __m256d& acc0, __m256d& acc1) {
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

inline float reduce_max(__m256 v) {
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

void rms_norm(const float* x, const float* weight, int64_t n_tokens, int64_t dim, float eps, float* y) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xr = x + t * dim;
        float* yr = y + t * dim;
        __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
        for (int64_t i = 0; i < dim; i += 8) {
            const __m256 v = load_upto8(xr + i, dim - i);
            add_to_double(_mm256_mul_ps(v, v), acc0, acc1);
        }
        const double sum_sq = reduce_add_pd(_mm256_add_pd(acc0, acc1));
        const float mean_eps = static_cast<float>(sum_sq / static_cast<double>(dim)) + eps;
        const __m256 vscale = _mm256_set1_ps(1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(mean_eps))));
        for (int64_t i = 0; i < dim; i += 8) {
            const __m256 v = load_upto8(xr + i, dim - i);
            const __m256 w = load_upto8(weight + i, dim - i);
            store_upto8(yr + i, _mm256_mul_ps(_mm256_mul_ps(v, vscale), w), dim - i);
        }
    }
}

void add_bias(float* x, const float* bias, int64_t n_tokens, int64_t dim) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        float* xr = x + t * dim;
        for (int64_t i = 0; i < dim; i += 8) {
            store_upto8(xr + i, _mm256_add_ps(load_upto8(xr + i, dim - i), load_upto8(bias + i, dim - i)), dim - i);
        }
    }
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 g = load_upto8(gate + i, n - i);
        const __m256 u = load_upto8(up + i, n - i);
        const __m256 e = exp_ps(_mm256_xor_ps(g, sign));
        store_upto8(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u), n - i);
    }
}

void softmax(float* x, int64_t n) {
    const float neg_inf = -__builtin_inff();
    __m256 vmax = _mm256_set1_ps(neg_inf);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(_mm256_loadu_ps(x + i), vmax);
    float max = reduce_max(vmax);
    for (; i < n; ++i) max = x[i] > max ? x[i] : max;
    const __m256 vmax_all = _mm256_set1_ps(max);

    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    for (i = 0; i < n; i += 8) {
        const int64_t m = n - i;
        __m256 e = exp_ps(_mm256_sub_ps(load_upto8(x + i, m), vmax_all));
        if (m < 8) {
            // Padding lanes hold exp(0 - max); zero them so they do not enter the sum.
            const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            e = _mm256_and_ps(e, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(m)), lane)));
        }
        store_upto8(x + i, e, m);
        add_to_double(e, acc0, acc1);
    }
    const __m256 inv_sum = _mm256_set1_ps(static_cast<float>(1.0 / reduce_add_pd(_mm256_add_pd(acc0, acc1))));
    for (i = 0; i < n; i += 8) store_upto8(x + i, _mm256_mul_ps(load_upto8(x + i, n - i), inv_sum), n - i);
}

int64_t argmax(const float* x, int64_t n) {
    // Pass 1: the maximum (vmaxps keeps its second operand when the first is NaN). Pass 2: its first index.
    const float neg_inf = -__builtin_inff();
    __m256 vmax = _mm256_set1_ps(neg_inf);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(_mm256_loadu_ps(x + i), vmax);
    float best = reduce_max(vmax);
    for (; i < n; ++i) best = x[i] > best ? x[i] : best;
    if (!(best > neg_inf)) return 0;
    const __m256 vbest = _mm256_set1_ps(best);
    for (i = 0; i + 8 <= n; i += 8) {
        const int eq = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vbest, _CMP_EQ_OQ));
        if (eq != 0) return i + __builtin_ctz(static_cast<unsigned>(eq));
    }
    for (; i < n; ++i) {
        if (x[i] == best) return i;
    }
    return 0;
}

// The 8 lane sums of a dot product before the final horizontal sum (dot() = reduce_add of this).
inline __m256 dot_lanes(const float* a, const float* b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    if (i < n) {
        const int64_t m = n - i;
        acc0 = _mm256_fmadd_ps(load_upto8(a + i, m), load_upto8(b + i, m), acc0);
        if (m > 8) acc1 = _mm256_fmadd_ps(load_partial(a + i + 8, m - 8), load_partial(b + i + 8, m - 8), acc1);
    }
    return _mm256_add_ps(acc0, acc1);
}

float dot(const float* a, const float* b, int64_t n) { return reduce_add(dot_lanes(a, b, n)); }

// reduce_add of 8 vectors at once: lane j of the result is reduce_add(v[j]), bit for bit (the same pairs added with
// the same operand first, as in ops-avx512.cpp's reduce_add_16).
inline __m256 reduce_add_8(const __m256 (&v)[8]) {
    // Lanes i + (i+4): vector pair (2p, 2p+1) -> h[p], 128-bit half 0 from vector 2p, half 1 from 2p+1.
    __m256 h[4];
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p) {
        h[p] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * p], v[2 * p + 1], 0x20),
                             _mm256_permute2f128_ps(v[2 * p], v[2 * p + 1], 0x31));
    }
    // Lanes i + (i+2), within each half: h pair (2n, 2n+1) -> x[n].
    __m256 x[2];
#pragma GCC unroll 2
    for (int n = 0; n < 2; ++n) {
        x[n] = _mm256_add_ps(_mm256_shuffle_ps(h[2 * n], h[2 * n + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm256_shuffle_ps(h[2 * n], h[2 * n + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    }
    // Lanes i + (i+1): lane 4c + m of z is the sum of vector 2m + c; put vector j's sum in lane j.
    const __m256 z = _mm256_add_ps(_mm256_shuffle_ps(x[0], x[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm256_shuffle_ps(x[0], x[1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm256_permutevar8x32_ps(z, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
    const __m256 va = _mm256_set1_ps(alpha);
    for (int64_t i = 0; i < n; i += 8) {
        store_upto8(y + i, _mm256_fmadd_ps(va, load_upto8(x + i, n - i), load_upto8(y + i, n - i)), n - i);
    }
}

// One call per strided matrix instead of one dispatch per row; each row is this file's dot / axpy, so the bits are
// those of the calls one row at a time.
//   dot_rows: kernels/dot-rows.h, 8 rows' horizontal sums at a time (reduce_add_8).
struct Vec8 {
    using Vec = __m256;
    static constexpr int kLanes = 8;
    static Vec zero() { return _mm256_setzero_ps(); }
    static Vec load(const float* p) { return _mm256_loadu_ps(p); }
    static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
    static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
    static Vec dot_lanes(const float* a, const float* b, int64_t n) { return avx2::dot_lanes(a, b, n); }
    static Vec reduce_lanes(const Vec (&v)[8]) { return reduce_add_8(v); }
    static void store_first(float* p, Vec v, int64_t n) { store_upto8(p, v, n); }
};

#include "kernels/dot-rows.h"  // inside this namespace on purpose (see there)

void dot_rows(const float* q, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* out) {
    dot_rows_of<Vec8>(q, rows, stride, n_rows, dim, out);
}

// y stays in registers across the rows, 32 floats at a time (one load and one store per chunk instead of per row);
// every element still takes fma(w[j], row_j[i], y[i]) for j in order, exactly as axpy does.
void axpy_rows(const float* w, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* y) {
    int64_t c = 0;
    // Whole 32-column chunks, unrolled so that acc stays in registers (rolled, GCC kept it on the stack and every
    // multiply-add waited for the store of the one before; see ops-avx512.cpp's axpy_rows).
    for (; c + 32 <= dim; c += 32) {
        __m256 acc[4];
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) acc[u] = _mm256_loadu_ps(y + c + 8 * u);
        for (int64_t j = 0; j < n_rows; ++j) {
            const __m256 va = _mm256_set1_ps(w[j]);
            const float* x = rows + j * stride + c;
#pragma GCC unroll 4
            for (int u = 0; u < 4; ++u) acc[u] = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + 8 * u), acc[u]);
        }
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) _mm256_storeu_ps(y + c + 8 * u, acc[u]);
    }
    for (; c < dim; c += 32) {
        __m256 acc[4];
        for (int u = 0; u < 4; ++u) acc[u] = c + 8 * u < dim ? load_upto8(y + c + 8 * u, dim - c - 8 * u) : _mm256_setzero_ps();
        for (int64_t j = 0; j < n_rows; ++j) {
            const __m256 va = _mm256_set1_ps(w[j]);
            const float* x = rows + j * stride + c;
            for (int u = 0; u < 4; ++u) {
                if (c + 8 * u < dim) acc[u] = _mm256_fmadd_ps(va, load_upto8(x + 8 * u, dim - c - 8 * u), acc[u]);
            }
        }
        for (int u = 0; u < 4; ++u) {
            if (c + 8 * u < dim) store_upto8(y + c + 8 * u, acc[u], dim - c - 8 * u);
        }
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

}  // namespace specqd::avx2
