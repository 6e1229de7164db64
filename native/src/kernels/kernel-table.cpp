#include "kernels/kernel-table.h"

#include "kernels/ops.h"

namespace specqd {
namespace {

// Built once per path, on first use. The avx2 / avx512 fill functions are only called when the CPU supports the
// path: their files are compiled with those instruction sets, and even filling a struct may use them.
struct Tables {
    KernelTable scalar;
    KernelTable avx2;
    KernelTable avx512;
    KernelTable avx512_bf16dot;

    Tables() {
        scalar::fill_kernel_table(scalar);
        scalar.name = "scalar";
        const IsaLevel best = isa_level_supported();
        avx2 = scalar;
        avx512 = scalar;
        avx512_bf16dot = scalar;
#if SPECQD_X86_KERNELS
        if (best >= IsaLevel::avx2) {
            avx2::fill_matmul_kernels(avx2);
            avx2::fill_op_kernels(avx2);
            mxfp4::fill_matmul_kernels(avx2, IsaLevel::avx2);
            avx2.name = "avx2";
            avx512 = avx2;
            avx512_bf16dot = avx2;
        }
        if (best >= IsaLevel::avx512) {
            avx512::fill_matmul_kernels(avx512, false);
            avx512::fill_op_kernels(avx512);
            mxfp4::fill_matmul_kernels(avx512, IsaLevel::avx512);
            avx512.name = "avx512";
            avx512_bf16dot = avx512;
            if (cpu_features().avx512_bf16) {
                avx512::fill_matmul_kernels(avx512_bf16dot, true);
                avx512_bf16dot.name = "avx512+bf16dot";
            }
        }
#else
        (void)best;  // no x86 kernels in this build: isa_level_supported() is always scalar
#endif
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

void scalar::fill_kernel_table(KernelTable& table) {
    for (int slot : {weight_slot(GgmlType::F32), weight_slot(GgmlType::F16), weight_slot(GgmlType::BF16),
                     weight_slot(GgmlType::Q8_0)}) {
        table.matmul[slot].rows = scalar::matmul_rows;
    }
    mxfp4::fill_matmul_kernels(table, IsaLevel::scalar);
    table.rms_norm = ref::rms_norm;
    table.add_bias = ref::add_bias;
    table.silu_mul = ref::silu_mul;
    table.softmax = ref::softmax;
    table.argmax = ref::argmax;
    table.dot = ref::dot;
    table.axpy = ref::axpy;
    table.dot_rows = ref::dot_rows;
    table.axpy_rows = ref::axpy_rows;
}

int weight_slot(GgmlType type) {
    switch (type) {
        case GgmlType::F32: return static_cast<int>(WeightSlot::f32);
        case GgmlType::F16: return static_cast<int>(WeightSlot::f16);
        case GgmlType::BF16: return static_cast<int>(WeightSlot::bf16);
        case GgmlType::Q8_0: return static_cast<int>(WeightSlot::q8_0);
        case GgmlType::MXFP4: return static_cast<int>(WeightSlot::mxfp4);
        default: return -1;
    }
}

const KernelTable& active_kernel_table() {
    const Tables& t = tables();
    switch (isa_level_active()) {
        case IsaLevel::scalar: return t.scalar;
        case IsaLevel::avx2: return t.avx2;
        case IsaLevel::avx512: return bf16_dot_enabled() ? t.avx512_bf16dot : t.avx512;
    }
    return t.scalar;
}

}  // namespace specqd
