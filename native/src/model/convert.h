// convert_model(): writes a copy of a GGUF model with its weight matrices cast to another type — F32, F16, BF16,
// Q8_0 or MXFP4 (mxfp4/mxfp4.h: the direct cast, byte-identical to llama.cpp's quantizer). The basis of
// `specqd convert` and `specqd quantize`. For MXFP4, general.file_type is 38 (llama.cpp's MOSTLY_MXFP4_MOE, its
// only MXFP4 file type) and the source file name is recorded as specqd.converted_from.
//
// Streaming: one tensor is converted at a time, so memory is bounded by the largest tensor, not the model.
// Atomic: the output is written to a temporary file beside `dst`, fsynced and renamed; a failed or cancelled run
// leaves no partial `dst` (an existing `dst` is kept) and never modifies `src`. A killed run leaves its temporary
// file `dst.tmp-XXXXXXXX`; the next run writing `dst` removes it (see gguf/gguf-writer.h). Cancellation is checked
// between tensors and every 1024 rows.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "gguf/ggml-type.h"

namespace specqd {

struct ConvertOptions {
    GgmlType type = GgmlType::BF16;
    // Which matrices: the seven projections of every layer always; the output head unless keep_head; the token
    // embedding only when convert_embedding (MXFP4 keeps it: it is read one row per token).
    bool keep_head = false;
    bool convert_embedding = true;
    // Called after each tensor with the fraction of input bytes done (0..1) and the tensor's name.
    std::function<void(double fraction, const std::string& tensor)> on_progress;
    const std::atomic<bool>* cancel = nullptr;
};

struct ConvertReport {
    int32_t n_converted = 0;
    std::vector<std::string> kept;  // "name: reason" for matrices left in their type
    uint64_t bytes_in = 0;          // tensor data
    uint64_t bytes_out = 0;
};

// Quantizes one row of n floats into `type` (n a multiple of the type's block size). Returns false for a type
// without a quantizer. Matches ggml's reference quantizers bit for bit.
bool quantize_row(GgmlType type, const float* x, int64_t n, void* out);

Status convert_model(const std::string& src, const std::string& dst, const ConvertOptions& options,
                     ConvertReport* report);

// In memory: a copy of `src` with the seven projections of every layer (and the output head unless keep_head) cast
// to `type` — what `Engine.load({ mxfp4: 'auto' })` uses instead of a file. Same choice of matrices as
// convert_model() (a matrix whose row length is not whole blocks keeps its type and is listed in report->kept).
// The cast matrices live in out->owned_bytes; everything else (embedding, norms, biases, kept matrices) points at
// src's storage, so `src` (and the file it maps) must outlive `out`. Rows are spread over `pool` (null: this
// thread); the bytes are the same whatever the thread count.
struct ModelWeights;
class ThreadPool;
Status cast_model_weights(const ModelWeights& src, GgmlType type, bool keep_head, ThreadPool* pool, ModelWeights* out,
                          ConvertReport* report);

// "f32" | "f16" | "bf16" | "q8_0" | "mxfp4" -> type; false for anything else.
bool parse_weight_type(const std::string& name, GgmlType* out);

}  // namespace specqd
