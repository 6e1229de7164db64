// MXFP4 copies of a whole model (stories260K): the file convert_model() writes (which matrices, which are kept and
// why, file type and source recorded, the input untouched) and the in-memory cast Engine.load({ mxfp4: 'auto' })
// uses hold the same bytes; and the engine's "mxfp4" speculation level leaves the greedy output equal to the
// target's alone, whether its weights come from the cast or from the file.
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "check.h"
#include "engine/engine.h"
#include "gguf/gguf-reader.h"
#include "kernels/cpu-features.h"
#include "kernels/thread-pool.h"
#include "model/convert.h"
#include "model/model.h"
#include "mxfp4/mxfp4.h"
#include "test-engine.h"

using namespace specqd;

namespace {

bool same_view_bytes(const WeightView& a, const WeightView& b) {
    return a.type == b.type && a.rows == b.rows && a.cols == b.cols && a.layout == b.layout &&
           std::memcmp(a.data, b.data, static_cast<size_t>(a.rows * a.row_bytes())) == 0;
}

// The logits of every position of `text` under the model's weights.
std::vector<float> all_logits(const Model& model, const std::string& text) {
    const ModelHparams& hp = model.hparams;
    const std::vector<int32_t> tokens = model.vocab.encode(text, true, false);
    const int32_t n = static_cast<int32_t>(tokens.size());
    ThreadPool pool(2);
    KvCache kv;
    kv.init(hp, 128);
    ForwardScratch s;
    s.init(hp, n, 128);
    std::vector<float> logits(static_cast<size_t>(n) * hp.n_vocab);
    if (!model_forward(hp, model.weights, kv, s, &pool, tokens.data(), n, LogitsFor::All, logits.data()).is_ok()) return {};
    return logits;
}

std::vector<int32_t> complete(const EngineOptions& options) {
    const std::unique_ptr<Engine> engine = test_engine::load(options);
    if (!engine) return {};
    return test_engine::complete(*engine, "Once upon a time", 40).tokens;
}

}  // namespace

int main() {
    const std::string src = check::shared_path("models/stories260K.gguf");
    const std::string dst = "/tmp/specqd-test-mxfp4-model-" + std::to_string(::getpid()) + ".gguf";

    ConvertOptions options;
    options.type = GgmlType::MXFP4;
    options.convert_embedding = false;
    ConvertReport report;
    const Status st = convert_model(src, dst, options, &report);
    CHECK_MSG(st.is_ok(), st.message());
    // 5 layers x 7 projections + the head; the five ffn_down (row length 172) keep their type.
    CHECK_EQ(report.n_converted, 31);
    CHECK_EQ(report.kept.size(), size_t{5});

    GgufFile out;
    CHECK(out.open(dst).is_ok());
    uint64_t file_type = 0;
    const GgufValue* ft = out.find("general.file_type");
    CHECK(ft != nullptr && ft->as_u64(&file_type) && file_type == 38);  // llama.cpp's MOSTLY_MXFP4_MOE
    const GgufValue* from = out.find("specqd.converted_from");
    CHECK(from != nullptr && from->as_string() != nullptr && *from->as_string() == "stories260K.gguf");
    CHECK(out.find_tensor("token_embd.weight")->type == GgmlType::F32);
    CHECK(out.find_tensor("blk.0.attn_q.weight")->type == GgmlType::MXFP4);
    CHECK(out.find_tensor("blk.0.ffn_down.weight")->type == GgmlType::F32);
    CHECK(out.find_tensor("output.weight")->type == GgmlType::MXFP4);

    // The in-memory cast equals the file, matrix by matrix.
    Model target, file_model;
    CHECK(model_load(src, &target).is_ok());
    CHECK(model_load(dst, &file_model).is_ok());
    ModelWeights cast;
    ConvertReport cast_report;
    CHECK(cast_model_weights(target.weights, GgmlType::MXFP4, false, nullptr, &cast, &cast_report).is_ok());
    CHECK_EQ(cast_report.n_converted, 31);
    bool all_same = same_view_bytes(cast.output, file_model.weights.output);
    for (size_t il = 0; il < cast.layers.size(); ++il) {
        const LayerWeights& a = cast.layers[il];
        const LayerWeights& b = file_model.weights.layers[il];
        all_same = all_same && same_view_bytes(a.wq, b.wq) && same_view_bytes(a.wk, b.wk) &&
                   same_view_bytes(a.wv, b.wv) && same_view_bytes(a.wo, b.wo) &&
                   same_view_bytes(a.w_gate, b.w_gate) && same_view_bytes(a.w_up, b.w_up) &&
                   same_view_bytes(a.w_down, b.w_down);
    }
    CHECK_MSG(all_same, "the in-memory MXFP4 cast differs from the file convert_model() wrote");

    // Read into memory, the MXFP4 matrices take the layout the active kernel prefers (the step layout of mxfp4.h
    // on the avx512 path); memory-mapped, ggml's. The same weights either way (rearranging a mapped row gives the
    // copied row's bytes), and the same logits, bit for bit, on every kernel path (each path's kernels do the same
    // arithmetic on both layouts).
    const WeightLayout preferred = matmul_preferred_layout(GgmlType::MXFP4);
    std::printf("MXFP4 layout of the active path: %s\n", preferred == WeightLayout::mxfp4_steps ? "steps" : "ggml's");
    CHECK(file_model.weights.layers[0].wq.layout == preferred);
    CHECK(file_model.weights.output.layout == preferred);
    CHECK(cast.layers[0].wq.layout == preferred);
    CHECK(file_model.weights.layers[0].w_down.layout == WeightLayout::file);  // kept F32
    Model mapped;
    CHECK(model_load(dst, &mapped, FileResidency::kMapped).is_ok());
    const WeightView& mq = mapped.weights.layers[1].wq;
    CHECK(mq.layout == WeightLayout::file);
    std::vector<uint8_t> rearranged(static_cast<size_t>(mq.rows * mq.row_bytes()));
    for (int64_t r = 0; r < mq.rows; ++r) {
        if (preferred == WeightLayout::mxfp4_steps) {
            mxfp4::to_step_layout(mq.row(r), mq.cols, rearranged.data() + r * mq.row_bytes());
        } else {
            std::memcpy(rearranged.data() + r * mq.row_bytes(), mq.row(r), static_cast<size_t>(mq.row_bytes()));
        }
    }
    CHECK(std::memcmp(rearranged.data(), file_model.weights.layers[1].wq.data, rearranged.size()) == 0);
    const std::string text = "Once upon a time, there was a little girl named Lily. She";
    for (IsaLevel level : {IsaLevel::scalar, IsaLevel::avx2, IsaLevel::avx512}) {
        if (set_isa_level(level) != level) continue;
        const std::vector<float> from_copy = all_logits(file_model, text);
        CHECK(!from_copy.empty());
        CHECK_MSG(all_logits(mapped, text) == from_copy,
                  std::string(kernel_path_name()) + ": logits differ between the step layout and ggml's");
    }
    set_isa_level(isa_level_supported());
    ModelWeights kept_head;
    CHECK(cast_model_weights(target.weights, GgmlType::MXFP4, true, nullptr, &kept_head, &cast_report).is_ok());
    CHECK(kept_head.output.type == GgmlType::F32 && cast_report.n_converted == 30);

    // The "mxfp4" level: exact greedy output, weights from the cast or from the file.
    EngineOptions plain;
    plain.target = src;
    plain.threads = 2;
    plain.context_length = 256;
    const std::vector<int32_t> expected = complete(plain);
    CHECK_EQ(expected.size(), size_t{40});
    for (const std::string& mxfp4 : {std::string("auto"), dst}) {
        EngineOptions o = plain;
        o.levels = {"target", "mxfp4", "ngram"};
        o.mxfp4 = mxfp4;
        CHECK_MSG(complete(o) == expected, "mxfp4 = " + mxfp4 + ": greedy output differs from the target alone");
    }
    EngineOptions off = plain;
    off.levels = {"target", "mxfp4"};
    off.mxfp4 = "off";
    std::unique_ptr<Engine> none;
    CHECK(!Engine::load(off, &none).is_ok());

    std::remove(dst.c_str());
    return check::summary("test-mxfp4-model");
}
