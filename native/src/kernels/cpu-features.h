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

// Whether this build has the x86-64 kernel files (*-avx2.cpp, *-avx512.cpp). CMake leaves them out on other
// processors and says so with SPECQD_NO_X86_KERNELS; there only the scalar path exists.
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(SPECQD_NO_X86_KERNELS)
#define SPECQD_X86_KERNELS 1
#else
#define SPECQD_X86_KERNELS 0
#endif

// The x86 instruction-set extensions beyond the x86-64 baseline (SSE2) that the compiler may use in the translation
// unit that expands this macro, as a string literal (" avx avx2 ..."; empty for a portable build). Expanded in
// baseline files (cpu-features.cpp, the addon's binding) it shows whether flags such as -march=native or -mavx2
// reached code that runs before the CPU is checked: see build_info() and scripts/check-portable.mjs.
#if defined(__SSE3__)
#define SPECQD_EXT_SSE3_ " sse3"
#else
#define SPECQD_EXT_SSE3_ ""
#endif
#if defined(__SSSE3__)
#define SPECQD_EXT_SSSE3_ " ssse3"
#else
#define SPECQD_EXT_SSSE3_ ""
#endif
#if defined(__SSE4_1__)
#define SPECQD_EXT_SSE4_1_ " sse4.1"
#else
#define SPECQD_EXT_SSE4_1_ ""
#endif
#if defined(__SSE4_2__)
#define SPECQD_EXT_SSE4_2_ " sse4.2"
#else
#define SPECQD_EXT_SSE4_2_ ""
#endif
#if defined(__POPCNT__)
#define SPECQD_EXT_POPCNT_ " popcnt"
#else
#define SPECQD_EXT_POPCNT_ ""
#endif
#if defined(__AVX__)
#define SPECQD_EXT_AVX_ " avx"
#else
#define SPECQD_EXT_AVX_ ""
#endif
#if defined(__AVX2__)
#define SPECQD_EXT_AVX2_ " avx2"
#else
#define SPECQD_EXT_AVX2_ ""
#endif
#if defined(__FMA__)
#define SPECQD_EXT_FMA_ " fma"
#else
#define SPECQD_EXT_FMA_ ""
#endif
#if defined(__F16C__)
#define SPECQD_EXT_F16C_ " f16c"
#else
#define SPECQD_EXT_F16C_ ""
#endif
#if defined(__BMI__) || defined(__BMI2__)
#define SPECQD_EXT_BMI_ " bmi"
#else
#define SPECQD_EXT_BMI_ ""
#endif
#if defined(__AVX512F__)
#define SPECQD_EXT_AVX512_ " avx512f"
#else
#define SPECQD_EXT_AVX512_ ""
#endif
#define SPECQD_TU_ISA_EXTENSIONS                                                                                \
    SPECQD_EXT_SSE3_ SPECQD_EXT_SSSE3_ SPECQD_EXT_SSE4_1_ SPECQD_EXT_SSE4_2_ SPECQD_EXT_POPCNT_ SPECQD_EXT_AVX_ \
        SPECQD_EXT_AVX2_ SPECQD_EXT_FMA_ SPECQD_EXT_F16C_ SPECQD_EXT_BMI_ SPECQD_EXT_AVX512_

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
    bool avx512_vbmi = false;  // byte permutes across the whole register (vpermb, vpermt2b)
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

// How this library was compiled, for checking that a prebuilt binary is portable (scripts/check-portable.mjs):
//   compiler:          the compiler and its version;
//   baseline_isa:      SPECQD_TU_ISA_EXTENSIONS as seen by cpu-features.cpp, a baseline file (code that runs on
//                      every CPU) — must be empty, or only sse3/ssse3 where the platform guarantees them (macOS);
//   kernel_paths:      the paths compiled in: "scalar avx2 avx512" on x86-64, "scalar" elsewhere.
struct BuildInfo {
    const char* compiler;
    const char* baseline_isa;
    const char* kernel_paths;
};
const BuildInfo& build_info();

}  // namespace specqd
