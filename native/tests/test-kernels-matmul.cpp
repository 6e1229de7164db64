// matmul on every kernel path this machine has, for every weight type:
//   1. agrees with ref::matmul (on the activations rounded as the path declares) within kMatmulTolerance;
//   2. is batch-invariant bitwise: row t of an n-token call equals the 1-token call on row t;
//   3. is thread-invariant bitwise: pools of 1, 2, 3 and 7 threads give the bits of the pool-less call;
//   4. matmul_shared_input() gives each output the bits of its own matmul() call;
//   5. MXFP4 in the step layout gives the bits of ggml's layout.
// Plus the int8 activation rounding (the reference twin of the avx512 MXFP4 kernel's activations) on chosen values,
// and that kernel on activations with NaN, infinities, all-zero and vanishing blocks.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/float-convert.h"
#include "check.h"
#include "kernels/cpu-features.h"
#include "kernels/matmul.h"
#include "kernels/thread-pool.h"
#include "mxfp4/mxfp4.h"

using namespace specqd;

namespace {

// |fast - ref| <= kMatmulTolerance * sum_k |w_k * x_k|. Reordering an f32 sum of n products moves the result by
// about 1e-7 of that scale; one wrong product moves it by ~1/n of it (2e-4 for n = 4864), far above this bound.
constexpr double kMatmulTolerance = 2e-6;

struct Path {
    IsaLevel level;
    bool bf16_dot;
    std::string name;
};

std::vector<Path> available_paths() {
    std::vector<Path> paths{{IsaLevel::scalar, false, "scalar"}};
    if (isa_level_supported() >= IsaLevel::avx2) paths.push_back({IsaLevel::avx2, false, "avx2"});
    if (isa_level_supported() >= IsaLevel::avx512) {
        paths.push_back({IsaLevel::avx512, false, "avx512"});
        if (cpu_features().avx512_bf16) paths.push_back({IsaLevel::avx512, true, "avx512+bf16dot"});
    }
    return paths;
}

void use_path(const Path& p) {
    set_isa_level(p.level);
    set_bf16_dot_enabled(p.bf16_dot);
}

// A weight matrix in the given type, made from normal random values, plus the same values as f32 for scale.
struct TestWeights {
    GgmlType type;
    int64_t rows, cols;
    std::vector<uint8_t> bytes;
    WeightLayout layout = WeightLayout::file;
    WeightView view() const { return WeightView{type, bytes.data(), rows, cols, layout}; }
};

TestWeights make_weights(GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 0.5f);
    std::vector<float> f(static_cast<size_t>(rows * cols));
    for (float& v : f) v = normal(rng);
    TestWeights w{type, rows, cols, {}};
    w.bytes.resize(static_cast<size_t>(rows * w.view().row_bytes()));
    switch (type) {
        case GgmlType::F32: std::memcpy(w.bytes.data(), f.data(), f.size() * 4); break;
        case GgmlType::F16:
        case GgmlType::BF16: {
            auto* h = reinterpret_cast<uint16_t*>(w.bytes.data());
            for (size_t i = 0; i < f.size(); ++i) h[i] = type == GgmlType::F16 ? f32_to_f16(f[i]) : f32_to_bf16(f[i]);
            break;
        }
        case GgmlType::Q8_0: {
            auto* blocks = reinterpret_cast<BlockQ8_0*>(w.bytes.data());
            for (size_t b = 0; b < f.size() / 32; ++b) {
                float amax = 0.0f;
                for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(f[b * 32 + j]));
                const float d = amax / 127.0f;
                blocks[b].d = f32_to_f16(d);
                for (int j = 0; j < 32; ++j) {
                    const long q = d > 0.0f ? std::lround(f[b * 32 + j] / d) : 0;
                    blocks[b].qs[j] = static_cast<int8_t>(std::max(-127L, std::min(127L, q)));
                }
            }
            break;
        }
        case GgmlType::MXFP4: {
            const int64_t row_bytes = w.view().row_bytes();
            for (int64_t r = 0; r < rows; ++r) mxfp4::quantize_row(&f[r * cols], cols, &w.bytes[r * row_bytes]);
            break;
        }
        default: break;
    }
    return w;
}

std::vector<float> random_activations(int64_t n, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = normal(rng);
    return x;
}

bool same_bits(const float* a, const float* b, int64_t n) { return std::memcmp(a, b, static_cast<size_t>(n) * 4) == 0; }

// Fast vs reference: each output within kMatmulTolerance of the scale of its dot product.
void check_against_reference(const Path& path, const TestWeights& tw, int64_t n_tokens, std::mt19937& rng) {
    const WeightView w = tw.view();
    const std::vector<float> x = random_activations(n_tokens * w.cols, rng);
    std::vector<float> y(static_cast<size_t>(n_tokens * w.rows));
    matmul(nullptr, w, x.data(), n_tokens, y.data());

    std::vector<float> xr = x;
    ref::round_activations(matmul_activation_rounding(w.type), xr.data(), static_cast<int64_t>(xr.size()));
    std::vector<float> y_ref(y.size());
    ref::matmul(nullptr, w, xr.data(), n_tokens, y_ref.data());

    std::vector<float> row(static_cast<size_t>(w.cols));
    double worst = 0.0;
    for (int64_t o = 0; o < w.rows; ++o) {
        ref::dequantize_row(w, o, row.data());
        for (int64_t t = 0; t < n_tokens; ++t) {
            double scale = 0.0;
            for (int64_t k = 0; k < w.cols; ++k) scale += std::fabs(static_cast<double>(row[k]) * xr[t * w.cols + k]);
            const double err = std::fabs(static_cast<double>(y[t * w.rows + o]) - y_ref[t * w.rows + o]);
            const double rel = err / (scale > 0.0 ? scale : 1.0);
            if (!(rel <= worst)) worst = rel;  // NaN sticks
        }
    }
    CHECK_MSG(worst <= kMatmulTolerance, path.name + " " + ggml_type_name(static_cast<uint32_t>(w.type)) + " " +
                                             std::to_string(w.rows) + "x" + std::to_string(w.cols) + " n_tokens=" +
                                             std::to_string(n_tokens) + ": relative error " + std::to_string(worst));
}

// Row t of every n-token call must carry the bits of the 1-token call on row t alone.
void check_batch_invariance(const Path& path, const TestWeights& tw, const std::vector<int64_t>& batch_sizes,
                            std::mt19937& rng) {
    const WeightView w = tw.view();
    int64_t max_tokens = 0;
    for (int64_t n : batch_sizes) max_tokens = std::max(max_tokens, n);
    const std::vector<float> x = random_activations(max_tokens * w.cols, rng);

    std::vector<float> single(static_cast<size_t>(max_tokens * w.rows));
    for (int64_t t = 0; t < max_tokens; ++t) matmul(nullptr, w, x.data() + t * w.cols, 1, single.data() + t * w.rows);

    for (int64_t n : batch_sizes) {
        // Also start the batch at a different row of x, so a token sits at a different position in the batch.
        for (int64_t first : {int64_t{0}, max_tokens - n}) {
            std::vector<float> y(static_cast<size_t>(n * w.rows));
            matmul(nullptr, w, x.data() + first * w.cols, n, y.data());
            int64_t bad = -1;
            for (int64_t t = 0; t < n && bad < 0; ++t) {
                if (!same_bits(y.data() + t * w.rows, single.data() + (first + t) * w.rows, w.rows)) bad = t;
            }
            CHECK_MSG(bad < 0, path.name + " " + ggml_type_name(static_cast<uint32_t>(w.type)) + " " +
                                   std::to_string(w.rows) + "x" + std::to_string(w.cols) + ": token " +
                                   std::to_string(bad) + " of a " + std::to_string(n) + "-token batch differs");
        }
    }
}

// Any thread count must give the bits of the pool-less call.
void check_thread_invariance(const Path& path, const TestWeights& tw, int64_t n_tokens, std::vector<ThreadPool*>& pools,
                             std::mt19937& rng) {
    const WeightView w = tw.view();
    const std::vector<float> x = random_activations(n_tokens * w.cols, rng);
    std::vector<float> expected(static_cast<size_t>(n_tokens * w.rows));
    matmul(nullptr, w, x.data(), n_tokens, expected.data());
    for (ThreadPool* pool : pools) {
        std::vector<float> y(expected.size(), -1.0f);
        matmul(pool, w, x.data(), n_tokens, y.data());
        CHECK_MSG(same_bits(y.data(), expected.data(), static_cast<int64_t>(y.size())),
                  path.name + " " + ggml_type_name(static_cast<uint32_t>(w.type)) + " " + std::to_string(w.rows) + "x" +
                      std::to_string(w.cols) + " n_tokens=" + std::to_string(n_tokens) + " with " +
                      std::to_string(pool->n_threads()) + " threads differs from 1 thread");
    }
}

// MXFP4 weights rearranged into the step layout (mxfp4.h).
TestWeights step_layout_copy(const TestWeights& tw) {
    TestWeights steps = tw;
    mxfp4::to_step_layout_in_place(steps.bytes.data(), steps.rows, steps.cols);
    steps.layout = WeightLayout::mxfp4_steps;
    return steps;
}

// The same MXFP4 weights in the step layout give the bits of ggml's layout: every path does the same arithmetic on
// both, only where it finds the bytes differs.
void check_step_layout(const Path& path, const TestWeights& tw, const TestWeights& steps, std::mt19937& rng) {
    for (int64_t n_tokens : {1, 2, 3, 4, 5, 17}) {
        const std::vector<float> x = random_activations(n_tokens * tw.cols, rng);
        std::vector<float> expected(static_cast<size_t>(n_tokens * tw.rows)), y(expected.size(), -1.0f);
        matmul(nullptr, tw.view(), x.data(), n_tokens, expected.data());
        matmul(nullptr, steps.view(), x.data(), n_tokens, y.data());
        CHECK_MSG(same_bits(y.data(), expected.data(), static_cast<int64_t>(y.size())),
                  path.name + " MXFP4 " + std::to_string(tw.rows) + "x" + std::to_string(tw.cols) +
                      " n_tokens=" + std::to_string(n_tokens) + ": the step layout differs from ggml's");
    }
}

// matmul_shared_input() must give, for every output, the bits of one matmul() call on it alone, on every pool
// (including none). The groups mix weight types (a tensor that kept its type beside MXFP4 ones: two conversions of
// the input, or one shared) and row counts that split unevenly across tasks, as a layer's q, k, v do.
void check_shared_input(const Path& path, std::vector<ThreadPool*>& pools, std::mt19937& rng) {
    const int64_t cols = 288;
    const std::vector<std::vector<std::pair<GgmlType, int64_t>>> groups{
        {{GgmlType::MXFP4, 299}, {GgmlType::MXFP4, 33}, {GgmlType::MXFP4, 33}},
        {{GgmlType::BF16, 200}, {GgmlType::MXFP4, 67}, {GgmlType::BF16, 5}, {GgmlType::Q8_0, 130}},
        {{GgmlType::F32, 1}, {GgmlType::F16, 301}},
        {{GgmlType::MXFP4, 7}},
    };
    for (const auto& group : groups) {
        std::vector<TestWeights> weights;
        for (auto [type, rows] : group) weights.push_back(make_weights(type, rows, cols, rng));
        for (int64_t n_tokens : {1, 3, 17}) {
            const std::vector<float> x = random_activations(n_tokens * cols, rng);
            std::vector<std::vector<float>> expected;
            for (const TestWeights& tw : weights) {
                expected.emplace_back(static_cast<size_t>(n_tokens * tw.rows));
                matmul(nullptr, tw.view(), x.data(), n_tokens, expected.back().data());
            }
            std::vector<ThreadPool*> all_pools{nullptr};
            all_pools.insert(all_pools.end(), pools.begin(), pools.end());
            for (ThreadPool* pool : all_pools) {
                std::vector<std::vector<float>> ys;
                std::vector<MatmulOutput> outs;
                for (const TestWeights& tw : weights) ys.emplace_back(static_cast<size_t>(n_tokens * tw.rows), -1.0f);
                for (size_t i = 0; i < weights.size(); ++i) outs.push_back({weights[i].view(), ys[i].data()});
                matmul_shared_input(pool, outs.data(), static_cast<int>(outs.size()), x.data(), n_tokens);
                for (size_t i = 0; i < weights.size(); ++i) {
                    CHECK_MSG(same_bits(ys[i].data(), expected[i].data(), static_cast<int64_t>(ys[i].size())),
                              path.name + " shared-input output " + std::to_string(i) + " (" +
                                  ggml_type_name(static_cast<uint32_t>(weights[i].type)) + ", " +
                                  std::to_string(weights[i].rows) + " rows) n_tokens=" + std::to_string(n_tokens) +
                                  " with " + std::to_string(pool != nullptr ? pool->n_threads() : 0) +
                                  " threads differs from its own matmul");
                }
            }
        }
    }
}

// ref::round_activations(int8) on values whose result is known, then matmul on awkward activations on every path
// (whatever rounding the path declares): it must match the reference on them and stay finite.
void check_int8_rounding(const std::vector<Path>& paths, std::mt19937& rng) {
    // amax 127: the scale is 1, so the values become their nearest-even integers.
    std::vector<float> x(64, 0.0f);
    const float exact[] = {127.0f, -63.5f, 0.5f, 1.5f, 2.5f, -0.49f, 126.6f};
    const float rounded[] = {127.0f, -64.0f, 0.0f, 2.0f, 2.0f, -0.0f, 127.0f};
    std::copy(std::begin(exact), std::end(exact), x.begin());
    // Second block: NaN and infinities count as 0; amax 2 gives the scale 2 / 127.
    x[32] = std::nanf("");
    x[33] = INFINITY;
    x[34] = -INFINITY;
    x[35] = 2.0f;
    x[36] = -1.0f;
    std::vector<float> r = x;
    ref::round_activations(ActivationRounding::int8, r.data(), 64);
    for (size_t i = 0; i < std::size(exact); ++i) CHECK_MSG(r[i] == rounded[i], "int8 rounding of " + std::to_string(exact[i]));
    CHECK(r[32] == 0.0f && r[33] == 0.0f && r[34] == 0.0f);
    CHECK(r[35] == 127.0f * (2.0f / 127.0f));
    CHECK(r[36] == std::nearbyint(-1.0f * (127.0f / 2.0f)) * (2.0f / 127.0f));  // -64 (63.5 rounds to even)
    // A block whose largest magnitude is so small that 127 / amax overflows becomes zeros; so does an all-zero one.
    std::vector<float> tiny(32, 1e-39f);
    ref::round_activations(ActivationRounding::int8, tiny.data(), 32);
    CHECK(std::all_of(tiny.begin(), tiny.end(), [](float v) { return v == 0.0f; }));
    // A trailing partial block is rounded on its own.
    std::vector<float> partial{4.0f, 1.0f, 3.0f};
    ref::round_activations(ActivationRounding::int8, partial.data(), 3);
    CHECK(partial[0] == 4.0f && partial[1] == std::nearbyint(127.0f / 4.0f) * (4.0f / 127.0f));

    // The kernels on such activations: 3 tokens of 160 columns (5 blocks, so a partial step too).
    std::vector<float> awkward = random_activations(3 * 160, rng);
    for (int i = 0; i < 32; ++i) awkward[i] = 0.0f;                 // token 0, block 0: all zero
    for (int i = 32; i < 64; ++i) awkward[i] *= 1e-39f;             // block 1: vanishing
    awkward[70] = std::nanf("");                                     // block 2: NaN and infinities
    awkward[71] = INFINITY;
    awkward[72] = -INFINITY;
    awkward[160 + 5] = 1e30f;                                        // token 1: one huge value
    for (const Path& path : paths) {
        use_path(path);
        const TestWeights tw = make_weights(GgmlType::MXFP4, 9, 160, rng);
        if (matmul_activation_rounding(GgmlType::MXFP4) != ActivationRounding::int8) continue;  // f32 paths: NaN in, NaN out
        std::vector<float> y(3 * 9), y_ref(3 * 9);
        matmul(nullptr, tw.view(), awkward.data(), 3, y.data());
        std::vector<float> xr = awkward;
        ref::round_activations(ActivationRounding::int8, xr.data(), static_cast<int64_t>(xr.size()));
        ref::matmul(nullptr, tw.view(), xr.data(), 3, y_ref.data());
        for (size_t i = 0; i < y.size(); ++i) {
            CHECK_MSG(std::isfinite(y[i]), path.name + ": int8 MXFP4 output not finite");
            CHECK_MSG(std::fabs(y[i] - y_ref[i]) <= 1e-5 * (std::fabs(y_ref[i]) + 1.0f),
                      path.name + ": int8 MXFP4 output " + std::to_string(y[i]) + " vs reference " +
                          std::to_string(y_ref[i]));
        }
    }
}

}  // namespace

int main() {
    std::mt19937 rng(1234);
    const GgmlType types[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::MXFP4};
    ThreadPool pool1(1), pool2(2), pool3(3), pool7(7);
    std::vector<ThreadPool*> pools{&pool1, &pool2, &pool3, &pool7};

    std::vector<int64_t> batch_sizes;
    for (int64_t n = 1; n <= 17; ++n) batch_sizes.push_back(n);
    batch_sizes.push_back(64);
    batch_sizes.push_back(130);

    const std::vector<Path> paths = available_paths();
    std::printf("kernel paths tested:");
    for (const Path& p : paths) std::printf(" %s", p.name.c_str());
    std::printf(" (cpu: %s)\n", cpu_features_string().c_str());

    for (const Path& path : paths) {
        use_path(path);
        for (GgmlType type : types) {
            // Shapes: row counts that are not multiples of any tile; columns that are multiples of 32 and, for the
            // types that allow it, columns that end in a partial vector step.
            std::vector<std::pair<int64_t, int64_t>> shapes{{1, 32}, {7, 96}, {33, 160}, {67, 320}};
            if (type != GgmlType::Q8_0 && type != GgmlType::MXFP4) {  // block types: whole blocks only
                for (int64_t cols : {1, 5, 17, 45, 100, 172}) shapes.push_back({13, cols});
            }
            for (auto [rows, cols] : shapes) {
                const TestWeights tw = make_weights(type, rows, cols, rng);
                for (int64_t n : {1, 2, 3, 4, 5, 8, 17, 64, 130}) check_against_reference(path, tw, n, rng);
                check_batch_invariance(path, tw, batch_sizes, rng);
                if (type == GgmlType::MXFP4) {
                    const TestWeights steps = step_layout_copy(tw);
                    check_step_layout(path, tw, steps, rng);
                    check_against_reference(path, steps, 3, rng);
                    check_batch_invariance(path, steps, batch_sizes, rng);
                }
            }
            // A model-sized matrix (Qwen2.5-Coder-0.5B's FFN down projection: 896 outputs of 4864 inputs).
            const TestWeights big = make_weights(type, 896, 4864, rng);
            check_against_reference(path, big, 1, rng);
            check_against_reference(path, big, 8, rng);
            check_batch_invariance(path, big, {2, 5, 8, 16}, rng);
            // Large enough to be split over the pool, with rows that do not fill the last task.
            const TestWeights split = make_weights(type, 299, 288, rng);
            for (int64_t n : {1, 3, 7, 17}) check_thread_invariance(path, split, n, pools, rng);
            check_thread_invariance(path, big, 5, pools, rng);
            if (type == GgmlType::MXFP4) {
                const TestWeights big_steps = step_layout_copy(big);
                check_step_layout(path, big, big_steps, rng);
                check_thread_invariance(path, big_steps, 5, pools, rng);
                check_thread_invariance(path, step_layout_copy(split), 3, pools, rng);
            }
        }
        check_shared_input(path, pools, rng);
    }

    check_int8_rounding(paths, rng);

    // The paths must be distinct code: with the same inputs, at least one fast path rounds differently from the
    // scalar one somewhere (otherwise the override would not be switching anything).
    if (paths.size() > 1) {
        const TestWeights tw = make_weights(GgmlType::F32, 64, 4864, rng);
        const std::vector<float> x = random_activations(4864, rng);
        std::vector<float> y_scalar(64), y_fast(64);
        use_path(paths[0]);
        matmul(nullptr, tw.view(), x.data(), 1, y_scalar.data());
        use_path(paths[1]);
        matmul(nullptr, tw.view(), x.data(), 1, y_fast.data());
        CHECK_MSG(!same_bits(y_scalar.data(), y_fast.data(), 64),
                  "scalar and " + paths[1].name + " gave identical bits");
    }

    // The ISA override clamps to what the machine supports and reports what it applied.
    CHECK(set_isa_level(IsaLevel::avx512) == isa_level_supported());
    CHECK(set_isa_level(IsaLevel::scalar) == IsaLevel::scalar);
    CHECK(std::string(kernel_path_name()) == "scalar");
    set_isa_level(isa_level_supported());
    set_bf16_dot_enabled(true);
    std::printf("active path: %s\n", kernel_path_name());
    return check::summary("test-kernels-matmul");
}
