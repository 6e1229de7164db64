// The small operations of the forward pass besides matmul: normalization, activation, attention helpers and
// picking the next token. Each has a plain reference twin of the same name in specqd::ref; the fast versions come
// from the active kernel path (cpu-features.h) and agree with the reference within the tolerances the tests name.
//
// All arrays are f32, caller-owned, row-major; n / dim count floats. None of these use threads: they are cheap next
// to matmul, and a caller that wants to spread them over a pool splits the rows itself.
//
// Batch invariance: every operation works row by row (or element by element) with a fixed order inside a row, so
// the result for one token's row never depends on the other rows passed in the same call.
#pragma once

#include <cstdint>

namespace specqd {

// y[t][i] = x[t][i] * weight[i] / sqrt(mean_i(x[t][i]^2) + eps) for t < n_tokens, i < dim. The sum of squares is
// accumulated in double (as ggml does). y may be x.
void rms_norm(const float* x, const float* weight, int64_t n_tokens, int64_t dim, float eps, float* y);

// x[t][i] += bias[i] for t < n_tokens, i < dim.
void add_bias(float* x, const float* bias, int64_t n_tokens, int64_t dim);

// out[i] = silu(gate[i]) * up[i] for i < n, where silu(g) = g / (1 + exp(-g)) (SwiGLU). out may be gate or up.
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

// In place: x[i] = exp(x[i] - max) / sum_j exp(x[j] - max). -inf entries (masked positions) become 0; the sum
// is accumulated in double. n >= 1.
void softmax(float* x, int64_t n);

// The index of the largest element; the lowest index wins ties; NaNs are never chosen. Returns 0 when no element
// is greater than -inf (including n == 0).
int64_t argmax(const float* x, int64_t n);

// sum_i a[i] * b[i] (attention scores).
float dot(const float* a, const float* b, int64_t n);

// y[i] += alpha * x[i] (attention-weighted sum of values).
void axpy(float alpha, const float* x, float* y, int64_t n);

// The same two over the rows of a strided matrix (the keys or values of consecutive positions in a KV cache), in
// one call instead of one per position: out[j] = dot(q, rows + j * stride, dim) for j < n_rows, and y +=
// w[j] * (rows + j * stride) for j = 0, 1, ... in that order — bit for bit what the calls one row at a time give.
void dot_rows(const float* q, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* out);
void axpy_rows(const float* w, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* y);

namespace ref {
void rms_norm(const float* x, const float* weight, int64_t n_tokens, int64_t dim, float eps, float* y);
void add_bias(float* x, const float* bias, int64_t n_tokens, int64_t dim);
void silu_mul(const float* gate, const float* up, int64_t n, float* out);
void softmax(float* x, int64_t n);
int64_t argmax(const float* x, int64_t n);
float dot(const float* a, const float* b, int64_t n);
void axpy(float alpha, const float* x, float* y, int64_t n);
void dot_rows(const float* q, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* out);
void axpy_rows(const float* w, const float* rows, int64_t stride, int64_t n_rows, int64_t dim, float* y);
}  // namespace ref

}  // namespace specqd
