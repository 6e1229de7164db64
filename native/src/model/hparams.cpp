#include "model/hparams.h"

namespace specqd {

bool is_supported_architecture(const std::string& arch) { return arch == "llama" || arch == "qwen2"; }

Status load_hparams(const GgufFile& file, ModelHparams* out) {
    ModelHparams hp;
    SPECQD_TRY(file.get_string("general.architecture", &hp.architecture));
    if (!is_supported_architecture(hp.architecture)) {
        return Status::error("unsupported architecture '" + hp.architecture + "' (supported: llama, qwen2)");
    }
    if (const GgufValue* v = file.find("general.name"); v && v->as_string()) hp.name = *v->as_string();
    const std::string a = hp.architecture + ".";
    SPECQD_TRY(file.get_u32(a + "context_length", &hp.n_ctx_train));
    SPECQD_TRY(file.get_u32(a + "embedding_length", &hp.n_embd));
    SPECQD_TRY(file.get_u32(a + "block_count", &hp.n_layer));
    SPECQD_TRY(file.get_u32(a + "feed_forward_length", &hp.n_ff));
    SPECQD_TRY(file.get_u32(a + "attention.head_count", &hp.n_head));
    SPECQD_TRY(file.get_u32_or(a + "attention.head_count_kv", hp.n_head, &hp.n_head_kv));
    SPECQD_TRY(file.get_f32_or(a + "attention.layer_norm_rms_epsilon", 1e-5f, &hp.rms_eps));
    SPECQD_TRY(file.get_f32_or(a + "rope.freq_base", 10000.0f, &hp.rope_freq_base));
    if (hp.n_embd == 0 || hp.n_layer == 0 || hp.n_ff == 0 || hp.n_head == 0 || hp.n_head_kv == 0) {
        return Status::error("model dimensions must be non-zero (embedding, blocks, feed-forward, heads)");
    }
    if (hp.n_layer > 4096 || hp.n_head > 4096 || hp.n_embd > (1u << 20) || hp.n_ff > (1u << 22)) {
        return Status::error("model dimensions are implausibly large");
    }
    if (hp.n_head % hp.n_head_kv != 0) {
        return Status::error("head_count " + std::to_string(hp.n_head) + " is not a multiple of head_count_kv " +
                             std::to_string(hp.n_head_kv));
    }
    if (hp.n_embd % hp.n_head != 0) return Status::error("embedding length is not a multiple of the head count");
    SPECQD_TRY(file.get_u32_or(a + "attention.key_length", hp.n_embd / hp.n_head, &hp.head_dim));
    uint32_t value_length = 0;
    SPECQD_TRY(file.get_u32_or(a + "attention.value_length", hp.head_dim, &value_length));
    if (hp.head_dim == 0 || value_length != hp.head_dim || hp.head_dim % 2 != 0) {
        return Status::error("unsupported head dimensions (key " + std::to_string(hp.head_dim) + ", value " +
                             std::to_string(value_length) + ")");
    }
    SPECQD_TRY(file.get_u32_or(a + "rope.dimension_count", hp.head_dim, &hp.n_rot));
    if (hp.n_rot == 0 || hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0) {
        return Status::error("rope.dimension_count " + std::to_string(hp.n_rot) + " does not fit head dimension " +
                             std::to_string(hp.head_dim));
    }
    if (const GgufValue* scaling = file.find(a + "rope.scaling.type"); scaling && scaling->as_string() &&
                                                                      *scaling->as_string() != "none") {
        return Status::error("rope scaling '" + *scaling->as_string() + "' is not supported yet");
    }
    hp.rope_style = hp.architecture == "qwen2" ? RopeStyle::HalfSplit : RopeStyle::AdjacentPairs;
    hp.has_qkv_bias = hp.architecture == "qwen2";

    const TensorInfo* embd = file.find_tensor("token_embd.weight");
    if (!embd) return Status::error("missing tensor 'token_embd.weight'");
    if (embd->n_dims != 2 || embd->ne[0] != hp.n_embd) {
        return Status::error("tensor 'token_embd.weight' has shape [" + std::to_string(embd->ne[0]) + ", " +
                             std::to_string(embd->ne[1]) + "], expected [" + std::to_string(hp.n_embd) + ", n_vocab]");
    }
    if (embd->ne[1] > (1u << 24)) return Status::error("vocabulary of " + std::to_string(embd->ne[1]) + " is too large");
    hp.n_vocab = static_cast<uint32_t>(embd->ne[1]);
    hp.tied_output = file.find_tensor("output.weight") == nullptr;
    *out = hp;
    return Status::ok();
}

}  // namespace specqd
