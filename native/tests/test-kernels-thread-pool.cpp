// ThreadPool: every task runs exactly once per parallel_for, results written by tasks are visible to the caller,
// under many tiny jobs, nested and concurrent calls, idle sleeps, and construction / destruction churn. Meant to
// run under TSan too (SPECQD_SANITIZE=thread).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "kernels/thread-pool.h"

using namespace specqd;

namespace {

// Many tiny jobs of varying size; tasks write plain (non-atomic) slots that the caller then reads, which is only
// race-free (and correct) if parallel_for's return synchronizes with every task.
void test_many_tiny_jobs(int n_threads) {
    ThreadPool pool(n_threads);
    CHECK_EQ(pool.n_threads(), n_threads);
    std::vector<int> hits(100, 0);
    int64_t wrong = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        const int64_t n = 1 + iter % 97;
        pool.parallel_for(n, [&](int64_t task) { hits[static_cast<size_t>(task)] += 1; });
        for (int64_t i = 0; i < n; ++i) {
            if (hits[static_cast<size_t>(i)] != 1) ++wrong;
            hits[static_cast<size_t>(i)] = 0;
        }
    }
    CHECK_MSG(wrong == 0,
              std::to_string(n_threads) + " threads: " + std::to_string(wrong) + " tasks not run exactly once");
}

// With more tasks than threads and tasks that take a little while, every thread should get work.
void test_all_threads_work() {
    ThreadPool pool(3);
    std::vector<std::thread::id> ran_on(64);
    pool.parallel_for(64, [&](int64_t task) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
        while (std::chrono::steady_clock::now() < until) {
        }
        ran_on[static_cast<size_t>(task)] = std::this_thread::get_id();
    });
    std::sort(ran_on.begin(), ran_on.end());
    const auto n_distinct = std::unique(ran_on.begin(), ran_on.end()) - ran_on.begin();
    CHECK_MSG(n_distinct >= 2, "64 slow tasks ran on " + std::to_string(n_distinct) + " thread(s)");
}

// Workers that went to sleep (idle past the spin window) wake up for the next job.
void test_wake_after_sleep() {
    ThreadPool pool(4);
    for (int round = 0; round < 5; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        std::atomic<int> count{0};
        pool.parallel_for(40, [&](int64_t) { count.fetch_add(1, std::memory_order_relaxed); });
        CHECK_EQ(count.load(), 40);
    }
}

// A parallel_for issued from inside a task runs inline instead of deadlocking.
void test_nested() {
    ThreadPool pool(3);
    std::vector<int> cells(8 * 8, 0);
    pool.parallel_for(8, [&](int64_t i) {
        pool.parallel_for(8, [&](int64_t j) { cells[static_cast<size_t>(i * 8 + j)] += 1; });
    });
    CHECK(std::all_of(cells.begin(), cells.end(), [](int c) { return c == 1; }));
}

// Two threads sharing one pool: calls are serialized, each sees all of its own tasks done.
void test_concurrent_callers() {
    ThreadPool pool(3);
    std::atomic<int64_t> wrong{0};
    auto caller = [&] {
        std::vector<int> hits(50, 0);
        for (int iter = 0; iter < 2000; ++iter) {
            pool.parallel_for(50, [&](int64_t task) { hits[static_cast<size_t>(task)] += 1; });
            for (int& h : hits) {
                if (h != 1) wrong.fetch_add(1);
                h = 0;
            }
        }
    };
    std::thread a(caller), b(caller);
    a.join();
    b.join();
    CHECK_EQ(wrong.load(), int64_t{0});
}

// Pools created and destroyed in quick succession, used or not, idle or busy.
void test_churn() {
    for (int i = 0; i < 200; ++i) {
        ThreadPool pool(1 + i % 5);
        if (i % 3 == 0) continue;  // destroyed without ever running a job
        std::atomic<int> count{0};
        pool.parallel_for(i % 17, [&](int64_t) { count.fetch_add(1, std::memory_order_relaxed); });
        CHECK_EQ(count.load(), i % 17);
    }
}

// Dispatch latency of an empty job: printed, not checked (timing is machine-dependent).
void report_dispatch_latency() {
    ThreadPool pool(2);
    const int n_jobs = 20000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n_jobs; ++i) pool.parallel_for(2, [](int64_t) {});
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    std::printf("2-thread dispatch of a 2-task empty job: %.2f us\n", us / n_jobs);
}

}  // namespace

int main() {
    for (int n_threads : {1, 2, 3, 7}) test_many_tiny_jobs(n_threads);
    test_all_threads_work();
    test_wake_after_sleep();
    test_nested();
    test_concurrent_callers();
    test_churn();
    report_dispatch_latency();
    return check::summary("test-kernels-thread-pool");
}
