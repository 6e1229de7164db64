// The public operations: each forwards to the active path's kernel (kernel-table.h).
#include "kernels/ops.h"

#include "kernels/kernel-table.h"

namespace specqd {

void rms_norm(const float* x, const float* weight, int64_t n_tokens, int64_t dim, float eps, float* y) {
    active_kernel_table().rms_norm(x, weight, n_tokens, dim, eps, y);
}

void add_bias(float* x, const float* bias, int64_t n_tokens, int64_t dim) {
    active_kernel_table().add_bias(x, bias, n_tokens, dim);
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
    active_kernel_table().silu_mul(gate, up, n, out);
}

void softmax(float* x, int64_t n) { active_kernel_table().softmax(x, n); }

int64_t argmax(const float* x, int64_t n) { return active_kernel_table().argmax(x, n); }

float dot(const float* a, const float* b, int64_t n) { return active_kernel_table().dot(a, b, n); }

void axpy(float alpha, const float* x, float* y, int64_t n) { active_kernel_table().axpy(alpha, x, y, n); }

void dot_rows(const float* q, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* out) {
    active_kernel_table().dot_rows(q, rows, stride, n_rows, dim, out);
}

void axpy_rows(const float* w, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* y) {
    active_kernel_table().axpy_rows(w, rows, stride, n_rows, dim, y);
}

}  // namespace specqd
