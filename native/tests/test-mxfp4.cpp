// MXFP4 at the bit level: block size and field offsets, the nibble layout, the shared exponent (exact floor(log2),
// clamping), every tie point and its direction, saturation, zero / denormal / non-finite blocks, the E8M0 decoder,
// and round trips. The direct cast is also compared, on random and on adversarial values, with an independent
// re-statement of ggml's rule (scan the 16 codes, keep the first with the smallest |value - x|).
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "mxfp4/mxfp4.h"

using namespace specqd;
using mxfp4::Block;

namespace {

uint32_t bits_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

uint8_t code_at(const Block& b, int j) { return j < 16 ? (b.qs[j] & 0x0F) : (b.qs[j - 16] >> 4); }

Block quantize(const std::vector<float>& x) {
    Block b;
    mxfp4::quantize_block(x.data(), &b);
    return b;
}

// A block with amax = 6 (so e = 127, scale 1: the E2M1 values themselves) and x0 at element 0.
std::vector<float> unit_scale_block(float x0) {
    std::vector<float> x(32, 0.0f);
    x[31] = 6.0f;
    x[0] = x0;
    return x;
}

// ggml's element rule restated: the code minimizing |kvalue * d - x| over codes 0..15, first one on a tie.
uint8_t scan_code(float x, uint8_t e) {
    const float d = mxfp4::e8m0_to_f32_half(e);
    uint8_t best = 0;
    float best_err = std::fabs(mxfp4::kE2M1Doubled[0] * d - x);
    for (uint8_t i = 1; i < 16; ++i) {
        const float err = std::fabs(mxfp4::kE2M1Doubled[i] * d - x);
        if (err < best_err) {
            best_err = err;
            best = i;
        }
    }
    return best;
}

}  // namespace

int main() {
    // ---- Layout ----
    CHECK_EQ(sizeof(Block), size_t{17});
    CHECK_EQ(offsetof(Block, e), size_t{0});
    CHECK_EQ(offsetof(Block, qs), size_t{1});

    // Element j -> low nibble of byte j, element j + 16 -> high nibble of byte j. Elements 0..15 take codes 0..15
    // (with code 8, -0, replaced by +0's code 0), elements 16..31 the codes in reverse order.
    {
        const float value_of_code[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, 0, -0.5f, -1, -1.5f, -2, -3, -4, -6};
        std::vector<float> x(32);
        for (int j = 0; j < 16; ++j) {
            x[j] = value_of_code[j];
            x[j + 16] = value_of_code[15 - j];
        }
        const Block b = quantize(x);
        CHECK_EQ(int{b.e}, 127);
        for (int j = 0; j < 16; ++j) {
            const int lo = j == 8 ? 0 : j;
            const int hi = 15 - j == 8 ? 0 : 15 - j;
            CHECK_MSG(b.qs[j] == (lo | (hi << 4)), "byte " + std::to_string(j) + " = " + std::to_string(b.qs[j]));
        }
        std::vector<float> back(32);
        mxfp4::dequantize_row(&b, 32, back.data());
        for (int j = 0; j < 32; ++j) CHECK_MSG(back[j] == x[j], "element " + std::to_string(j));
        // Golden bytes: nothing above may drift silently.
        const uint8_t expected[17] = {0x7f, 0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x07,
                                      0x70, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};
        CHECK(std::memcmp(&b, expected, 17) == 0);
    }

    // ---- E8M0 decoding (2^(e - 128), ggml's bit patterns for the denormal ends) ----
    CHECK_EQ(bits_of(mxfp4::e8m0_to_f32_half(0)), 0x00200000u);
    CHECK_EQ(bits_of(mxfp4::e8m0_to_f32_half(1)), 0x00400000u);
    CHECK_EQ(bits_of(mxfp4::e8m0_to_f32_half(2)), 0x00800000u);
    CHECK(mxfp4::e8m0_to_f32_half(127) == 0.5f);
    CHECK(mxfp4::e8m0_to_f32_half(128) == 1.0f);
    CHECK(mxfp4::e8m0_to_f32_half(254) == std::ldexp(1.0f, 126));

    // ---- Shared exponent: exact floor(log2(amax)) - 2 + 127, clamped to [0, 254] ----
    CHECK_EQ(int{mxfp4::shared_exponent(0.0f)}, 0);
    CHECK_EQ(int{mxfp4::shared_exponent(1.0f)}, 125);
    CHECK_EQ(int{mxfp4::shared_exponent(4.0f)}, 127);
    CHECK_EQ(int{mxfp4::shared_exponent(7.999f)}, 127);
    // Just below a power of two: floor(log2) is k - 1 (log2f rounds this up to exactly 2.0, which is where ggml's
    // bytes differ from ours).
    CHECK_EQ(int{mxfp4::shared_exponent(std::nextafter(4.0f, 0.0f))}, 126);
    CHECK_EQ(int{mxfp4::shared_exponent(std::ldexp(1.0f, -125))}, 0);  // the smallest unclamped exponent
    CHECK_EQ(int{mxfp4::shared_exponent(std::ldexp(1.0f, -124))}, 1);
    CHECK_EQ(int{mxfp4::shared_exponent(std::ldexp(1.0f, -126))}, 0);   // would be -1
    CHECK_EQ(int{mxfp4::shared_exponent(1e-40f)}, 0);                     // denormal
    CHECK_EQ(int{mxfp4::shared_exponent(FLT_MAX)}, 252);

    // ---- Ties go toward zero; just past a tie goes away from zero ----
    {
        // (x, code of x, code just above |x|) at scale 1.
        struct Tie {
            float x;
            int code_at_tie;
            int code_above;
        };
        const Tie ties[] = {{0.25f, 0, 1}, {0.75f, 1, 2}, {1.25f, 2, 3}, {1.75f, 3, 4},
                            {2.5f, 4, 5},  {3.5f, 5, 6},  {5.0f, 6, 7}};
        for (const Tie& t : ties) {
            const std::string what = "tie at " + std::to_string(t.x);
            Block b = quantize(unit_scale_block(t.x));
            CHECK_MSG(code_at(b, 0) == t.code_at_tie, what);
            b = quantize(unit_scale_block(std::nextafter(t.x, 8.0f)));
            CHECK_MSG(code_at(b, 0) == t.code_above, what + " (above)");
            b = quantize(unit_scale_block(-t.x));
            CHECK_MSG(code_at(b, 0) == (t.code_at_tie == 0 ? 0 : (t.code_at_tie | 8)), what + " (negative)");
            b = quantize(unit_scale_block(-std::nextafter(t.x, 8.0f)));
            CHECK_MSG(code_at(b, 0) == (t.code_above | 8), what + " (negative, above)");
        }
        // Anything rounding to zero is +0's code, whatever its sign.
        CHECK_EQ(int{code_at(quantize(unit_scale_block(-0.0f)), 0)}, 0);
        CHECK_EQ(int{code_at(quantize(unit_scale_block(-0.2f)), 0)}, 0);
    }

    // ---- Saturation: the block maximum in (6, 8) * scale clips to 6 * scale ----
    {
        std::vector<float> x(32, 0.0f);
        x[3] = 7.9f;
        x[20] = -7.0f;
        x[21] = 6.5f;
        const Block b = quantize(x);
        CHECK_EQ(int{b.e}, 127);
        CHECK_EQ(int{code_at(b, 3)}, 7);
        CHECK_EQ(int{code_at(b, 20)}, 15);
        CHECK_EQ(int{code_at(b, 21)}, 7);
        x[3] = FLT_MAX;
        const Block big = quantize(x);
        CHECK_EQ(int{big.e}, 252);
        std::vector<float> back(32);
        mxfp4::dequantize_row(&big, 32, back.data());
        CHECK(back[3] == 6.0f * std::ldexp(1.0f, 125) && std::isfinite(back[3]));
    }

    // ---- All-zero, tiny and denormal blocks ----
    {
        const Block z = quantize(std::vector<float>(32, 0.0f));
        CHECK_EQ(int{z.e}, 0);
        bool all_zero = true;
        for (int j = 0; j < 16; ++j) all_zero = all_zero && z.qs[j] == 0;
        CHECK(all_zero);

        std::vector<float> x(32, 0.0f);
        x[0] = std::ldexp(1.0f, -126);  // smallest normal: e would be -1, clamps to 0 (scale 2^-127)
        x[1] = -std::ldexp(1.0f, -127); // a denormal
        const Block t = quantize(x);
        CHECK_EQ(int{t.e}, 0);
        CHECK_EQ(int{code_at(t, 0)}, 4);  // 2^-126 = 2.0 * 2^-127
        CHECK_EQ(int{code_at(t, 1)}, 10); // -1.0 * 2^-127
        std::vector<float> back(32);
        mxfp4::dequantize_row(&t, 32, back.data());
        CHECK(back[0] == x[0] && back[1] == x[1]);

        std::vector<float> d(32, 1e-40f);  // only denormals: e = 0, values below half the smallest step
        const Block db = quantize(d);
        CHECK_EQ(int{db.e}, 0);
        CHECK_EQ(int{code_at(db, 5)}, 0);
    }

    // ---- Non-finite inputs: exponent from the finite elements, Inf saturates, NaN -> 0 ----
    {
        const float inf = std::numeric_limits<float>::infinity();
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::vector<float> x(32, 0.0f);
        x[0] = 1.0f;
        x[1] = inf;
        x[2] = -inf;
        x[3] = nan;
        const Block b = quantize(x);
        CHECK_EQ(int{b.e}, 125);
        CHECK_EQ(int{code_at(b, 0)}, 6);
        CHECK_EQ(int{code_at(b, 1)}, 7);
        CHECK_EQ(int{code_at(b, 2)}, 15);
        CHECK_EQ(int{code_at(b, 3)}, 0);
        const Block all_nan = quantize(std::vector<float>(32, nan));
        CHECK_EQ(int{all_nan.e}, 0);
        CHECK_EQ(int{all_nan.qs[7]}, 0);
    }

    // ---- Against ggml's rule restated, and round trips ----
    {
        std::mt19937 rng(5);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::uniform_int_distribution<int> exponent(-140, 120);
        int mismatches = 0, not_idempotent = 0, not_exact = 0;
        for (int trial = 0; trial < 20000; ++trial) {
            std::vector<float> x(32);
            const int ex = exponent(rng);
            for (float& v : x) v = std::ldexp(normal(rng), trial % 4 == 0 ? ex : 0);
            // Every fourth block also gets exact tie points of its own scale.
            if (trial % 2 == 1) {
                float amax = 0.0f;
                for (float v : x) amax = std::max(amax, std::fabs(v));
                const float scale = std::ldexp(1.0f, static_cast<int>(mxfp4::shared_exponent(amax)) - 127);
                const float tie_points[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
                for (int i = 0; i < 7; ++i) x[i * 3 + 1] = (i % 2 ? -1.0f : 1.0f) * tie_points[i] * scale;
            }
            const Block b = quantize(x);
            for (int j = 0; j < 32; ++j) {
                if (code_at(b, j) != scan_code(x[j], b.e)) ++mismatches;
            }
            std::vector<float> back(32);
            mxfp4::dequantize_row(&b, 32, back.data());
            const Block again = quantize(back);
            if (std::memcmp(&b, &again, 17) != 0) ++not_idempotent;
            std::vector<float> back2(32);
            mxfp4::dequantize_row(&again, 32, back2.data());
            if (std::memcmp(back.data(), back2.data(), 32 * 4) != 0) ++not_exact;
        }
        CHECK_MSG(mismatches == 0, std::to_string(mismatches) + " elements differ from ggml's scan");
        CHECK_MSG(not_idempotent == 0, std::to_string(not_idempotent) + " blocks change when quantized twice");
        CHECK_MSG(not_exact == 0, std::to_string(not_exact) + " round trips are not exact");
    }

    // ---- Rows: block b of a row is quantize_block of floats 32b..32b+31 ----
    {
        std::vector<float> x(96);
        for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i)) * (1.0f + i);
        std::vector<Block> row(3);
        mxfp4::quantize_row(x.data(), 96, row.data());
        for (int b = 0; b < 3; ++b) {
            Block one;
            mxfp4::quantize_block(x.data() + 32 * b, &one);
            CHECK(std::memcmp(&one, &row[b], 17) == 0);
        }
    }

    // ---- The step layout: each step of 4 blocks (the last may have fewer) is its code bytes, then its scales ----
    {
        // 5 blocks: a whole step and a step of one block. Distinct bytes everywhere, so a misplaced one shows.
        std::vector<Block> ggml_row(5);
        for (int b = 0; b < 5; ++b) {
            ggml_row[b].e = static_cast<uint8_t>(100 + b);
            for (int j = 0; j < 16; ++j) ggml_row[b].qs[j] = static_cast<uint8_t>(16 * b + j);
        }
        std::vector<uint8_t> steps(5 * 17, 0xEE);
        mxfp4::to_step_layout(ggml_row.data(), 160, steps.data());
        bool placed = true;
        for (int b = 0; b < 4; ++b) {
            placed = placed && std::memcmp(steps.data() + 16 * b, ggml_row[b].qs, 16) == 0 && steps[64 + b] == 100 + b;
        }
        placed = placed && std::memcmp(steps.data() + 68, ggml_row[4].qs, 16) == 0 && steps[84] == 104;
        CHECK_MSG(placed, "step layout bytes are not where mxfp4.h says");

        // Every row length up to 3 steps and a model-sized one: the same floats as ggml's row; in place, the same
        // bytes as out of place.
        std::mt19937 rng(9);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (int64_t n : {32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 896, 4864}) {
            const int64_t row_bytes = n / 32 * 17;
            std::vector<float> x(static_cast<size_t>(2 * n));
            for (float& v : x) v = normal(rng);
            std::vector<uint8_t> rows(static_cast<size_t>(2 * row_bytes)), out(rows.size());
            for (int r = 0; r < 2; ++r) mxfp4::quantize_row(x.data() + r * n, n, rows.data() + r * row_bytes);
            for (int r = 0; r < 2; ++r) mxfp4::to_step_layout(rows.data() + r * row_bytes, n, out.data() + r * row_bytes);
            std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
            bool same_floats = true;
            for (int r = 0; r < 2; ++r) {
                mxfp4::dequantize_row(rows.data() + r * row_bytes, n, a.data());
                mxfp4::dequantize_row_steps(out.data() + r * row_bytes, n, b.data());
                same_floats = same_floats && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
            }
            CHECK_MSG(same_floats, "row of " + std::to_string(n) + ": step layout decodes to other floats");
            mxfp4::to_step_layout_in_place(rows.data(), 2, n);
            CHECK_MSG(rows == out, "row of " + std::to_string(n) + ": in place differs from out of place");
        }
    }
    return check::summary("test-mxfp4");
}
