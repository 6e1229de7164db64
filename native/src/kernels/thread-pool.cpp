#include "kernels/thread-pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace specqd {
namespace {

// How long an idle worker spins before it sleeps. Long enough to cover the gap between two kernels of one
// forward pass (microseconds) and between two decode steps, short enough not to burn a core when idle.
constexpr auto kSpinTime = std::chrono::microseconds(200);

// The pool whose task the current thread is running, so nested parallel_for calls run inline.
thread_local const ThreadPool* tls_running_pool = nullptr;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
}

constexpr uint64_t pack_claim(uint64_t n_tasks, uint64_t next) { return (n_tasks << 32) | next; }

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
    workers_.reserve(static_cast<size_t>(n_threads_ - 1));
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_main(); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true, std::memory_order_release);
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    {
        std::lock_guard<std::mutex> lock(sleep_mutex_);
        wake_.notify_all();
    }
    for (std::thread& t : workers_) t.join();
}

// Claims tasks of the current job one by one until none is left. The claim word holds both the task count and
// the next index, so a thread that read a finished job's word can never claim a task of the next job with the old
// count; after a successful claim the job fields are those of the claimed job (see thread-pool.h).
void ThreadPool::run_claimed_tasks() {
    uint64_t word = claim_.load(std::memory_order_acquire);
    for (;;) {
        const uint64_t n_tasks = word >> 32;
        const uint64_t next = word & 0xffffffffu;
        if (next >= n_tasks) return;
        if (!claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
            continue;  // word now holds the current value
        }
        job_fn_(job_ctx_, static_cast<int64_t>(next));
        n_done_.fetch_add(1, std::memory_order_release);
        word = claim_.load(std::memory_order_acquire);
    }
}

void ThreadPool::worker_main() {
    tls_running_pool = this;
    // Every job and the shutdown bump the epoch from its value at construction (0), so a worker the OS starts
    // late still sees them, instead of taking a later value as its starting point and waiting past shutdown.
    uint32_t seen = 0;
    for (;;) {
        // Spin briefly for the next job, then sleep on the epoch.
        uint32_t now = epoch_.load(std::memory_order_acquire);
        if (now == seen) {
            const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
            for (int i = 0; now == seen; ++i) {
                cpu_relax();
                now = epoch_.load(std::memory_order_acquire);
                if ((i & 255) == 255 && std::chrono::steady_clock::now() > deadline) break;
            }
        }
        if (now == seen) {
            // Announce the sleep before the last look at the epoch: the caller bumps the epoch before it reads
            // n_sleeping_, so either we see its bump or it sees us and notifies under the mutex (all seq_cst).
            std::unique_lock<std::mutex> lock(sleep_mutex_);
            n_sleeping_.fetch_add(1, std::memory_order_seq_cst);
            while ((now = epoch_.load(std::memory_order_seq_cst)) == seen) wake_.wait(lock);
            n_sleeping_.fetch_sub(1, std::memory_order_relaxed);
        }
        seen = now;
        if (stop_.load(std::memory_order_acquire)) return;
        run_claimed_tasks();
    }
}

void ThreadPool::run(int64_t n_tasks, TaskFn fn, void* ctx) {
    if (n_tasks <= 0) return;
    if (workers_.empty() || n_tasks == 1 || tls_running_pool != nullptr) {
        // Inline: no workers, nothing to share, or a nested call from inside a task.
        for (int64_t i = 0; i < n_tasks; ++i) fn(ctx, i);
        return;
    }

    std::lock_guard<std::mutex> lock(run_mutex_);
    tls_running_pool = this;
    job_fn_ = fn;
    job_ctx_ = ctx;
    n_done_.store(0, std::memory_order_relaxed);
    claim_.store(pack_claim(static_cast<uint64_t>(n_tasks), 0), std::memory_order_release);
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (n_sleeping_.load(std::memory_order_seq_cst) > 0) {
        std::lock_guard<std::mutex> sleep_lock(sleep_mutex_);
        wake_.notify_all();
    }

    run_claimed_tasks();

    // Wait for tasks other threads still run. Yield after a while: on an oversubscribed machine the thread we
    // wait for may need this core.
    for (int i = 0; n_done_.load(std::memory_order_acquire) < n_tasks; ++i) {
        if (i < 4096) {
            cpu_relax();
        } else {
            std::this_thread::yield();
        }
    }
    tls_running_pool = nullptr;
}

}  // namespace specqd
