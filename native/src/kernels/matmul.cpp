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

WeightLayout matmul_preferred_layout(GgmlType type) {
    const int slot = weight_slot(type);
    return slot >= 0 ? active_kernel_table().matmul[slot].layout : WeightLayout::file;
}

ActivationRounding matmul_activation_rounding(GgmlType type) {
    const int slot = weight_slot(type);
    return slot >= 0 ? active_kernel_table().matmul[slot].rounding : ActivationRounding::none;
}

void matmul(ThreadPool* pool, const WeightView& w, const float* x, int64_t n_tokens, float* y) {
    const MatmulOutput out{w, y};
    matmul_shared_input(pool, &out, 1, x, n_tokens);
}

void matmul_shared_input(ThreadPool* pool, const MatmulOutput* outs, int n_outs, const float* x, int64_t n_tokens) {
    assert(n_outs >= 1 && n_outs <= kMaxSharedMatmulOutputs);
    assert(n_tokens >= 0);
    if (n_tokens <= 0) return;
    const int64_t cols = outs[0].w.cols;

    // The kernel of each output and the activations it reads: the plain f32 x, or x converted once per distinct
    // conversion (outputs of one weight type share it) into this thread's scratch.
    struct Job {
        const MatmulKernel* kernel;
        const void* x;
        int64_t x_row_bytes;
        int64_t prepared_offset;  // into tls_prepared, -1 for plain x
        int64_t first_task;
    };
    Job jobs[kMaxSharedMatmulOutputs];
    int64_t prepared_bytes = 0;
    int64_t total_rows = 0;
    for (int i = 0; i < n_outs; ++i) {
        const WeightView& w = outs[i].w;
        assert(matmul_supports(w.type) && w.cols == cols);
        assert((w.type != GgmlType::Q8_0 && w.type != GgmlType::MXFP4) || w.cols % 32 == 0);
        const MatmulKernel& kernel = active_kernel_table().matmul[weight_slot(w.type)];
        Job& job = jobs[i];
        job = Job{&kernel, x, cols * static_cast<int64_t>(sizeof(float)), -1, 0};
        if (kernel.prepare != nullptr) {
            job.x_row_bytes = kernel.prepared_row_bytes(cols);
            for (int j = 0; j < i && job.prepared_offset < 0; ++j) {
                if (jobs[j].kernel->prepare == kernel.prepare) job.prepared_offset = jobs[j].prepared_offset;
            }
            if (job.prepared_offset < 0) {
                job.prepared_offset = prepared_bytes;
                prepared_bytes += n_tokens * job.x_row_bytes;
            }
        }
        total_rows += w.rows;
    }
    if (total_rows <= 0) return;
    if (tls_prepared.size() < static_cast<size_t>(prepared_bytes)) {
        tls_prepared.resize(static_cast<size_t>(prepared_bytes));
    }
    int64_t converted_end = 0;  // conversions are laid out in order of first use
    for (int i = 0; i < n_outs; ++i) {
        Job& job = jobs[i];
        if (job.prepared_offset < 0) continue;
        job.x = tls_prepared.data() + job.prepared_offset;
        if (job.prepared_offset == converted_end) {
            job.kernel->prepare(x, n_tokens, cols, tls_prepared.data() + job.prepared_offset, job.x_row_bytes);
            converted_end += n_tokens * job.x_row_bytes;
        }
    }

    const auto run_rows = [&](int i, int64_t begin, int64_t end) {
        const MatmulOutput& out = outs[i];
        jobs[i].kernel->rows(out.w, jobs[i].x, jobs[i].x_row_bytes, n_tokens, out.y, out.w.rows, begin, end);
    };
    const int64_t n_threads = pool != nullptr ? pool->n_threads() : 1;
    if (n_threads == 1 || total_rows * cols * n_tokens < kMinParallelWork) {
        for (int i = 0; i < n_outs; ++i) run_rows(i, 0, outs[i].w.rows);
        return;
    }
    // Tasks cut every output's rows alike; a task never spans two outputs.
    int64_t rows_per_task = ceil_div(total_rows, n_threads * kTasksPerThread);
    rows_per_task = ceil_div(rows_per_task, kRowGranule) * kRowGranule;
    int64_t n_tasks = 0;
    for (int i = 0; i < n_outs; ++i) {
        jobs[i].first_task = n_tasks;
        n_tasks += ceil_div(outs[i].w.rows, rows_per_task);
    }
    pool->parallel_for(n_tasks, [&](int64_t task) {
        int i = n_outs - 1;
        while (jobs[i].first_task > task) --i;
        const int64_t begin = (task - jobs[i].first_task) * rows_per_task;
        const int64_t end = begin + rows_per_task < outs[i].w.rows ? begin + rows_per_task : outs[i].w.rows;
        run_rows(i, begin, end);
    });
}

}  // namespace specqd
