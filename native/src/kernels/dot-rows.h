// dot_rows for the vector paths (ops-avx2.cpp, ops-avx512.cpp), written once over the few vector operations it
// needs. Each path includes this file inside its own anonymous namespace, after defining its traits type, so the
// templates and every instantiation belong to that path's namespace: compiled for its instruction set, callable
// only from its file, and recognized as ISA code by scripts/check-portable.mjs. Hence no includes and no namespace
// here (the including file has <cstdint> already).
//
// Attention's scores are dot products of one head's width (64 or 128 on Qwen2.5-Coder): two to four vector
// multiply-adds per row, so a horizontal sum per row, and a generic loop's bookkeeping, used to be most of the work.
// Here a vector's worth of rows finish their horizontal sums together (V::reduce_lanes), and head widths of 64 and
// 128 run unrolled with q held in registers. Each row's result is, bit for bit, the path's dot(q, row, dim): the same
// multiply-adds into the same two accumulators, and sums paired as the path's reduce_add pairs them.
//
// V provides: Vec and kLanes (floats per vector); zero(), load(p), fmadd(a, b, c), add(a, b); dot_lanes(a, b, n)
// (the path's dot before its horizontal sum); reduce_lanes(const Vec (&)[kLanes]) (lane j = the horizontal sum of
// vector j, as the path's reduce_add gives it); store_first(p, v, n) (lanes 0..n-1 only).
#pragma once

// dot_lanes for a width D that is a multiple of 2 * kLanes, unrolled, with q already in registers.
template <class V, int64_t D>
inline typename V::Vec dot_lanes_fixed(const typename V::Vec (&q)[D / V::kLanes], const float* b) {
    typename V::Vec acc0 = V::zero(), acc1 = V::zero();
#pragma GCC unroll 8
    for (int64_t c = 0; c < D / (2 * V::kLanes); ++c) {
        acc0 = V::fmadd(q[2 * c], V::load(b + 2 * V::kLanes * c), acc0);
        acc1 = V::fmadd(q[2 * c + 1], V::load(b + 2 * V::kLanes * c + V::kLanes), acc1);
    }
    return V::add(acc0, acc1);
}

// Rows [j, j + kLanes) or fewer (the rest zero), each row's lanes from lanes_of(row), finished together into out.
template <class V, class LanesOf>
inline void finish_rows(const float* rows, int64_t stride, int64_t j, int64_t n_rows, float* out, LanesOf&& lanes_of) {
    typename V::Vec lanes[V::kLanes];
    if (j + V::kLanes <= n_rows) {
#pragma GCC unroll 16
        for (int u = 0; u < V::kLanes; ++u) lanes[u] = lanes_of(rows + (j + u) * stride);
        V::store_first(out + j, V::reduce_lanes(lanes), V::kLanes);
        return;
    }
    const int64_t n = n_rows - j;
    for (int u = 0; u < V::kLanes; ++u) lanes[u] = u < n ? lanes_of(rows + (j + u) * stride) : V::zero();
    V::store_first(out + j, V::reduce_lanes(lanes), n);
}

template <class V, int64_t D>
void dot_rows_fixed(const float* q, const float* rows, int64_t stride, int64_t n_rows, float* out) {
    typename V::Vec qv[D / V::kLanes];
#pragma GCC unroll 16
    for (int64_t c = 0; c < D / V::kLanes; ++c) qv[c] = V::load(q + V::kLanes * c);
    for (int64_t j = 0; j < n_rows; j += V::kLanes) {
        finish_rows<V>(rows, stride, j, n_rows, out, [&](const float* row) { return dot_lanes_fixed<V, D>(qv, row); });
    }
}

template <class V>
void dot_rows_of(const float* q, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* out) {
    if (dim == 64) return dot_rows_fixed<V, 64>(q, rows, stride, n_rows, out);
    if (dim == 128) return dot_rows_fixed<V, 128>(q, rows, stride, n_rows, out);
    for (int64_t j = 0; j < n_rows; j += V::kLanes) {
        finish_rows<V>(rows, stride, j, n_rows, out, [&](const float* row) { return V::dot_lanes(q, row, dim); });
    }
}
