// bench-bandwidth: memory read bandwidth of this machine, the physical limit of decode.
//
// A buffer much larger than the last-level cache (default 1 GiB; first touched by the threads that read it) is
// summed with streaming vector loads (AVX2 when the CPU has it, else SSE2; four independent accumulators so the
// loads are not serialized). With T threads each sums a contiguous 1/T of the buffer; one measurement is the time
// from a common start to the last thread finishing. Prints one JSON object:
//   {"bytes": B, "results": [{"threads": T, "best_gbps": .., "median_gbps": .., "samples_gbps": [..]}, ...]}
// GB = 1e9 bytes.
//
// usage: bench-bandwidth [--mib N] [--reps R] [--threads 1,2]    (default: 1024 MiB, 7 reps, 1 and all cores)
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

__attribute__((target("avx2"))) uint64_t sum_avx2(const uint8_t* p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

uint64_t sum_sse2(const uint8_t* p, size_t n) {
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 64 <= n; i += 64) {
        a0 = _mm_add_epi64(a0, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i)));
        a1 = _mm_add_epi64(a1, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i + 16)));
        a2 = _mm_add_epi64(a2, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i + 32)));
        a3 = _mm_add_epi64(a3, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i + 48)));
    }
    const __m128i s = _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3));
    alignas(16) uint64_t lanes[2];
    _mm_store_si128(reinterpret_cast<__m128i*>(lanes), s);
    return lanes[0] + lanes[1];
}

// One timed pass with n_threads threads over buf; returns seconds.
double timed_pass(const uint8_t* buf, size_t bytes, int n_threads, bool avx2, std::atomic<uint64_t>* sink) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    const size_t chunk = bytes / n_threads / 128 * 128;
    for (int t = 0; t < n_threads; ++t) {
        threads.emplace_back([&, t] {
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) {
            }
            const uint8_t* p = buf + chunk * t;
            sink->fetch_add(avx2 ? sum_avx2(p, chunk) : sum_sse2(p, chunk), std::memory_order_relaxed);
        });
    }
    while (ready.load() != n_threads) {
    }
    const auto t0 = Clock::now();
    go.store(true, std::memory_order_release);
    for (auto& th : threads) th.join();
    (void)chunk;
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    size_t mib = 1024;
    int reps = 7;
    std::vector<int> thread_counts;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--mib" && i + 1 < argc) mib = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
        else if (a == "--threads" && i + 1 < argc) {
            std::string list = argv[++i];
            for (size_t pos = 0; pos <= list.size();) {
                const size_t comma = std::min(list.find(',', pos), list.size());
                thread_counts.push_back(std::atoi(list.substr(pos, comma - pos).c_str()));
                pos = comma + 1;
            }
        } else {
            std::fprintf(stderr, "usage: bench-bandwidth [--mib N] [--reps R] [--threads 1,2]\n");
            return 2;
        }
    }
    const int n_cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (thread_counts.empty()) {
        thread_counts.push_back(1);
        if (n_cores > 1) thread_counts.push_back(n_cores);
    }
    const size_t bytes = mib << 20;
    auto* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, bytes));
    if (!buf) {
        std::fprintf(stderr, "bench-bandwidth: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    {  // first touch by as many threads as will read, so pages spread as they would for a model's weights
        std::vector<std::thread> touch;
        const size_t part = bytes / n_cores;
        for (int t = 0; t < n_cores; ++t) {
            touch.emplace_back([=] { std::memset(buf + part * t, t + 1, t + 1 == n_cores ? bytes - part * t : part); });
        }
        for (auto& th : touch) th.join();
    }
    const bool avx2 = __builtin_cpu_supports("avx2");
    std::atomic<uint64_t> sink{0};
    std::printf("{\"bytes\": %zu, \"isa\": \"%s\", \"results\": [", bytes, avx2 ? "avx2" : "sse2");
    for (size_t k = 0; k < thread_counts.size(); ++k) {
        const int t = thread_counts[k];
        timed_pass(buf, bytes, t, avx2, &sink);  // warm-up
        std::vector<double> gbps;
        for (int r = 0; r < reps; ++r) {
            const size_t read = bytes / t / 128 * 128 * t;
            gbps.push_back(static_cast<double>(read) / timed_pass(buf, bytes, t, avx2, &sink) / 1e9);
        }
        std::vector<double> sorted = gbps;
        std::sort(sorted.begin(), sorted.end());
        std::printf("%s{\"threads\": %d, \"best_gbps\": %.2f, \"median_gbps\": %.2f, \"samples_gbps\": [", k ? ", " : "", t,
                    sorted.back(), sorted[sorted.size() / 2]);
        for (size_t i = 0; i < gbps.size(); ++i) std::printf("%s%.2f", i ? ", " : "", gbps[i]);
        std::printf("]}");
    }
    std::printf("], \"checksum\": %llu}\n", static_cast<unsigned long long>(sink.load() & 0xff));
    std::free(buf);
    return 0;
}
