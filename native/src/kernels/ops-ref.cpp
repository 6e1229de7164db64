// Reference versions of the small operations: plain loops in the order a reader expects, with the precision
// choices of ggml (sums of squares and softmax denominators in double, exp from the C library) so that the engine's
// numbers stay close to llama.cpp's.
#include <cmath>
#include <limits>

#include "kernels/ops.h"

namespace specqd::ref {

void rms_norm(const float* x, const float* weight, int64_t n_tokens, int64_t dim, float eps, float* y) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xr = x + t * dim;
        float* yr = y + t * dim;
        double sum_sq = 0.0;
        for (int64_t i = 0; i < dim; ++i) sum_sq += static_cast<double>(xr[i] * xr[i]);
        const float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(dim)) + eps);
        for (int64_t i = 0; i < dim; ++i) yr[i] = (xr[i] * scale) * weight[i];
    }
}

void add_bias(float* x, const float* bias, int64_t n_tokens, int64_t dim) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t i = 0; i < dim; ++i) x[t * dim + i] += bias[i];
    }
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void softmax(float* x, int64_t n) {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - max);
        sum += static_cast<double>(x[i]);
    }
    const float inv_sum = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv_sum;
}

int64_t argmax(const float* x, int64_t n) {
    int64_t best = 0;
    float best_value = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) {
        if (x[i] > best_value) {
            best_value = x[i];
            best = i;
        }
    }
    return best;
}

float dot(const float* a, const float* b, int64_t n) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
    return acc;
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void dot_rows(const float* q, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* out) {
    for (int64_t j = 0; j < n_rows; ++j) out[j] = dot(q, rows + j * stride, dim);
}

void axpy_rows(const float* w, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* y) {
    for (int64_t j = 0; j < n_rows; ++j) axpy(w[j], rows + j * stride, y, dim);
}

}  // namespace specqd::ref
