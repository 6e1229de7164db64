#include "engine/inspect.h"

#include <algorithm>
#include <map>

#include "gguf/gguf-reader.h"
#include "tokenizer/vocab.h"

namespace specqd {
namespace {

Status inspect_unguarded(const std::string& path, ModelInspection* out) {
    GgufFile file;
    SPECQD_TRY(file.open(path));
    ModelInspection r;
    r.path = path;
    r.file_size = file.file_size();
    r.gguf_version = file.version();
    r.n_metadata = file.metadata().size();
    r.n_tensors = file.tensors().size();
    if (const GgufValue* v = file.find("general.architecture"); v && v->as_string()) r.architecture = *v->as_string();

    std::map<std::string, TensorTypeSummary> by_type;
    for (const TensorInfo& t : file.tensors()) {
        TensorTypeSummary& s = by_type[ggml_type_name(static_cast<uint32_t>(t.type))];
        s.type = ggml_type_name(static_cast<uint32_t>(t.type));
        s.count += 1;
        s.bytes += t.n_bytes;
        r.tensor_bytes += t.n_bytes;
        r.parameters += t.n_elements;
    }
    for (auto& [name, s] : by_type) r.tensor_types.push_back(s);
    std::sort(r.tensor_types.begin(), r.tensor_types.end(),
              [](const TensorTypeSummary& a, const TensorTypeSummary& b) { return a.bytes > b.bytes; });

    const Status hp = load_hparams(file, &r.hparams);
    r.supported = hp.is_ok();
    r.unsupported_reason = hp.message();

    if (const GgufValue* v = file.find("tokenizer.ggml.model"); v && v->as_string()) r.tokenizer_model = *v->as_string();
    if (const GgufValue* v = file.find("tokenizer.ggml.pre"); v && v->as_string()) r.tokenizer_pre = *v->as_string();
    Vocab vocab;
    const Status vs = Vocab::load(file, &vocab);
    r.tokenizer_ok = vs.is_ok();
    r.tokenizer_error = vs.message();
    if (vs) {
        r.vocab_size = static_cast<uint32_t>(vocab.n_tokens());
        r.fim = vocab.fim_supported();
        r.fim_prefix = vocab.fim_pre_id();
        r.fim_suffix = vocab.fim_suf_id();
        r.fim_middle = vocab.fim_mid_id();
        r.bos = vocab.bos_id();
        r.eos = vocab.eos_id();
        if (r.supported && r.vocab_size > r.hparams.n_vocab) {
            r.supported = false;
            r.unsupported_reason = "the tokenizer has more tokens than the embedding has rows";
        }
    } else if (r.supported) {
        r.supported = false;
        r.unsupported_reason = "tokenizer: " + vs.message();
    }

    if (r.supported) {
        r.context_length = std::min<uint32_t>(r.hparams.n_ctx_train, 4096);
        // K and V in F32 for every layer.
        r.kv_bytes_per_token = uint64_t{2} * r.hparams.n_layer * r.hparams.n_embd_kv() * sizeof(float);
        // Scratch: activations for a prefill batch and the logits row; small next to weights and KV.
        const uint64_t scratch = uint64_t{512} * (r.hparams.n_embd * 4ull + r.hparams.n_ff * 2ull) * sizeof(float) +
                                 uint64_t{r.hparams.n_vocab} * sizeof(float) * 2;
        r.estimated_memory = r.tensor_bytes + r.kv_bytes_per_token * r.context_length + scratch;
    }
    *out = std::move(r);
    return Status::ok();
}

}  // namespace

Status inspect_model(const std::string& path, ModelInspection* out) {
    return run_guarded("while inspecting '" + path + "'", [&] { return inspect_unguarded(path, out); });
}

}  // namespace specqd
