// MXFP4 weights x activations: the row kernels of each path (internal to mxfp4/; matmul() reaches them through
// the kernel table, see kernels/kernel-table.h).
//
// The scalar and avx2 paths multiply the exact f32 activations by the exact dequantized weights
// (kE2M1Doubled[code] * 2^(e - 128), the same floats ref::dequantize_row gives), so they differ from the reference
// only in the order of the sum over k. The avx512 path (with VNNI and VBMI) first rounds the activations to int8 per
// block of 32 (ActivationRounding::int8) and sums exact integer products per block. Every fast path keeps one
// accumulator vector per dot product and a fixed order, which makes it batch- and thread-invariant like the other
// weight types.
#pragma once

#include "kernels/kernel-table.h"

namespace specqd::mxfp4 {

// The scalar path: dequantize the row, then one f32 sum in order of k (bit-identical to ref::matmul).
void matmul_rows_scalar(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y,
                        int64_t y_stride, int64_t row_begin, int64_t row_end);

namespace avx2 {
void matmul_rows(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y, int64_t y_stride,
                 int64_t row_begin, int64_t row_end);  // mxfp4-matmul-avx2.cpp
}
namespace avx512 {  // mxfp4-matmul-avx512.cpp; x is what prepare_activations() wrote
void matmul_rows(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y, int64_t y_stride,
                 int64_t row_begin, int64_t row_end);
void prepare_activations(const float* x, int64_t n_tokens, int64_t cols, void* dst, int64_t dst_row_bytes);
int64_t prepared_row_bytes(int64_t cols);
}  // namespace avx512

}  // namespace specqd::mxfp4
