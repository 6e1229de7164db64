// MXFP4 (OCP Microscaling FP4) exactly as ggml stores GGML type 39, so the files we write load in llama.cpp and
// llama.cpp's files load here.
//
// Layout: a row of weights is cut into blocks of 32 consecutive weights along the input dimension. A block is 17
// bytes: one E8M0 scale byte `e`, then 16 bytes `qs` of 4-bit E2M1 codes, element j (0..15) in the low nibble of
// qs[j] and element j + 16 in the high nibble of qs[j].
//
// Values: weight = E2M1(code) * 2^(e - 127). E2M1 magnitudes are {0, 0.5, 1, 1.5, 2, 3, 4, 6} for codes 0..7; codes
// 8..15 are the same with a minus sign (code 8 is -0, which decodes to +0 as in ggml). Like ggml we keep the E2M1
// values doubled as small integers (kE2M1Doubled, ggml's kvalues_fp4) and use the scale 2^(e - 128): the products
// are exact in f32, and the integers go straight into integer dot products. E8M0 0xFF means NaN in the OCP spec;
// nothing here writes it, and decoding follows ggml (2^127), which rejects such rows when it validates a file.
//
// Quantizing (the direct cast of issue 5, matching ggml's quantize_row_mxfp4_ref byte for byte except where noted):
//   - shared exponent: e = floor(log2(amax)) - 2 + 127, where amax = max |x| over the block, with floor(log2) taken
//     exactly from the float's exponent bits (ggml uses floorf(log2f(amax)), which for amax within ~1e-7 relative
//     below a power of two rounds up and picks e one higher: the only place our bytes can differ from ggml's);
//     clamped to [0, 254] (ggml lets tiny blocks wrap around); e = 0 for an all-zero block;
//   - each element: the nearest E2M1 magnitude of x / 2^(e - 127), ties toward zero (ggml scans the 16 codes with a
//     strict "<", so the lower code, the smaller magnitude, wins a tie: 0.25 -> 0, 0.75 -> 0.5, 1.25 -> 1, 1.75 ->
//     1.5, 2.5 -> 2, 3.5 -> 3, 5 -> 4), saturating at 6 (|x| / scale is in [4, 8), so values in (7, 8) * scale clip);
//     a value that rounds to magnitude 0 gets code 0 (+0) whatever its sign;
//   - denormal inputs are ordinary small values (the clamp at e = 0 keeps the scale representable);
//   - non-finite inputs, for which ggml has no defined result: the shared exponent comes from the finite elements
//     only, +-Inf saturates to +-6 * scale, NaN becomes code 0. A block of nothing but NaN is all-zero.
//
// Thread rules: everything here is a pure function of its arguments.
#pragma once

#include <cstdint>

namespace specqd::mxfp4 {

inline constexpr int64_t kBlockSize = 32;  // weights per block

struct Block {
    uint8_t e;       // E8M0 shared exponent: scale 2^(e - 127)
    uint8_t qs[16];  // E2M1 codes: element j low nibble of qs[j], element j + 16 high nibble
};
static_assert(sizeof(Block) == 17, "an MXFP4 block must match ggml's 17 bytes (block_mxfp4)");

// Twice the E2M1 value of each 4-bit code (ggml's kvalues_fp4).
inline constexpr int8_t kE2M1Doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// 2^(e - 128) as f32 (exact; a denormal for e < 2): the factor that turns kE2M1Doubled into weights.
float e8m0_to_f32_half(uint8_t e);

// The E8M0 exponent the direct cast gives a block whose largest magnitude is amax (finite, >= 0).
uint8_t shared_exponent(float amax);

// The E2M1 code of x / 2^(e - 127) (see the rules above).
uint8_t e2m1_code(float x, uint8_t e);

// One block of 32 floats.
void quantize_block(const float* x, Block* out);

// A row of n floats (n a multiple of 32) into n / 32 blocks at out.
void quantize_row(const float* x, int64_t n, void* out);

// n / 32 blocks at in into n floats.
void dequantize_row(const void* in, int64_t n, float* out);

// ---- The step layout (in memory only; files always hold ggml's) ----
//
// The fast kernels take a row in steps of 4 blocks (128 weights, 68 bytes). In ggml's layout a step's 64 code bytes
// are split by its 4 scale bytes, so every step first gathers them with a two-source byte permute. The step layout
// keeps each step in its own 68 bytes but puts the codes first: the 16 code bytes of each block of the step in order,
// then the step's scale bytes. A row's last step may hold fewer than 4 blocks (nb): 16 x nb code bytes, then nb
// scale bytes. Same size as ggml's row, and row-local, so any set of rows (a limited output head) is still a matrix.
// Weights read into memory are rearranged at load when the active kernel prefers it (matmul_preferred_layout: the
// avx512 one; the avx2 one reads ggml's faster); a memory-mapped file keeps ggml's. Measured on a Zen 4 VM, one
// thread pinned, AVX-512 kernel, ggml's -> step layout: cycles per 128-column row step with the weights in L2 10.1
// -> 8.7 (1 token), 13.9 -> 11.9 (2), 22.6 -> 22.2 (4); streamed from DRAM 19.1-19.8 -> 21.3-21.7 GB/s; bench-forward
// on the 0.5B shape: decode 73.6-74.4 -> 80.7-81.9 tokens/s, verifying 2 tokens 17.1-17.2 -> 15.2-15.4 ms (on 2
// threads decode stayed at 119-124 either way). Rearranging the 0.5B model's 262 MB adds no measurable load time
// (`/usr/bin/time bench-forward FILE --decode 1 --prefill 1 --verify 1 --depth 1 --reps 1`: 0.33-0.35 s either way).
inline constexpr int64_t kStepBlocks = 4;

// A ggml row of n weights (n a multiple of 32) rearranged into the step layout at out (no overlap with in).
void to_step_layout(const void* in, int64_t n, void* out);

// The same for n_rows consecutive rows of n weights each, in place.
void to_step_layout_in_place(void* rows, int64_t n_rows, int64_t n);

// n weights in the step layout at in into n floats: the same floats dequantize_row gives for the ggml row.
void dequantize_row_steps(const void* in, int64_t n, float* out);

}  // namespace specqd::mxfp4
