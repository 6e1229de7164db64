// What the CPU can do, and which kernel path the engine uses.
//
// The prebuilt binary must run on any x86-64 machine, so fast kernels are compiled for specific instruction sets
// (files named *-avx2.cpp / *-avx512.cpp) and chosen here at run time from CPUID and XGETBV. A path is only used
// when both the CPU and the operating system support it (the OS must save the YMM / ZMM register state).
//
// Choosing the path:
//   - by default, the best level the machine supports;
//   - the environment variable SPECQD_ISA=scalar|avx2|avx512 asks for a lower level (read once, at the first
//     call into this file; a level above what the machine supports is clamped down; unknown values are ignored);
//   - SPECQD_BF16_DOT=0 turns off the AVX-512 BF16 dot-product instructions (see set_bf16_dot_enabled());
//   - tests (and benchmarks) switch paths with set_isa_level() / set_bf16_dot_enabled().
//
// Thread rules: detection is thread-safe. Switching the path while another thread is inside a kernel is allowed
// (each kernel call reads the choice once) but makes results depend on timing; switch only between forward passes,
// and never mix paths within one decoding session: the paths differ in rounding, and batch invariance holds within
// one path only.
#pragma once

#include <string>

namespace specqd {

struct CpuFeatures {
    bool avx = false;
    bool avx2 = false;
    bool fma = false;
    bool f16c = false;
    bool avx512f = false;
    bool avx512bw = false;
    bool avx512vl = false;
    bool avx512dq = false;
    bool avx512_bf16 = false;
    bool avx512_vnni = false;
    bool os_ymm = false;  // XCR0 says the OS saves the SSE and AVX (YMM) state
    bool os_zmm = false;  // XCR0 says the OS also saves the opmask and ZMM state
};

// The features of this machine, detected once (thread-safe).
const CpuFeatures& cpu_features();

// "avx2 fma f16c avx512f ..." — the detected features, for logs and `specqd inspect`.
std::string cpu_features_string();

// Kernel paths, ordered: a higher level needs everything a lower one needs.
//   scalar: the reference kernels, portable C++ (x86-64 baseline only).
//   avx2:   AVX2 + FMA + F16C, OS YMM state.
//   avx512: avx2 plus AVX-512 F/BW/VL/DQ, OS ZMM state. BF16 weights use vdpbf16ps when the CPU has AVX512_BF16
//           and it is enabled (see set_bf16_dot_enabled()).
enum class IsaLevel : int { scalar = 0, avx2 = 1, avx512 = 2 };

// "scalar", "avx2" or "avx512".
const char* isa_level_name(IsaLevel level);

// The highest level this CPU and OS support.
IsaLevel isa_level_supported();

// The level the kernels use now.
IsaLevel isa_level_active();

// Chooses the level (clamped to isa_level_supported()); returns the level actually in effect.
IsaLevel set_isa_level(IsaLevel level);

// Whether the avx512 path computes BF16-weight matmuls with vdpbf16ps. Faster for batches (32 multiply-adds per
// instruction instead of 16) but it rounds the activations to bf16 first, as llama.cpp does for BF16 weights; with
// it off, BF16 weights are widened to f32 and multiplied with the f32 activations. Only matters on CPUs with
// AVX512_BF16. Default on; SPECQD_BF16_DOT=0 turns it off.
bool bf16_dot_enabled();
void set_bf16_dot_enabled(bool enabled);

// Names the path in effect, e.g. "avx512+bf16dot", "avx512", "avx2", "scalar".
const char* kernel_path_name();

}  // namespace specqd
