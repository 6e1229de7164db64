#include "kernels/cpu-features.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

// CPUID is only read where the x86 kernels exist; elsewhere every feature reads false and the path is scalar.
#if SPECQD_X86_KERNELS && defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define SPECQD_X86 1
#define SPECQD_X86_MSVC 1
#elif SPECQD_X86_KERNELS
#include <cpuid.h>
#define SPECQD_X86 1
#endif

namespace specqd {
namespace {

#ifdef SPECQD_X86
struct CpuidRegs {
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

#ifdef SPECQD_X86_MSVC
// MSVC (untested here): its intrinsics need no ISA flags.
CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) {
    int regs[4];
    __cpuidex(regs, static_cast<int>(leaf), static_cast<int>(subleaf));
    CpuidRegs r;
    r.eax = static_cast<uint32_t>(regs[0]);
    r.ebx = static_cast<uint32_t>(regs[1]);
    r.ecx = static_cast<uint32_t>(regs[2]);
    r.edx = static_cast<uint32_t>(regs[3]);
    return r;
}

uint64_t xgetbv0() { return _xgetbv(0); }
#else
CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) {
    CpuidRegs r;
    __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
    return r;
}

// XGETBV through inline assembly: the _xgetbv intrinsic needs -mxsave, and this file is compiled for baseline x86-64.
uint64_t xgetbv0() {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

bool bit(uint32_t reg, int n) { return (reg >> n) & 1u; }
#endif

CpuFeatures detect() {
    CpuFeatures f;
#ifdef SPECQD_X86
    const uint32_t max_leaf = cpuid(0, 0).eax;
    if (max_leaf < 1) return f;
    const CpuidRegs l1 = cpuid(1, 0);
    f.fma = bit(l1.ecx, 12);
    const bool osxsave = bit(l1.ecx, 27);
    f.avx = bit(l1.ecx, 28);
    f.f16c = bit(l1.ecx, 29);
    if (osxsave) {
        const uint64_t xcr0 = xgetbv0();
        f.os_ymm = (xcr0 & 0x6) == 0x6;     // SSE (bit 1) and AVX (bit 2) state
        f.os_zmm = (xcr0 & 0xe6) == 0xe6;  // plus opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7)
    }
    if (max_leaf >= 7) {
        const CpuidRegs l7 = cpuid(7, 0);
        f.avx2 = bit(l7.ebx, 5);
        f.avx512f = bit(l7.ebx, 16);
        f.avx512dq = bit(l7.ebx, 17);
        f.avx512bw = bit(l7.ebx, 30);
        f.avx512vl = bit(l7.ebx, 31);
        f.avx512_vnni = bit(l7.ecx, 11);
        f.avx512_vbmi = bit(l7.ecx, 1);
        if (l7.eax >= 1) f.avx512_bf16 = bit(cpuid(7, 1).eax, 5);
    }
#endif
    return f;
}

IsaLevel supported_level(const CpuFeatures& f) {
    const bool avx2 = f.avx && f.avx2 && f.fma && f.f16c && f.os_ymm;
    if (!avx2) return IsaLevel::scalar;
    const bool avx512 = f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.os_zmm;
    return avx512 ? IsaLevel::avx512 : IsaLevel::avx2;
}

IsaLevel clamp_level(IsaLevel wanted) {
    const IsaLevel best = isa_level_supported();
    return static_cast<int>(wanted) < static_cast<int>(best) ? wanted : best;
}

// The choice lives in atomics so a test thread may switch it while worker threads read it (see the header).
struct KernelChoice {
    std::atomic<int> level;
    std::atomic<bool> bf16_dot;
};

IsaLevel initial_level() {
    IsaLevel level = isa_level_supported();
    if (const char* env = std::getenv("SPECQD_ISA")) {
        if (std::strcmp(env, "scalar") == 0) level = clamp_level(IsaLevel::scalar);
        else if (std::strcmp(env, "avx2") == 0) level = clamp_level(IsaLevel::avx2);
        else if (std::strcmp(env, "avx512") == 0) level = clamp_level(IsaLevel::avx512);
    }
    return level;
}

bool initial_bf16_dot() {
    const char* env = std::getenv("SPECQD_BF16_DOT");
    return env == nullptr || std::strcmp(env, "0") != 0;
}

KernelChoice& choice() {
    static KernelChoice c{static_cast<int>(initial_level()), initial_bf16_dot()};
    return c;
}

}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures features = detect();
    return features;
}

std::string cpu_features_string() {
    const CpuFeatures& f = cpu_features();
    std::string s;
    auto add = [&s](bool present, const char* name) {
        if (!present) return;
        if (!s.empty()) s += ' ';
        s += name;
    };
    add(f.avx, "avx");
    add(f.avx2, "avx2");
    add(f.fma, "fma");
    add(f.f16c, "f16c");
    add(f.avx512f, "avx512f");
    add(f.avx512bw, "avx512bw");
    add(f.avx512vl, "avx512vl");
    add(f.avx512dq, "avx512dq");
    add(f.avx512_bf16, "avx512_bf16");
    add(f.avx512_vnni, "avx512_vnni");
    add(f.avx512_vbmi, "avx512_vbmi");
    add(f.os_ymm, "os_ymm");
    add(f.os_zmm, "os_zmm");
    return s.empty() ? std::string("baseline") : s;
}

const char* isa_level_name(IsaLevel level) {
    switch (level) {
        case IsaLevel::scalar: return "scalar";
        case IsaLevel::avx2: return "avx2";
        case IsaLevel::avx512: return "avx512";
    }
    return "unknown";
}

IsaLevel isa_level_supported() {
    static const IsaLevel level = supported_level(cpu_features());
    return level;
}

IsaLevel isa_level_active() { return static_cast<IsaLevel>(choice().level.load(std::memory_order_relaxed)); }

IsaLevel set_isa_level(IsaLevel level) {
    const IsaLevel applied = clamp_level(level);
    choice().level.store(static_cast<int>(applied), std::memory_order_relaxed);
    return applied;
}

bool bf16_dot_enabled() { return choice().bf16_dot.load(std::memory_order_relaxed); }

void set_bf16_dot_enabled(bool enabled) { choice().bf16_dot.store(enabled, std::memory_order_relaxed); }

const BuildInfo& build_info() {
#if defined(__clang__)
    static constexpr const char* kCompiler = "clang " __clang_version__;
#elif defined(__GNUC__)
    static constexpr const char* kCompiler = "gcc " __VERSION__;
#elif defined(_MSC_VER)
#define SPECQD_STR2_(x) #x
#define SPECQD_STR_(x) SPECQD_STR2_(x)
    static constexpr const char* kCompiler = "msvc " SPECQD_STR_(_MSC_FULL_VER);
#else
    static constexpr const char* kCompiler = "unknown";
#endif
    // Skip the leading space of the macro's list.
    static constexpr const char kBaseline[] = SPECQD_TU_ISA_EXTENSIONS;
    static const BuildInfo info{kCompiler, kBaseline[0] == ' ' ? kBaseline + 1 : kBaseline,
                                SPECQD_X86_KERNELS ? "scalar avx2 avx512" : "scalar"};
    return info;
}

const char* kernel_path_name() {
    switch (isa_level_active()) {
        case IsaLevel::scalar: return "scalar";
        case IsaLevel::avx2: return "avx2";
        case IsaLevel::avx512:
            return bf16_dot_enabled() && cpu_features().avx512_bf16 ? "avx512+bf16dot" : "avx512";
    }
    return "unknown";
}

}  // namespace specqd
