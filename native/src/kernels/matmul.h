// Weight matrix times activations: the operation that dominates the forward pass.
//
// matmul() computes, for every token t < n_tokens and output row o < w.rows,
//     y[t * w.rows + o] = sum over k < w.cols of w(o, k) * x[t * w.cols + k]
// with the weights stored in their file type (F32, F16, BF16, Q8_0, MXFP4) and the activations in f32.
//
// Batch invariance (the property speculative decoding relies on): within one kernel path (see cpu-features.h),
// y[t * rows + o] is bit-identical whatever n_tokens is, wherever token t sits in the batch, and whatever the pool's
// thread count. Each output is one dot product with a fixed reduction order over k: the same lane accumulators and
// the same final horizontal sum whether the kernel computes it in a 1-token or a many-token tile, and threads split
// the work by output rows only, never inside a dot product. Different paths round differently (within the
// tolerances the tests name against ref::matmul).
//
// Activation rounding: a path may convert each row of x before the dot products (per row, so batch invariance is
// kept). matmul_activation_rounding() says which; today the avx512 path rounds x to bf16 for BF16 weights when bf16
// dot products are enabled, and the avx2 and avx512 paths round x to int8 blocks for MXFP4 weights (as llama.cpp
// does for both). Everything else multiplies exact f32 activations.
//
// Thread rules: matmul() may run tasks on `pool` (null = the calling thread only). It keeps a per-thread scratch
// buffer for converted activations, so concurrent matmul() calls from different threads are fine; results are
// written only to y. x and y must not overlap.
#pragma once

#include <cstdint>
#include <string>

#include "gguf/ggml-type.h"

namespace specqd {

class ThreadPool;

// Q8_0 as ggml stores it: 32 weights along a row share one f16 scale; weight j = qs[j] * d.
inline constexpr int64_t kQ8_0BlockSize = 32;
struct BlockQ8_0 {
    uint16_t d;  // f16 bits of the scale
    int8_t qs[kQ8_0BlockSize];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must match ggml's 34 bytes");

// How a row's bytes are arranged: as the GGUF file stores the type, or (MXFP4 only) the step layout of
// mxfp4/mxfp4.h, which the kernels read without gathering. Both have the same row size.
enum class WeightLayout : uint8_t { file, mxfp4_steps };

// A row-major weight matrix the caller owns (typically mmapped from a GGUF): `rows` output neurons, each a
// contiguous run of `cols` input weights in `type`. For Q8_0, cols must be a multiple of 32 and a row is
// cols / 32 blocks; the same for MXFP4 (17-byte blocks, mxfp4/mxfp4.h). The view does not own or copy the data.
// Code that makes a view of some rows of another copies the view and changes rows (and data), so the layout
// goes along.
struct WeightView {
    GgmlType type = GgmlType::F32;
    const void* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    WeightLayout layout = WeightLayout::file;

    // Bytes of one row (0 for a type matmul does not support). Inline: the kernels ask for it per tile (an
    // out-of-line call took ~2% of MXFP4 decode).
    int64_t row_bytes() const {
        switch (type) {
            case GgmlType::F32: return cols * 4;
            case GgmlType::F16:
            case GgmlType::BF16: return cols * 2;
            case GgmlType::Q8_0: return cols / kQ8_0BlockSize * static_cast<int64_t>(sizeof(BlockQ8_0));
            case GgmlType::MXFP4: return cols / 32 * 17;  // 1-byte E8M0 scale + 16 bytes of 4-bit codes per 32
            default: return 0;
        }
    }
    const uint8_t* row(int64_t o) const { return static_cast<const uint8_t*>(data) + o * row_bytes(); }
};

// Whether matmul() accepts this weight type on every path (F32, F16, BF16, Q8_0, MXFP4).
bool matmul_supports(GgmlType type);

// How the active path treats the activations for weights of `type`.
//   none: exact f32;
//   bf16: each value rounded to bf16 (nearest even);
//   int8: per block of 32 values, non-finite values count as 0, amax = the largest magnitude, each value becomes
//         q * (amax / 127) with q = nearest-even(x * (127 / amax)), an integer in [-127, 127] (all zeros when amax is
//         0 or 127 / amax overflows) — what the avx2 and avx512 MXFP4 kernels multiply, like llama.cpp's Q8_0 activations
//         but with an f32 scale.
enum class ActivationRounding { none, bf16, int8 };
ActivationRounding matmul_activation_rounding(GgmlType type);

// The layout the active path reads weights of `type` fastest in: mxfp4_steps for MXFP4 on the avx512 path, file
// otherwise. Every path reads every layout (exactly alike), so this only says what is worth rearranging weights
// into when they are loaded.
WeightLayout matmul_preferred_layout(GgmlType type);

// y[n_tokens][w.rows] = x[n_tokens][w.cols] times w transposed (see the top of this file). Preconditions, checked
// with assert in debug builds: matmul_supports(w.type), w.cols a multiple of the type's block size, n_tokens >= 0.
void matmul(ThreadPool* pool, const WeightView& w, const float* x, int64_t n_tokens, float* y);

// One of several products of the same activations: y[n_tokens][w.rows] = x w^T.
struct MatmulOutput {
    WeightView w;
    float* y = nullptr;
};

inline constexpr int kMaxSharedMatmulOutputs = 4;  // a layer's q, k, v are the most the forward pass groups

// Every outs[i].y = x outs[i].w^T (1 <= n_outs <= kMaxSharedMatmulOutputs, all w.cols equal), bit for bit what one
// matmul() per output gives, in one pass of the pool: the activations are converted once per kernel that wants them
// converted, and the threads are waited for once instead of once per product. Why: decode runs ~170 matmuls per
// token, and for MXFP4 weights (a 896 x 896 projection is 0.4 MB, ~20 us on one core) the wait for the threads and
// the repeated conversion are a real share of each; a layer's q, k, v and its gate, up share their input. The y
// arrays must not overlap x or each other.
void matmul_shared_input(ThreadPool* pool, const MatmulOutput* outs, int n_outs, const float* x, int64_t n_tokens);

namespace ref {

// The reference: dequantize each weight to f32 (as ggml does) and sum w * x in order of k, one float accumulator
// per output. Same signature as specqd::matmul; runs on the calling thread (pool is ignored).
void matmul(ThreadPool* pool, const WeightView& w, const float* x, int64_t n_tokens, float* y);

// Row o of w as f32 (cols floats into out).
void dequantize_row(const WeightView& w, int64_t o, float* out);

// Applies `rounding` to n floats in place (what a path does to activations before its dot products), so a test
// can compare that path with ref::matmul on the same rounded activations.
void round_activations(ActivationRounding rounding, float* x, int64_t n);

}  // namespace ref
}  // namespace specqd
