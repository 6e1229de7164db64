// The small operations (ops.h) on every kernel path this machine has: each fast version against its reference
// twin under a named tolerance, on random data of awkward lengths, plus the edge cases (ties, NaN, -inf, huge
// inputs) and row-by-row batch invariance.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "kernels/cpu-features.h"
#include "kernels/ops.h"

using namespace specqd;

namespace {

// Elementwise results (rms_norm, silu_mul, softmax, axpy): |fast - ref| <= kElementTolerance * |ref| + kTinyAbs.
// The fast exp is within ~1.5 ulp of expf and a division or a fused multiply-add adds half an ulp each: a few
// ulps, i.e. ~5e-7 relative. A wrong formula is off by far more.
constexpr double kElementTolerance = 1e-6;
constexpr double kTinyAbs = 1e-30;
// dot: |fast - ref| <= kDotTolerance * sum |a_i b_i| (a different summation order, see test-kernels-matmul).
constexpr double kDotTolerance = 2e-6;

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<IsaLevel> available_levels() {
    std::vector<IsaLevel> levels;
    for (int l = 0; l <= static_cast<int>(isa_level_supported()); ++l) levels.push_back(static_cast<IsaLevel>(l));
    return levels;
}

std::vector<float> random_vector(int64_t n, float sigma, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, sigma);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = normal(rng);
    return v;
}

// Largest |a - b| / (|b| + tiny / tol) over the arrays; NaN if any pair disagrees on NaN-ness.
double worst_relative(const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) || std::isnan(b[i])) {
            if (std::isnan(a[i]) != std::isnan(b[i])) return kNaN;
            continue;
        }
        if (a[i] == b[i]) continue;  // also equal infinities
        const double err = std::fabs(static_cast<double>(a[i]) - b[i]);
        const double rel = err / (std::fabs(static_cast<double>(b[i])) + kTinyAbs / kElementTolerance);
        if (rel > worst) worst = rel;
    }
    return worst;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

std::string where(const char* op, int64_t n) {
    return std::string(op) + " on " + kernel_path_name() + ", n=" + std::to_string(n);
}

void test_rms_norm(std::mt19937& rng) {
    for (int64_t dim : {1, 7, 16, 17, 64, 100, 896, 1000}) {
        const int64_t n_tokens = 5;
        const std::vector<float> x = random_vector(n_tokens * dim, 3.0f, rng);
        const std::vector<float> w = random_vector(dim, 1.0f, rng);
        std::vector<float> y(x.size()), y_ref(x.size());
        rms_norm(x.data(), w.data(), n_tokens, dim, 1e-6f, y.data());
        ref::rms_norm(x.data(), w.data(), n_tokens, dim, 1e-6f, y_ref.data());
        const double err = worst_relative(y, y_ref);
        CHECK_MSG(err <= kElementTolerance, where("rms_norm", dim) + ": relative error " + std::to_string(err));

        // Row by row gives the same bits as the batch, and y may be x.
        std::vector<float> rows(x.size());
        for (int64_t t = 0; t < n_tokens; ++t) {
            rms_norm(x.data() + t * dim, w.data(), 1, dim, 1e-6f, rows.data() + t * dim);
        }
        CHECK_MSG(same_bits(rows, y), where("rms_norm batch invariance", dim));
        std::vector<float> in_place = x;
        rms_norm(in_place.data(), w.data(), n_tokens, dim, 1e-6f, in_place.data());
        CHECK_MSG(same_bits(in_place, y), where("rms_norm in place", dim));
    }
    // An all-zero row is eps-limited, not NaN.
    std::vector<float> zeros(64, 0.0f), w(64, 1.0f), y(64, 1.0f);
    rms_norm(zeros.data(), w.data(), 1, 64, 1e-5f, y.data());
    CHECK_MSG(y[0] == 0.0f && y[63] == 0.0f, where("rms_norm of zeros", 64));
}

void test_add_bias(std::mt19937& rng) {
    for (int64_t dim : {1, 9, 64, 896, 901}) {
        const std::vector<float> x = random_vector(3 * dim, 1.0f, rng);
        const std::vector<float> b = random_vector(dim, 1.0f, rng);
        std::vector<float> y = x, y_ref = x;
        add_bias(y.data(), b.data(), 3, dim);
        ref::add_bias(y_ref.data(), b.data(), 3, dim);
        CHECK_MSG(same_bits(y, y_ref), where("add_bias (exact)", dim));
    }
}

void test_silu_mul(std::mt19937& rng) {
    for (int64_t n : {1, 7, 8, 15, 16, 17, 100, 4864}) {
        const std::vector<float> g = random_vector(n, 4.0f, rng);
        const std::vector<float> u = random_vector(n, 1.0f, rng);
        std::vector<float> y(static_cast<size_t>(n)), y_ref(static_cast<size_t>(n));
        silu_mul(g.data(), u.data(), n, y.data());
        ref::silu_mul(g.data(), u.data(), n, y_ref.data());
        const double err = worst_relative(y, y_ref);
        CHECK_MSG(err <= kElementTolerance, where("silu_mul", n) + ": relative error " + std::to_string(err));
        std::vector<float> in_place = g;
        silu_mul(in_place.data(), u.data(), n, in_place.data());
        CHECK_MSG(same_bits(in_place, y), where("silu_mul in place", n));
    }
    // A sweep over the whole useful range of exp (and past it), with up = 1 so the result is silu itself.
    std::vector<float> g, u;
    for (float v = -120.0f; v <= 120.0f; v += 0.0137f) g.push_back(v);
    for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.7f, -88.7f, 89.0f, -89.0f, 103.9f, -103.9f, 200.0f, -200.0f, 1e30f,
                    -1e30f, kInf, -kInf}) {
        g.push_back(v);
    }
    u.assign(g.size(), 1.0f);
    std::vector<float> y(g.size()), y_ref(g.size());
    silu_mul(g.data(), u.data(), static_cast<int64_t>(g.size()), y.data());
    ref::silu_mul(g.data(), u.data(), static_cast<int64_t>(g.size()), y_ref.data());
    const double err = worst_relative(y, y_ref);
    CHECK_MSG(err <= kElementTolerance, where("silu_mul sweep", static_cast<int64_t>(g.size())) +
                                            ": relative error " + std::to_string(err));
}

void test_softmax(std::mt19937& rng) {
    for (int64_t n : {1, 2, 5, 8, 16, 17, 100, 2049}) {
        std::vector<float> x = random_vector(n, 5.0f, rng);
        if (n > 4) x[1] = x[n - 1] = -kInf;  // masked positions
        std::vector<float> y = x, y_ref = x;
        softmax(y.data(), n);
        ref::softmax(y_ref.data(), n);
        const double err = worst_relative(y, y_ref);
        CHECK_MSG(err <= kElementTolerance, where("softmax", n) + ": relative error " + std::to_string(err));
        if (n > 4) CHECK_MSG(y[1] == 0.0f && y[n - 1] == 0.0f, where("softmax of -inf is 0", n));
        double sum = 0.0;
        for (float v : y) sum += v;
        CHECK_MSG(std::fabs(sum - 1.0) < 1e-5, where("softmax sums to 1", n));
    }
    // Large logits: max subtraction keeps exp in range.
    std::vector<float> big{1000.0f, 999.0f, -1000.0f};
    softmax(big.data(), 3);
    CHECK_MSG(std::fabs(big[0] - 0.7310586f) < 1e-6f && big[2] == 0.0f, where("softmax of large logits", 3));
}

void test_argmax(std::mt19937& rng) {
    for (int64_t n : {1, 7, 8, 9, 16, 17, 33, 1000, 151936}) {
        std::vector<float> x = random_vector(n, 1.0f, rng);
        CHECK_EQ(argmax(x.data(), n), ref::argmax(x.data(), n));
        // The maximum in the very last element (a partial vector).
        x[static_cast<size_t>(n - 1)] = 100.0f;
        CHECK_EQ(argmax(x.data(), n), n - 1);
        // Ties: the lowest index wins.
        if (n >= 3) {
            x[static_cast<size_t>(n / 2)] = 100.0f;
            x[1] = 100.0f;
            CHECK_EQ(argmax(x.data(), n), int64_t{1});
        }
        // NaNs are never chosen.
        if (n >= 2) {
            x[0] = kNaN;
            x[static_cast<size_t>(n - 1)] = kNaN;
            CHECK_EQ(argmax(x.data(), n), ref::argmax(x.data(), n));
            CHECK(!std::isnan(x[static_cast<size_t>(argmax(x.data(), n))]) || n == 2);
        }
    }
    std::vector<float> all_nan(20, kNaN), all_neg_inf(20, -kInf);
    CHECK_EQ(argmax(all_nan.data(), 20), int64_t{0});
    CHECK_EQ(argmax(all_neg_inf.data(), 20), int64_t{0});
    CHECK_EQ(argmax(all_nan.data(), 0), int64_t{0});
    std::vector<float> neg{-5.0f, -3.0f, -4.0f, -3.0f, -7.0f, -1e30f, -3.0f, -9.0f, -3.5f};
    CHECK_EQ(argmax(neg.data(), 9), int64_t{1});
}

void test_dot_axpy(std::mt19937& rng) {
    for (int64_t n : {1, 7, 8, 15, 16, 17, 31, 32, 33, 64, 128, 1000}) {
        const std::vector<float> a = random_vector(n, 1.0f, rng), b = random_vector(n, 1.0f, rng);
        double scale = 0.0;
        for (int64_t i = 0; i < n; ++i) scale += std::fabs(static_cast<double>(a[i]) * b[i]);
        const double err = std::fabs(static_cast<double>(dot(a.data(), b.data(), n)) - ref::dot(a.data(), b.data(), n));
        CHECK_MSG(err <= kDotTolerance * scale, where("dot", n) + ": error " + std::to_string(err / scale));

        std::vector<float> y = random_vector(n, 1.0f, rng);
        std::vector<float> y_ref = y;
        axpy(0.37f, a.data(), y.data(), n);
        ref::axpy(0.37f, a.data(), y_ref.data(), n);
        // Fused vs separate multiply-add: at most an ulp of the product apart, relative to |alpha*x| + |y|.
        double worst = 0.0;
        for (int64_t i = 0; i < n; ++i) {
            const double mag = std::fabs(0.37 * a[i]) + std::fabs(static_cast<double>(y_ref[i]) - 0.37 * a[i]);
            worst = std::max(worst, std::fabs(static_cast<double>(y[i]) - y_ref[i]) / mag);
        }
        CHECK_MSG(worst <= kElementTolerance, where("axpy", n) + ": relative error " + std::to_string(worst));
    }
}

// dot_rows / axpy_rows give, bit for bit, what dot / axpy give one row at a time (rows of a strided matrix). The
// row counts take dot_rows' batched horizontal sums (16 rows on avx512, 8 on avx2) whole, partly filled and both.
void test_rows(std::mt19937& rng, int64_t n_rows, int64_t dim) {
    const std::string rows = " rows=" + std::to_string(n_rows);
    const int64_t stride = dim + 5;
    const std::vector<float> q = random_vector(dim, 1.0f, rng), m = random_vector(stride * n_rows, 1.0f, rng);
    const std::vector<float> w = random_vector(n_rows, 1.0f, rng);
    std::vector<float> scores(n_rows), one(n_rows);
    dot_rows(q.data(), m.data(), stride, n_rows, dim, scores.data());
    for (int64_t j = 0; j < n_rows; ++j) one[j] = dot(q.data(), m.data() + j * stride, dim);
    CHECK_MSG(std::memcmp(scores.data(), one.data(), sizeof(float) * n_rows) == 0, where("dot_rows", dim) + rows);
    std::vector<float> y = random_vector(dim, 1.0f, rng), y_one = y;
    axpy_rows(w.data(), m.data(), stride, n_rows, dim, y.data());
    for (int64_t j = 0; j < n_rows; ++j) axpy(w[j], m.data() + j * stride, y_one.data(), dim);
    CHECK_MSG(std::memcmp(y.data(), y_one.data(), sizeof(float) * dim) == 0, where("axpy_rows", dim) + rows);
    // and against the reference within the dot / element tolerances
    std::vector<float> scores_ref(n_rows);
    ref::dot_rows(q.data(), m.data(), stride, n_rows, dim, scores_ref.data());
    for (int64_t j = 0; j < n_rows; ++j) {
        double scale = 0.0;
        for (int64_t i = 0; i < dim; ++i) scale += std::fabs(static_cast<double>(q[i]) * m[j * stride + i]);
        CHECK_MSG(std::fabs(static_cast<double>(scores[j]) - scores_ref[j]) <= kDotTolerance * scale,
                  where("dot_rows vs ref", dim) + rows);
    }
}

}  // namespace

int main() {
    std::mt19937 rng(99);
    for (IsaLevel level : available_levels()) {
        set_isa_level(level);
        test_rms_norm(rng);
        test_add_bias(rng);
        test_silu_mul(rng);
        test_softmax(rng);
        test_argmax(rng);
        test_dot_axpy(rng);
        for (int64_t n_rows : {1, 8, 16, 37}) {
            for (int64_t dim : {1, 17, 64, 128}) test_rows(rng, n_rows, dim);
        }
    }
    set_isa_level(isa_level_supported());
    return check::summary("test-kernels-ops");
}
