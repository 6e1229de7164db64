// Registers the MXFP4 row kernels into the kernel table (the hook kernels/kernel-table.cpp calls for each path).
#include "mxfp4/mxfp4-kernels.h"

#include "kernels/cpu-features.h"

namespace specqd::mxfp4 {

void matmul_rows_scalar(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y,
                        int64_t y_stride, int64_t row_begin, int64_t row_end) {
    // ref::dequantize_row decodes MXFP4 with mxfp4::dequantize_row; the scalar row kernel is shared with the other
    // types so that the scalar path stays bit-identical to ref::matmul.
    scalar::matmul_rows(w, x, x_row_bytes, n_tokens, y, y_stride, row_begin, row_end);
}

void fill_matmul_kernels(KernelTable& table, IsaLevel level) {
    MatmulKernel k;
    switch (level) {
        case IsaLevel::scalar: k.rows = matmul_rows_scalar; break;
#if SPECQD_X86_KERNELS
        case IsaLevel::avx2: k.rows = avx2::matmul_rows; break;
        case IsaLevel::avx512:
            // The int8 kernel needs vpdpbusd and vpermb/vpermt2b; AVX-512 CPUs without them (Skylake-SP, Cooper
            // Lake) keep the avx2 kernel.
            if (cpu_features().avx512_vnni && cpu_features().avx512_vbmi) {
                k.rows = avx512::matmul_rows;
                k.prepare = avx512::prepare_activations;
                k.prepared_row_bytes = avx512::prepared_row_bytes;
                k.rounding = ActivationRounding::int8;
            } else {
                k.rows = avx2::matmul_rows;
            }
            break;
#else
        case IsaLevel::avx2:
        case IsaLevel::avx512: k.rows = matmul_rows_scalar; break;  // not reached: no x86 kernels in this build
#endif
    }
    table.matmul[static_cast<int>(WeightSlot::mxfp4)] = k;
}

}  // namespace specqd::mxfp4
