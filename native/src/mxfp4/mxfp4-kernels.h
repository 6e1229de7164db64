// MXFP4 weights x activations: the row kernels of each path (internal to mxfp4/; matmul() reaches them through
// the kernel table, see kernels/kernel-table.h).
//
// The scalar path multiplies the exact f32 activations by the exact dequantized weights (kE2M1Doubled[code] *
// 2^(e - 128), the same floats ref::dequantize_row gives): it is ref::matmul. The avx2 and avx512 paths first round
// each activation row to int8 per block of 32 (ActivationRounding::int8, as llama.cpp rounds to Q8_0) and sum exact
// integer products per block. Why: multiplying decoded weights as floats (a table lookup per 8 or 16 weights, then
// one multiply-add per weight and lane) left the kernel compute-bound at under half the memory bandwidth — the
// MXFP4 copy ran only ~1.5x faster than BF16 instead of the ~3.8x its bytes allow, and verifying k tokens cost
// nearly k decodes; with int8, one instruction does 32 (vpmaddubsw) or 64 (vpdpbusd) exact multiply-adds. Both
// fast paths keep one accumulator vector per dot product and a fixed order, so they are batch- and
// thread-invariant like the other weight types.
//
// Prepared activations (avx2::prepare_activations writes them for both paths): per step of 4 blocks (128
// columns), kStepPreparedBytes bytes in the order the kernels decode the weights —
//   low:   the int8 values of elements 0..15 of the 4 blocks (16 bytes per block);
//   high:  the same for elements 16..31;
//   start: 16 int32, lane l = -kCodeBias x (the int8 values at bytes 4l..4l+3 of low and of high), the sum the
//          kernels start from so that the +kCodeBias on every weight code cancels exactly;
//   scale: 16 floats, lane l = the activation scale of block l / 4.
// A row ends with zeros up to a whole step.
#pragma once

#include "kernels/kernel-table.h"
#include "mxfp4/mxfp4.h"

namespace specqd::mxfp4 {

inline constexpr int64_t kStepWeightBytes = kStepBlocks * static_cast<int64_t>(sizeof(Block));  // read in place
inline constexpr int64_t kStepPreparedBytes = 256;
inline constexpr int64_t kPreparedLowOffset = 0;
inline constexpr int64_t kPreparedHighOffset = 64;
inline constexpr int64_t kPreparedStartOffset = 128;
inline constexpr int64_t kPreparedScaleOffset = 192;
inline constexpr int kCodeBias = 12;  // doubled E2M1 values are in [-12, 12]; +12 makes them unsigned bytes

// How far ahead (in bytes) a tile of R rows of the fast paths prefetches each row (the idea of kernel-table.h's
// prefetch_ahead(), in MXFP4's bytes): the same place two tiles down. A tile's rows are contiguous, so that is data
// two tiles ahead. One tile of 896-column MXFP4 rows is 3.8 KB, which the core consumes in about 0.2 us: one tile is
// too little lead for DRAM. Measured (bench-forward, 0.5B shape in MXFP4, 1 thread, pinned to one CPU, runs
// interleaved, three rounds): decode 61-65 tok/s with 2 KiB along the row, 65-73 one tile down, 66-73 two tiles down.
// Rows of more than 32 steps (4096 columns) used to be prefetched 32 steps along the row instead; for the FFN down
// projection's 4864 columns (38 steps) that pointed into the next row of the same tile, already being read, for most
// of every row, leaving each tile's start to demand misses. Two tiles down for every row length, measured on the 2-core
// Zen 4 VM with the old and new binaries interleaved twice: bench-kernels' 896 x 4864 MXFP4 decode 14.0 -> 27.2 GB/s
// (1 thread); bench-forward decode of the 0.5B shape 80.4-82.0 -> 86.3-98.1 tok/s on 1 thread pinned and 107.6-121.0
// -> 129.3-134.9 on 2, verifying 4 tokens 26.8 -> 24.2 ms (1 thread); the 1.5B shape (8960-column down projection)
// 26.8-30.1 -> 29.9-33.7 tok/s on 1 thread, 2 threads within noise; the avx2 kernel (SPECQD_ISA=avx2) in
// bench-kernels 9.6-9.7 -> 13.8-13.9 GB/s.
inline constexpr int64_t kPrefetchTiles = 2;
template <int R>
inline int64_t mxfp4_prefetch_ahead(const WeightView& w) {
    return kPrefetchTiles * R * w.row_bytes();
}

// The scalar path: dequantize the row, then one f32 sum in order of k (bit-identical to ref::matmul).
void matmul_rows_scalar(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y,
                        int64_t y_stride, int64_t row_begin, int64_t row_end);

// The fast paths' row kernels, one per weight layout (WeightView::layout); fill_matmul_kernels registers a call that
// picks by the view's layout.
struct RowKernelsByLayout {
    MatmulRowsFn ggml_layout;
    MatmulRowsFn step_layout;
};
namespace avx2 {  // mxfp4-matmul-avx2.cpp; x is what prepare_activations() wrote
extern const RowKernelsByLayout kRowKernels;
void prepare_activations(const float* x, int64_t n_tokens, int64_t cols, void* dst, int64_t dst_row_bytes);
int64_t prepared_row_bytes(int64_t cols);
}  // namespace avx2
namespace avx512 {  // mxfp4-matmul-avx512.cpp; x is what avx2::prepare_activations() wrote
extern const RowKernelsByLayout kRowKernels;
}  // namespace avx512

}  // namespace specqd::mxfp4
