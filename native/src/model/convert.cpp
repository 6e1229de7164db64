#include "model/convert.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "base/float-convert.h"
#include "gguf/gguf-reader.h"
#include "gguf/gguf-writer.h"
#include "kernels/matmul.h"
#include "kernels/thread-pool.h"
#include "model/model.h"
#include "mxfp4/mxfp4.h"

namespace specqd {
namespace {

// llama_ftype numbers for general.file_type (they differ from ggml type ids).
uint32_t file_type_of(GgmlType type) {
    switch (type) {
        case GgmlType::F32: return 0;
        case GgmlType::F16: return 1;
        case GgmlType::Q8_0: return 7;
        case GgmlType::BF16: return 32;
        case GgmlType::MXFP4: return 38;
        default: return 0;
    }
}

// "blk.<N>.<projection>.weight" for the seven projections of a layer.
bool is_projection(const std::string& name) {
    static const char* const kProjections[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    if (name.rfind("blk.", 0) != 0) return false;
    size_t i = 4;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
    if (i == 4 || i >= name.size() || name[i] != '.') return false;
    const std::string rest = name.substr(i + 1);
    for (const char* p : kProjections) {
        if (rest == std::string(p) + ".weight") return true;
    }
    return false;
}

}  // namespace

bool parse_weight_type(const std::string& name, GgmlType* out) {
    if (name == "f32" || name == "F32") *out = GgmlType::F32;
    else if (name == "f16" || name == "F16") *out = GgmlType::F16;
    else if (name == "bf16" || name == "BF16") *out = GgmlType::BF16;
    else if (name == "q8_0" || name == "Q8_0") *out = GgmlType::Q8_0;
    else if (name == "mxfp4" || name == "MXFP4") *out = GgmlType::MXFP4;
    else return false;
    return true;
}

bool quantize_row(GgmlType type, const float* x, int64_t n, void* out) {
    switch (type) {
        case GgmlType::F32: std::memcpy(out, x, sizeof(float) * n); return true;
        case GgmlType::F16: {
            auto* o = static_cast<uint16_t*>(out);
            for (int64_t i = 0; i < n; ++i) o[i] = f32_to_f16(x[i]);
            return true;
        }
        case GgmlType::BF16: {
            auto* o = static_cast<uint16_t*>(out);
            for (int64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(x[i]);
            return true;
        }
        case GgmlType::Q8_0: {
            // ggml's reference: d = amax / 127, q = round(x / d), d stored as f16.
            auto* blocks = static_cast<BlockQ8_0*>(out);
            for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
                const float* xb = x + b * kQ8_0BlockSize;
                float amax = 0.0f;
                for (int64_t j = 0; j < kQ8_0BlockSize; ++j) amax = std::max(amax, std::fabs(xb[j]));
                const float d = amax / 127.0f;
                const float id = d != 0.0f ? 1.0f / d : 0.0f;
                blocks[b].d = f32_to_f16(d);
                for (int64_t j = 0; j < kQ8_0BlockSize; ++j) {
                    blocks[b].qs[j] = static_cast<int8_t>(std::roundf(xb[j] * id));
                }
            }
            return true;
        }
        case GgmlType::MXFP4: mxfp4::quantize_row(x, n, out); return true;
        default: return false;
    }
}

namespace {

Status convert_model_unguarded(const std::string& src, const std::string& dst, const ConvertOptions& options,
                               ConvertReport* report) {
    GgufFile in;
    SPECQD_TRY(in.open(src));
    const auto target = ggml_type_traits(static_cast<uint32_t>(options.type));
    std::vector<float> probe(32);
    std::vector<uint8_t> probe_out(64);
    if (!target || !quantize_row(options.type, probe.data(), 32, probe_out.data())) {
        return Status::error("cannot convert to " + ggml_type_name(static_cast<uint32_t>(options.type)) +
                             ": no quantizer for that type in this build");
    }
    const bool tied = in.find_tensor("output.weight") == nullptr;

    // Decide each tensor's output type.
    struct Plan {
        const TensorInfo* t;
        GgmlType out_type;
    };
    std::vector<Plan> plan;
    const bool head_from_embedding = tied && !options.keep_head && !options.convert_embedding;
    for (const TensorInfo& t : in.tensors()) {
        bool wanted = is_projection(t.name) || (t.name == "output.weight" && !options.keep_head) ||
                      (t.name == "token_embd.weight" && options.convert_embedding);
        GgmlType out_type = t.type;
        if (wanted && t.n_dims == 2) {
            if (t.ne[0] % target->block_elements != 0) {
                report->kept.push_back(t.name + ": row length " + std::to_string(t.ne[0]) + " is not a multiple of " +
                                       std::to_string(target->block_elements));
            } else if (!matmul_supports(t.type)) {
                report->kept.push_back(t.name + ": source type " + ggml_type_name(static_cast<uint32_t>(t.type)) +
                                       " cannot be read");
            } else {
                out_type = options.type;
            }
        }
        plan.push_back({&t, out_type});
    }

    GgufWriter out;
    for (const auto& [key, value] : in.metadata()) out.set(key, value);
    out.set("general.file_type", GgufValue::of_u32(file_type_of(options.type)));
    out.set("general.quantization_version", GgufValue::of_u32(2));
    const size_t slash = src.find_last_of('/');
    out.set("specqd.converted_from", GgufValue::of_string(slash == std::string::npos ? src : src.substr(slash + 1)));
    if (in.alignment() != 32) out.set_alignment(in.alignment());
    for (const Plan& p : plan) {
        SPECQD_TRY(out.add_tensor(p.t->name, p.out_type, std::vector<uint64_t>(p.t->ne, p.t->ne + p.t->n_dims)));
    }
    // A tied model whose head is cast while its embedding is kept gets a separate, converted output.weight.
    const TensorInfo* embd = in.find_tensor("token_embd.weight");
    if (head_from_embedding && embd && embd->n_dims == 2 && embd->ne[0] % target->block_elements == 0 &&
        matmul_supports(embd->type)) {
        SPECQD_TRY(out.add_tensor("output.weight", options.type, {embd->ne[0], embd->ne[1]}));
        plan.push_back({embd, options.type});
    }
    SPECQD_TRY(out.open(dst));

    uint64_t total = 0, done = 0;
    for (const Plan& p : plan) total += p.t->n_bytes;
    std::vector<float> row;
    std::vector<uint8_t> buffer;
    for (size_t i = 0; i < plan.size(); ++i) {
        const Plan& p = plan[i];
        if (options.cancel && options.cancel->load()) {
            out.abort();
            return Status::error("cancelled");
        }
        const TensorInfo& t = *p.t;
        report->bytes_in += t.n_bytes;
        if (p.out_type == t.type) {
            SPECQD_TRY(out.write_tensor_data(t.data, t.n_bytes));
            report->bytes_out += t.n_bytes;
        } else {
            const WeightView w{t.type, t.data, static_cast<int64_t>(t.rows()), static_cast<int64_t>(t.ne[0])};
            const uint64_t out_row_bytes = GgufWriter::tensor_bytes(p.out_type, {t.ne[0]});
            buffer.resize(out_row_bytes * w.rows);
            row.resize(static_cast<size_t>(w.cols));
            for (int64_t r = 0; r < w.rows; ++r) {
                // A large matrix (a 150k-row head) takes a while: check for cancellation inside it too.
                if ((r & 1023) == 1023 && options.cancel && options.cancel->load()) {
                    out.abort();
                    return Status::error("cancelled");
                }
                ref::dequantize_row(w, r, row.data());
                quantize_row(p.out_type, row.data(), w.cols, buffer.data() + out_row_bytes * r);
            }
            SPECQD_TRY(out.write_tensor_data(buffer.data(), buffer.size()));
            report->bytes_out += buffer.size();
            report->n_converted += 1;
        }
        done += t.n_bytes;
        if (options.on_progress) options.on_progress(total ? static_cast<double>(done) / total : 1.0, t.name);
    }
    return out.commit();
}

}  // namespace

Status convert_model(const std::string& src, const std::string& dst, const ConvertOptions& options,
                     ConvertReport* report) {
    *report = ConvertReport();
    // An allocation failure unwinds through the writer, whose destructor removes the temporary file.
    return run_guarded("while converting '" + src + "'",
                       [&] { return convert_model_unguarded(src, dst, options, report); });
}

namespace {

// A matrix to cast in memory, and where its cast goes in the one buffer of all casts.
struct PlannedCast {
    std::string name;
    WeightView* view;
    uint64_t offset;
};

// Plans the matrix's cast when it can be cast; a matrix that cannot keeps its view (reported, unless it has the
// type already).
void plan_cast(const std::string& name, WeightView* view, GgmlType type, std::vector<PlannedCast>* plan,
               uint64_t* total_bytes, ConvertReport* report) {
    const WeightView src = *view;
    const auto traits = ggml_type_traits(static_cast<uint32_t>(type));
    if (src.cols % traits->block_elements != 0) {
        report->kept.push_back(name + ": row length " + std::to_string(src.cols) + " is not a multiple of " +
                               std::to_string(traits->block_elements));
        return;
    }
    if (!matmul_supports(src.type) || src.type == type) {
        if (src.type != type) report->kept.push_back(name + ": source type cannot be read");
        return;
    }
    constexpr uint64_t kAlign = 64;  // a cache line: the kernels' rows start where their loads expect
    const WeightView cast{type, nullptr, src.rows, src.cols};
    plan->push_back({name, view, *total_bytes});
    *total_bytes += (static_cast<uint64_t>(cast.row_bytes() * src.rows) + kAlign - 1) / kAlign * kAlign;
}

// One planned matrix cast into `dst`, rows spread over the pool.
Status cast_matrix(const PlannedCast& planned, GgmlType type, ThreadPool* pool, uint8_t* dst, ConvertReport* report) {
    const WeightView src = *planned.view;
    WeightView cast{type, nullptr, src.rows, src.cols};
    const int64_t out_row_bytes = cast.row_bytes();
    constexpr int64_t kRowsPerTask = 64;
    const int64_t n_tasks = (src.rows + kRowsPerTask - 1) / kRowsPerTask;
    // Tasks run on pool threads, where an exception would terminate the process (thread-pool.h): a task that cannot
    // get its row buffer records that instead, and the cast fails as a whole.
    std::atomic<bool> out_of_memory{false};
    // MXFP4 casts go straight into the step layout when the active kernel reads it faster (mxfp4/mxfp4.h).
    const bool steps = type == GgmlType::MXFP4 && matmul_preferred_layout(type) == WeightLayout::mxfp4_steps;
    if (steps) cast.layout = WeightLayout::mxfp4_steps;
    auto task = [&](int64_t t) {
        std::vector<float> row;
        std::vector<uint8_t> ggml_row;
        try {
            row.resize(static_cast<size_t>(src.cols));
            if (steps) ggml_row.resize(static_cast<size_t>(out_row_bytes));
        } catch (const std::bad_alloc&) {
            out_of_memory.store(true);
            return;
        }
        const int64_t end = std::min(src.rows, (t + 1) * kRowsPerTask);
        for (int64_t r = t * kRowsPerTask; r < end; ++r) {
            ref::dequantize_row(src, r, row.data());
            if (steps) {
                quantize_row(type, row.data(), src.cols, ggml_row.data());
                mxfp4::to_step_layout(ggml_row.data(), src.cols, dst + r * out_row_bytes);
            } else {
                quantize_row(type, row.data(), src.cols, dst + r * out_row_bytes);
            }
        }
    };
    if (pool != nullptr) {
        pool->parallel_for(n_tasks, task);
    } else {
        for (int64_t t = 0; t < n_tasks; ++t) task(t);
    }
    if (out_of_memory.load()) return Status::error("out of memory casting '" + planned.name + "'");
    cast.data = dst;
    *planned.view = cast;
    report->n_converted += 1;
    report->bytes_in += static_cast<uint64_t>(src.row_bytes() * src.rows);
    report->bytes_out += static_cast<uint64_t>(out_row_bytes * src.rows);
    return Status::ok();
}

}  // namespace

Status cast_model_weights(const ModelWeights& src, GgmlType type, bool keep_head, ThreadPool* pool, ModelWeights* out,
                          ConvertReport* report) {
    *report = ConvertReport();
    std::vector<float> probe(32);
    std::vector<uint8_t> probe_out(64);
    if (!ggml_type_traits(static_cast<uint32_t>(type)) || !quantize_row(type, probe.data(), 32, probe_out.data())) {
        return Status::error("cannot cast to " + ggml_type_name(static_cast<uint32_t>(type)) + " in this build");
    }
    *out = ModelWeights();
    out->token_embd = src.token_embd;
    out->layers = src.layers;
    out->output_norm = src.output_norm;
    out->output = src.output;
    // All casts in one buffer: a buffer of its own per matrix would round each up to whole huge pages (a 2.3 MB
    // FFN matrix of the 0.5B shape took 4 MiB, 120 MB in all).
    std::vector<PlannedCast> plan;
    uint64_t total_bytes = 0;
    for (size_t il = 0; il < out->layers.size(); ++il) {
        LayerWeights& l = out->layers[il];
        const std::string p = "blk." + std::to_string(il) + ".";
        plan_cast(p + "attn_q.weight", &l.wq, type, &plan, &total_bytes, report);
        plan_cast(p + "attn_k.weight", &l.wk, type, &plan, &total_bytes, report);
        plan_cast(p + "attn_v.weight", &l.wv, type, &plan, &total_bytes, report);
        plan_cast(p + "attn_output.weight", &l.wo, type, &plan, &total_bytes, report);
        plan_cast(p + "ffn_gate.weight", &l.w_gate, type, &plan, &total_bytes, report);
        plan_cast(p + "ffn_up.weight", &l.w_up, type, &plan, &total_bytes, report);
        plan_cast(p + "ffn_down.weight", &l.w_down, type, &plan, &total_bytes, report);
    }
    // A tied head is the embedding's view; casting it gives the copy its own head and leaves the embedding as is.
    if (!keep_head) plan_cast("output.weight", &out->output, type, &plan, &total_bytes, report);
    if (plan.empty()) return Status::ok();
    HugePageBuffer bytes;
    SPECQD_TRY(bytes.allocate(total_bytes).with_context("casting the weights"));
    // Owned before any view points into it, so that a cast failing halfway leaves no dangling view.
    out->owned_bytes.push_back(std::move(bytes));
    uint8_t* base = out->owned_bytes.back().data();
    for (const PlannedCast& planned : plan) {
        SPECQD_TRY(cast_matrix(planned, type, pool, base + planned.offset, report));
    }
    return Status::ok();
}

}  // namespace specqd
