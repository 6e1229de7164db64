// ModelHparams: the shape of a llama / qwen2 decoder as read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "gguf/gguf-reader.h"

namespace specqd {

enum class RopeStyle {
    AdjacentPairs,  // llama: rotates (2i, 2i+1); llama GGUFs store Q/K permuted for this layout
    HalfSplit,      // qwen2 (NeoX): rotates (i, i + n_rot/2)
};

struct ModelHparams {
    std::string architecture;  // "llama" or "qwen2"
    std::string name;          // general.name, may be empty
    uint32_t n_ctx_train = 0;  // context length the model was trained for
    uint32_t n_embd = 0;       // hidden size
    uint32_t n_layer = 0;
    uint32_t n_ff = 0;         // feed-forward (SwiGLU) width
    uint32_t n_head = 0;
    uint32_t n_head_kv = 0;
    uint32_t head_dim = 0;     // n_embd / n_head unless the file says otherwise
    uint32_t n_rot = 0;        // rotated dimensions per head
    uint32_t n_vocab = 0;      // rows of the token embedding
    float rms_eps = 1e-5f;
    float rope_freq_base = 10000.0f;
    RopeStyle rope_style = RopeStyle::AdjacentPairs;
    bool has_qkv_bias = false;   // qwen2
    bool tied_output = false;    // no output.weight: the head reuses token_embd

    uint32_t n_embd_kv() const { return n_head_kv * head_dim; }
};

// Reads and validates the hyperparameters (known architecture, consistent head counts, tensor shapes present).
Status load_hparams(const GgufFile& file, ModelHparams* out);

// True for the architectures this engine runs.
bool is_supported_architecture(const std::string& arch);

}  // namespace specqd
