// The table of kernel function pointers behind matmul() and the ops (internal to kernels/ and mxfp4/).
//
// One table per path (scalar, avx2, avx512, avx512 with bf16 dot products), each filled once by the code of that
// path and chosen from cpu-features.h at every call, so callers never see #ifdefs or ISA names. A new weight type
// (MXFP4, issue 5) is one more WeightSlot: give it a slot, fill its MatmulKernel in the fill function of every path
// that has a kernel for it (the scalar path must, as the fallback), and matmul() dispatches to it.
//
// Rules for the row kernels, which make matmul() batch- and thread-invariant:
//   - rows(...) computes outputs [row_begin, row_end) for all n_tokens tokens; matmul() splits rows across threads.
//   - the value of y[t][o] must depend only on row o of the weights and row t of the (prepared) activations: a
//     fixed reduction order over k, whatever the tile a token or row falls in;
//   - prepare(...) must convert each activation row on its own (no scale shared across tokens).
#pragma once

#include <cstdint>

#include "kernels/cpu-features.h"
#include "kernels/matmul.h"

namespace specqd {

enum class WeightSlot : int { f32 = 0, f16, bf16, q8_0, mxfp4, count };

// The slot of a weight type, or -1 if no kernel handles it.
int weight_slot(GgmlType type);

// y[t * y_stride + o] for t < n_tokens, o in [row_begin, row_end). x points at n_tokens rows of x_row_bytes each,
// in the kernel's activation format (f32, or what prepare() wrote).
using MatmulRowsFn = void (*)(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y,
                              int64_t y_stride, int64_t row_begin, int64_t row_end);

// Converts n_tokens rows of f32 x (cols floats each) into dst, dst_row_bytes per row.
using PrepareFn = void (*)(const float* x, int64_t n_tokens, int64_t cols, void* dst, int64_t dst_row_bytes);

struct MatmulKernel {
    MatmulRowsFn rows = nullptr;  // null: this path has no kernel for the type
    PrepareFn prepare = nullptr;  // null: rows() reads the caller's f32 x directly
    int64_t (*prepared_row_bytes)(int64_t cols) = nullptr;  // bytes per prepared row, when prepare is set
    ActivationRounding rounding = ActivationRounding::none;
    WeightLayout layout = WeightLayout::file;  // the layout rows() reads fastest (it reads every layout of the type)
};

struct KernelTable {
    const char* name = "";
    MatmulKernel matmul[static_cast<int>(WeightSlot::count)];
    void (*rms_norm)(const float* x, const float* weight, int64_t n_tokens, int64_t dim, float eps, float* y) = nullptr;
    void (*add_bias)(float* x, const float* bias, int64_t n_tokens, int64_t dim) = nullptr;
    void (*silu_mul)(const float* gate, const float* up, int64_t n, float* out) = nullptr;
    void (*softmax)(float* x, int64_t n) = nullptr;
    int64_t (*argmax)(const float* x, int64_t n) = nullptr;
    float (*dot)(const float* a, const float* b, int64_t n) = nullptr;
    void (*axpy)(float alpha, const float* x, float* y, int64_t n) = nullptr;
    void (*dot_rows)(const float* q, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* out) = nullptr;
    void (*axpy_rows)(const float* w, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* y) = nullptr;
};

// How far ahead (in columns) a tile of R weight rows of the fast paths (avx2, avx512) prefetches those rows. Decode
// and the verification of a few drafted tokens stream each weight once from DRAM; with several rows interleaved the
// hardware prefetcher alone leaves bandwidth unused (a 2-token verification without it cost nearly two decodes).
// Tiles of a long prefill re-read rows from L2, where the extra prefetch is cheap.
//   Long rows: kPrefetchCols along the row.
//   Short rows (the tile's R rows within kShortTileCols columns, e.g. Qwen2.5-Coder-0.5B's 896-column q/k/v/o, gate,
//   up and head): the same place R rows down. A tile's rows are contiguous, so that is the next tile's data;
//   prefetching along a short row only runs into the next row of the same tile, already being read, and left the
//   start of every tile to demand misses. Measured (bench-forward, 0.5B shape in BF16, runs interleaved): decode
//   on 1 thread 19.6-20.2 -> 23.1-26.4 tokens/s (avx512, bf16 dot products), 14.1-15.4 -> 22.0-23.4 (avx2); on 2
//   threads (avx512) 41.8-42.5 -> 43.0-45.3.
// These prefetches go into L2 (_MM_HINT_T1), not L1: a prefetch into L1 holds one of the core's few L1 miss buffers
// until its line arrives, which capped how many lines were in flight. On the 2-core Zen 4 VM (bench-forward, 0.5B
// shape, 1 thread pinned, interleaved): BF16 decode 13.2-13.6 -> 19.9-20.6 tokens/s, F16 14.2-14.3 -> 21.4, the
// avx2 path's BF16 13.1-13.3 -> 25.3; 2 threads BF16 25.6-25.9 -> 37.1-37.8; verifying 4 tokens on 1 thread 85 ->
// 49 ms; prefill unchanged. (Earlier prefetches into L1 at larger distances, or none at all, all ran at 13.5.) The
// avx512 MXFP4 kernel prefetches into L2 as well; the avx2 one keeps L1, being bound by its arithmetic (into L2 it
// decoded 8% faster but verified 2 tokens 14% slower).
inline constexpr int64_t kPrefetchCols = 512;
inline constexpr int64_t kShortTileCols = 8192;
template <int R>
constexpr int64_t prefetch_ahead(int64_t cols) {
    return R * cols <= kShortTileCols ? R * cols : kPrefetchCols;
}

// The table of the path in effect (isa_level_active(), bf16_dot_enabled()).
const KernelTable& active_kernel_table();

// Fill functions, one per path; each lives in that path's source files. A fill function of a higher path first
// copies the lower path's entries, so a kernel it lacks falls back to the next path down.
namespace scalar {
void fill_kernel_table(KernelTable& table);  // the reference kernels (kernel-table.cpp)
void matmul_rows(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y,
                 int64_t y_stride, int64_t row_begin, int64_t row_end);  // matmul-ref.cpp
}
namespace avx2 {
void fill_matmul_kernels(KernelTable& table);
void fill_op_kernels(KernelTable& table);
}  // namespace avx2
namespace avx512 {
void fill_matmul_kernels(KernelTable& table, bool bf16_dot);
void fill_op_kernels(KernelTable& table);
}  // namespace avx512

// MXFP4 (issue 5) lives in mxfp4/, which may include kernels/ but not the reverse; these two hooks, defined there,
// are how its kernels reach the table and ref::dequantize_row reaches its decoder.
namespace mxfp4 {
// Sets table.matmul[WeightSlot::mxfp4] for `level` (scalar: the reference row kernel). Called by each path's fill.
void fill_matmul_kernels(KernelTable& table, IsaLevel level);
// Row of cols weights (cols / 32 blocks at row) as f32, exactly ggml's dequantization; the same from a row in the
// step layout (mxfp4/mxfp4.h).
void dequantize_row(const void* row, int64_t cols, float* out);
void dequantize_row_steps(const void* row, int64_t cols, float* out);
}  // namespace mxfp4

}  // namespace specqd
