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

namespace {

// A row kernel that calls the one for the view's layout.
template <const RowKernelsByLayout& kKernels>
void matmul_rows_by_layout(const WeightView& w, const void* x, int64_t x_row_bytes, int64_t n_tokens, float* y,
                           int64_t y_stride, int64_t row_begin, int64_t row_end) {
    const MatmulRowsFn rows = w.layout == WeightLayout::mxfp4_steps ? kKernels.step_layout : kKernels.ggml_layout;
    rows(w, x, x_row_bytes, n_tokens, y, y_stride, row_begin, row_end);
}

}  // namespace

void fill_matmul_kernels(KernelTable& table, IsaLevel level) {
    MatmulKernel k;
    k.rows = matmul_rows_scalar;
#if SPECQD_X86_KERNELS
    if (level != IsaLevel::scalar) {
        // The int8 kernels; the avx512 one needs vpdpbusd and vpermb/vpermt2b, so AVX-512 CPUs without VNNI and
        // VBMI (Skylake-SP, Cooper Lake) run the avx2 one. Both read what avx2::prepare_activations writes.
        const bool avx512 = level == IsaLevel::avx512 && cpu_features().avx512_vnni && cpu_features().avx512_vbmi;
        k.rows = avx512 ? matmul_rows_by_layout<avx512::kRowKernels> : matmul_rows_by_layout<avx2::kRowKernels>;
        k.prepare = avx2::prepare_activations;
        k.prepared_row_bytes = avx2::prepared_row_bytes;
        k.rounding = ActivationRounding::int8;
        // The avx512 kernel reads the step layout without gathering (mxfp4.h); the avx2 one reads ggml's faster
        // (bench-forward, 0.5B shape, 1 thread, Zen 4: decode 47.0-47.9 tokens/s in ggml's layout, 45.1-45.6 in
        // the step layout; verifying 4 tokens 36.9-37.9 ms, 41.7-43.1).
        k.layout = avx512 ? WeightLayout::mxfp4_steps : WeightLayout::file;
    }
#else
    (void)level;  // no x86 kernels in this build: only the scalar path exists
#endif
    table.matmul[static_cast<int>(WeightSlot::mxfp4)] = k;
}

}  // namespace specqd::mxfp4
