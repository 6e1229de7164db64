// inspect_model(): what a GGUF file is, without loading its weights. Used by `specqd inspect`, the extension's model
// picker and error messages. Works on any valid GGUF, also of architectures the engine cannot run (it says so).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/hparams.h"

namespace specqd {

struct TensorTypeSummary {
    std::string type;  // "BF16", "MXFP4", ...
    uint64_t count = 0;
    uint64_t bytes = 0;
};

struct ModelInspection {
    std::string path;
    uint64_t file_size = 0;
    uint32_t gguf_version = 0;
    uint64_t n_metadata = 0;
    uint64_t n_tensors = 0;
    std::string architecture;
    bool supported = false;          // can this engine run it?
    std::string unsupported_reason;  // why not, when !supported
    ModelHparams hparams;            // valid when supported
    std::vector<TensorTypeSummary> tensor_types;
    uint64_t tensor_bytes = 0;       // all tensor data
    uint64_t parameters = 0;         // element count of all tensors
    // Tokenizer.
    std::string tokenizer_model;     // "gpt2", "llama", ...
    std::string tokenizer_pre;
    uint32_t vocab_size = 0;
    bool tokenizer_ok = false;
    std::string tokenizer_error;
    bool fim = false;
    int32_t fim_prefix = -1, fim_suffix = -1, fim_middle = -1;
    int32_t bos = -1, eos = -1;
    // Memory estimate for running it at `context_length` tokens: mapped weights + F32 KV cache + scratch.
    uint32_t context_length = 0;
    uint64_t kv_bytes_per_token = 0;
    uint64_t estimated_memory = 0;
};

// Fails only when the file is not a readable GGUF; model-level problems land in `supported`/`unsupported_reason`.
Status inspect_model(const std::string& path, ModelInspection* out);

}  // namespace specqd
