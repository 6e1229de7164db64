// The reference matmul and the scalar path's row kernel. Both use the same obvious arithmetic: dequantize a row to
// f32, then one float accumulator per output summed in order of k. This file gets no ISA flags, so the compiler
// cannot fuse the multiply and the add, and without -ffast-math it cannot reorder the sum: the scalar path is
// bit-identical to the reference.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/float-convert.h"
#include "kernels/kernel-table.h"
#include "kernels/matmul.h"

namespace specqd {
namespace {

float dot_in_order(const float* w, const float* x, int64_t n) {
    float acc = 0.0f;
    for (int64_t k = 0; k < n; ++k) acc += w[k] * x[k];
    return acc;
}

}  // namespace

void ref::dequantize_row(const WeightView& w, int64_t o, float* out) {
    const uint8_t* row = w.row(o);
    switch (w.type) {
        case GgmlType::F32: std::memcpy(out, row, static_cast<size_t>(w.cols) * sizeof(float)); return;
        case GgmlType::F16: {
            const auto* h = reinterpret_cast<const uint16_t*>(row);
            for (int64_t k = 0; k < w.cols; ++k) out[k] = f16_to_f32(h[k]);
            return;
        }
        case GgmlType::BF16: {
            const auto* h = reinterpret_cast<const uint16_t*>(row);
            for (int64_t k = 0; k < w.cols; ++k) out[k] = bf16_to_f32(h[k]);
            return;
        }
        case GgmlType::Q8_0: {
            const auto* blocks = reinterpret_cast<const BlockQ8_0*>(row);
            for (int64_t b = 0; b < w.cols / kQ8_0BlockSize; ++b) {
                const float d = f16_to_f32(blocks[b].d);
                for (int64_t j = 0; j < kQ8_0BlockSize; ++j) {
                    out[b * kQ8_0BlockSize + j] = static_cast<float>(blocks[b].qs[j]) * d;
                }
            }
            return;
        }
        case GgmlType::MXFP4:
            if (w.layout == WeightLayout::mxfp4_steps) mxfp4::dequantize_row_steps(row, w.cols, out);
            else mxfp4::dequantize_row(row, w.cols, out);
            return;
        default: assert(false && "dequantize_row: unsupported weight type"); return;
    }
}

void ref::matmul(ThreadPool* /*pool*/, const WeightView& w, const float* x, int64_t n_tokens, float* y) {
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t o = 0; o < w.rows; ++o) {
        dequantize_row(w, o, row.data());
        for (int64_t t = 0; t < n_tokens; ++t) y[t * w.rows + o] = dot_in_order(row.data(), x + t * w.cols, w.cols);
    }
}

void ref::round_activations(ActivationRounding rounding, float* x, int64_t n) {
    switch (rounding) {
        case ActivationRounding::none: return;
        case ActivationRounding::bf16:
            for (int64_t i = 0; i < n; ++i) x[i] = bf16_to_f32(f32_to_bf16(x[i]));
            return;
        case ActivationRounding::int8:
            for (int64_t b = 0; b < n; b += 32) {
                float* block = x + b;
                const int64_t len = n - b < 32 ? n - b : 32;
                float amax = 0.0f;
                for (int64_t i = 0; i < len; ++i) {
                    if (!std::isfinite(block[i])) block[i] = 0.0f;
                    amax = std::max(amax, std::fabs(block[i]));
                }
                const float inverse = amax > 0.0f ? 127.0f / amax : 0.0f;
                const bool usable = inverse > 0.0f && std::isfinite(inverse);
                const float scale = amax / 127.0f;
                for (int64_t i = 0; i < len; ++i) {
                    const float q = usable ? std::nearbyint(block[i] * inverse) : 0.0f;
                    block[i] = std::max(-127.0f, std::min(127.0f, q)) * scale;
                }
            }
            return;
    }
}

void scalar::matmul_rows(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y,
                         int64_t y_stride, int64_t row_begin, int64_t row_end) {
    const auto* xf = static_cast<const float*>(x);
    const int64_t x_stride = x_row_bytes / static_cast<int64_t>(sizeof(float));
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t o = row_begin; o < row_end; ++o) {
        ref::dequantize_row(w, o, row.data());
        for (int64_t t = 0; t < n_tokens; ++t) {
            y[t * y_stride + o] = dot_in_order(row.data(), xf + t * x_stride, w.cols);
        }
    }
}

}  // namespace specqd
