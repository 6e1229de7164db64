// ThreadPool: the engine's own worker threads for data-parallel kernels.
//
// A pool of n_threads counts the calling thread: it starts n_threads - 1 std::threads at construction and the
// thread that calls parallel_for() works alongside them. parallel_for(n_tasks, fn) runs fn(task) exactly once for
// every task in [0, n_tasks), spread over the threads (each free thread claims the next unclaimed task), and
// returns when all of them have finished; everything the tasks wrote is visible to the caller afterwards.
//
// Latency: decode calls parallel_for about 200 times per token, so idle workers spin (with pause) for ~200 us
// after each job before they sleep on a condition variable; a job that follows within that window starts without
// a system call, and the caller notifies only when some worker actually sleeps.
//
// Rules:
//   - fn must not throw (the core does not use exceptions) and must not depend on which thread runs a task
//     or in which order tasks run.
//   - One parallel_for at a time: calls from different threads are serialized by a mutex. A parallel_for issued
//     from inside a task (nested) runs its tasks serially on that thread instead of deadlocking.
//   - n_tasks must be below 2^31.
//   - The destructor waits for the workers to exit; do not destroy the pool while a parallel_for is running.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace specqd {

class ThreadPool {
public:
    // n_threads < 1 is treated as 1 (no workers: parallel_for runs inline).
    explicit ThreadPool(int n_threads);
    ~ThreadPool();

    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // Threads that run tasks, including the calling thread.
    int n_threads() const { return n_threads_; }

    template <class Fn>
    void parallel_for(int64_t n_tasks, Fn&& fn) {
        using Callable = std::remove_reference_t<Fn>;
        run(n_tasks, [](void* ctx, int64_t task) { (*static_cast<Callable*>(ctx))(task); },
            const_cast<void*>(static_cast<const void*>(&fn)));
    }

private:
    using TaskFn = void (*)(void* ctx, int64_t task);

    void run(int64_t n_tasks, TaskFn fn, void* ctx);
    void worker_main();
    void run_claimed_tasks();

    int n_threads_ = 1;
    std::vector<std::thread> workers_;
    std::mutex run_mutex_;  // one parallel_for at a time

    // The current job. job_fn_ / job_ctx_ are written by the caller before it publishes claim_ and are read only
    // by a thread that has claimed one of the job's tasks, so no job can be overwritten while it is being read.
    TaskFn job_fn_ = nullptr;
    void* job_ctx_ = nullptr;
    std::atomic<uint64_t> claim_{0};    // (n_tasks << 32) | next unclaimed task: one word, so a claim is one CAS
    std::atomic<int64_t> n_done_{0};    // tasks of the current job that have finished
    std::atomic<uint32_t> epoch_{0};    // bumped once per job (and at shutdown); workers wait for it to change
    std::atomic<int> n_sleeping_{0};    // workers asleep on wake_: the caller notifies only if > 0
    std::mutex sleep_mutex_;
    std::condition_variable wake_;
    std::atomic<bool> stop_{false};
};

}  // namespace specqd
