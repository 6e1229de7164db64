// bench-kernels: a quick look at matmul speed on this machine (seconds, not a test).
//
// For each weight type, a 896 x 4864 matrix (Qwen2.5-Coder-0.5B's FFN down projection) is copied until the copies
// fill more memory than any cache, in the layout the engine keeps that type in memory (matmul_preferred_layout),
// and matmul runs over the copies in turn, the way decode streams a model's layers. Prints, per type:
//   - decode (n_tokens = 1): weight bytes read per second, next to a plain read of the same memory;
//   - the cost of n_tokens = 2, 4, 8, 16 (and 64) relative to n_tokens = 1: verifying k drafted tokens at once costs
//     this much more than decoding one.
//
// usage: bench-kernels [--threads N] [--seconds S]    (SPECQD_ISA / SPECQD_BF16_DOT choose the kernel path)
#include <emmintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/float-convert.h"
#include "kernels/cpu-features.h"
#include "kernels/matmul.h"
#include "kernels/thread-pool.h"
#include "mxfp4/mxfp4.h"

using namespace specqd;

namespace {

constexpr int64_t kRows = 896;
constexpr int64_t kCols = 4864;
constexpr int64_t kStreamBytes = 256ll << 20;  // well past the last-level cache

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// One matrix's bytes in the given type, from normal random values (ggml-style Q8_0 quantization).
std::vector<uint8_t> make_matrix(GgmlType type, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 0.05f);
    const WeightView shape{type, nullptr, kRows, kCols};
    std::vector<uint8_t> bytes(static_cast<size_t>(kRows * shape.row_bytes()));
    const int64_t n = kRows * kCols;
    if (type == GgmlType::MXFP4) {  // the direct cast of normal values, row by row
        std::vector<float> row(static_cast<size_t>(kCols));
        for (int64_t r = 0; r < kRows; ++r) {
            for (float& v : row) v = normal(rng);
            mxfp4::quantize_row(row.data(), kCols, bytes.data() + r * shape.row_bytes());
        }
        return bytes;
    }
    if (type == GgmlType::Q8_0) {
        auto* blocks = reinterpret_cast<BlockQ8_0*>(bytes.data());
        for (int64_t b = 0; b < n / 32; ++b) {
            blocks[b].d = f32_to_f16(0.05f / 127.0f * 3.0f);
            for (int j = 0; j < 32; ++j) blocks[b].qs[j] = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
        }
        return bytes;
    }
    for (int64_t i = 0; i < n; ++i) {
        const float v = normal(rng);
        if (type == GgmlType::F32) std::memcpy(bytes.data() + i * 4, &v, 4);
        const uint16_t h = type == GgmlType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
        if (type != GgmlType::F32) std::memcpy(bytes.data() + i * 2, &h, 2);
    }
    return bytes;
}

// Plain read bandwidth of the buffer, split over the pool: the physical limit decode can approach. SSE2 loads
// (baseline x86-64) into four independent sums keep the memory system, not the adds, the bottleneck.
double read_bandwidth_gbs(ThreadPool& pool, const std::vector<uint8_t>& buffer, double min_seconds) {
    const auto* vectors = reinterpret_cast<const __m128i*>(buffer.data());
    const int64_t n_tasks = pool.n_threads() * 16;
    const int64_t per_task = static_cast<int64_t>(buffer.size() / 16) / n_tasks / 4 * 4;
    std::vector<int64_t> sums(static_cast<size_t>(n_tasks));
    int64_t bytes = 0;
    const auto t0 = Clock::now();
    do {
        pool.parallel_for(n_tasks, [&](int64_t task) {
            const __m128i* p = vectors + task * per_task;
            __m128i s0 = _mm_setzero_si128(), s1 = s0, s2 = s0, s3 = s0;
            for (int64_t i = 0; i < per_task; i += 4) {
                s0 = _mm_add_epi64(s0, _mm_loadu_si128(p + i));
                s1 = _mm_add_epi64(s1, _mm_loadu_si128(p + i + 1));
                s2 = _mm_add_epi64(s2, _mm_loadu_si128(p + i + 2));
                s3 = _mm_add_epi64(s3, _mm_loadu_si128(p + i + 3));
            }
            const __m128i s = _mm_add_epi64(_mm_add_epi64(s0, s1), _mm_add_epi64(s2, s3));
            sums[static_cast<size_t>(task)] += _mm_cvtsi128_si64(s);
        });
        bytes += n_tasks * per_task * 16;
    } while (seconds_since(t0) < min_seconds);
    if (sums[0] == 42) std::printf(" ");  // keep the sums alive
    return static_cast<double>(bytes) / seconds_since(t0) / 1e9;
}

struct TypeResult {
    double decode_gbs = 0.0;
    std::vector<double> cost;  // time(n_tokens) / time(1)
};

TypeResult bench_type(ThreadPool& pool, GgmlType type, const std::vector<int64_t>& token_counts, double min_seconds,
                      std::mt19937& rng) {
    const std::vector<uint8_t> one = make_matrix(type, rng);
    const int64_t n_copies = kStreamBytes / static_cast<int64_t>(one.size()) + 1;
    std::vector<uint8_t> all(one.size() * static_cast<size_t>(n_copies));
    for (int64_t c = 0; c < n_copies; ++c) std::memcpy(all.data() + c * one.size(), one.data(), one.size());
    // The layout the engine gives weights it reads into memory (MXFP4 on the avx512 path: the step layout), so this
    // measures what decode runs.
    const WeightLayout layout = matmul_preferred_layout(type);
    if (layout == WeightLayout::mxfp4_steps) mxfp4::to_step_layout_in_place(all.data(), kRows * n_copies, kCols);

    const int64_t max_tokens = token_counts.back();
    std::vector<float> x(static_cast<size_t>(max_tokens * kCols)), y(static_cast<size_t>(max_tokens * kRows));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : x) v = normal(rng);

    TypeResult result;
    std::vector<double> seconds_per_call;
    for (int64_t n_tokens : token_counts) {
        int64_t calls = 0;
        int64_t copy = 0;
        const auto t0 = Clock::now();
        do {
            const WeightView w{type, all.data() + copy * one.size(), kRows, kCols, layout};
            matmul(&pool, w, x.data(), n_tokens, y.data());
            copy = (copy + 1) % n_copies;
            ++calls;
        } while (seconds_since(t0) < min_seconds || calls < 8);
        seconds_per_call.push_back(seconds_since(t0) / static_cast<double>(calls));
    }
    result.decode_gbs = static_cast<double>(one.size()) / seconds_per_call[0] / 1e9;
    for (double s : seconds_per_call) result.cost.push_back(s / seconds_per_call[0]);
    return result;
}

}  // namespace

int main(int argc, char** argv) {
    int n_threads = static_cast<int>(std::thread::hardware_concurrency());
    double min_seconds = 0.25;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--threads") == 0) n_threads = std::atoi(argv[i + 1]);
        if (std::strcmp(argv[i], "--seconds") == 0) min_seconds = std::atof(argv[i + 1]);
    }
    if (n_threads < 1) n_threads = 1;
    ThreadPool pool(n_threads);
    std::mt19937 rng(7);

    std::printf("kernel path: %s   threads: %d   matrix: %lld x %lld   cpu: %s\n", kernel_path_name(), n_threads,
                static_cast<long long>(kRows), static_cast<long long>(kCols), cpu_features_string().c_str());
    std::vector<uint8_t> stream(static_cast<size_t>(kStreamBytes), 1);
    std::printf("plain memory read: %.1f GB/s\n\n", read_bandwidth_gbs(pool, stream, min_seconds));
    stream = {};

    const std::vector<int64_t> token_counts{1, 2, 4, 8, 16, 64};
    std::printf("%-6s %14s   cost of n_tokens relative to 1:", "type", "decode GB/s");
    for (size_t i = 1; i < token_counts.size(); ++i) std::printf(" %7lld", static_cast<long long>(token_counts[i]));
    std::printf("\n");
    const GgmlType types[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::MXFP4};
    for (GgmlType type : types) {
        const TypeResult r = bench_type(pool, type, token_counts, min_seconds, rng);
        std::printf("%-6s %14.1f   %31s", ggml_type_name(static_cast<uint32_t>(type)).c_str(), r.decode_gbs, "");
        for (size_t i = 1; i < r.cost.size(); ++i) std::printf(" %7.2f", r.cost[i]);
        std::printf("\n");
    }
    return 0;
}
