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
#include "model/convert.h"
#include "model/model.h"
#include "test-engine.h"

using namespace specqd;

namespace {

bool same_view_bytes(const WeightView& a, const WeightView& b) {
    return a.type == b.type && a.rows == b.rows && a.cols == b.cols &&
           std::memcmp(a.data, b.data, static_cast<size_t>(a.rows * a.row_bytes())) == 0;
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
