// matmul(): picks the active path's kernel for the weight type, converts the activations if that kernel wants
// them converted, and splits the output rows over the thread pool.
#include "kernels/matmul.h"

#include <cassert>
#include <vector>

#include "kernels/kernel-table.h"
#include "kernels/thread-pool.h"

namespace specqd {
namespace {

// Below this many multiply-adds a job is cheaper on one thread than the cost of waking the others (~1-2 us).
constexpr int64_t kMinParallelWork = 64 * 1024;

// Rows per task are a multiple of this, so tasks end on whole register tiles (kernels handle any count, but a
// ragged edge runs slower tiles).
constexpr int64_t kRowGranule = 16;

// Tasks per thread: more than one so a thread that the OS preempts (or a slower core) does not hold up the job;
// few enough that claiming a task stays cheap next to running it.
constexpr int64_t kTasksPerThread = 4;

// Converted activations, per calling thread, reused across calls (decode calls matmul ~170 times per token).
thread_local std::vector<uint8_t> tls_prepared;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

bool matmul_supports(GgmlType type) {
    const int slot = weight_slot(type);
    return slot >= 0 && active_kernel_table().matmul[slot].rows != nullptr;
}

ActivationRounding matmul_activation_rounding(GgmlType type) {
    const int slot = weight_slot(type);
    return slot >= 0 ? active_kernel_table().matmul[slot].rounding : ActivationRounding::none;
}

void matmul(ThreadPool* pool, const WeightView& w, const float* x, int64_t n_tokens, float* y) {
    assert(matmul_supports(w.type));
    assert((w.type != GgmlType::Q8_0 && w.type != GgmlType::MXFP4) || w.cols % 32 == 0);
    assert(n_tokens >= 0);
    if (n_tokens <= 0 || w.rows <= 0) return;

    const MatmulKernel& kernel = active_kernel_table().matmul[weight_slot(w.type)];
    const void* xk = x;
    int64_t x_row_bytes = w.cols * static_cast<int64_t>(sizeof(float));
    if (kernel.prepare != nullptr) {
        x_row_bytes = kernel.prepared_row_bytes(w.cols);
        const size_t bytes = static_cast<size_t>(n_tokens * x_row_bytes);
        if (tls_prepared.size() < bytes) tls_prepared.resize(bytes);
        kernel.prepare(x, n_tokens, w.cols, tls_prepared.data(), x_row_bytes);
        xk = tls_prepared.data();
    }

    const int64_t n_threads = pool != nullptr ? pool->n_threads() : 1;
    if (n_threads == 1 || w.rows * w.cols * n_tokens < kMinParallelWork) {
        kernel.rows(w, xk, x_row_bytes, n_tokens, y, w.rows, 0, w.rows);
        return;
    }
    int64_t rows_per_task = ceil_div(w.rows, n_threads * kTasksPerThread);
    rows_per_task = ceil_div(rows_per_task, kRowGranule) * kRowGranule;
    const int64_t n_tasks = ceil_div(w.rows, rows_per_task);
    pool->parallel_for(n_tasks, [&](int64_t task) {
        const int64_t begin = task * rows_per_task;
        const int64_t end = begin + rows_per_task < w.rows ? begin + rows_per_task : w.rows;
        kernel.rows(w, xk, x_row_bytes, n_tokens, y, w.rows, begin, end);
    });
}

}  // namespace specqd
