// mxfp4-agreement: greedy agreement of a model's MXFP4 copy with the model itself — the fraction of positions whose
// argmax matches, teacher-forced over held-out text — which is the acceptance rate the "mxfp4" speculation level
// will see. Measured twice: with the output head cast to MXFP4 too, and with the head kept in the model's type.
//
// The MXFP4 copy is either the in-memory direct cast (default; what Engine.load({ mxfp4: 'auto' }) builds) or an
// MXFP4 GGUF given with --mxfp4-file (e.g. one from `specqd quantize` or from llama.cpp's quantizer; then one row).
// Each text file is tokenized (with BOS when the model wants it), cut into windows of --window tokens, and both
// networks run over every window; positions are counted where both argmaxes are defined (all but the last token).
// Prints one line per configuration and a JSON object at the end.
//
// usage: mxfp4-agreement MODEL.gguf TEXT... [--window N] [--max-tokens N] [--threads T] [--mxfp4-file F.gguf]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/thread-pool.h"
#include "model/convert.h"
#include "model/model.h"

using namespace specqd;

namespace {

int fail(const Status& s) {
    std::fprintf(stderr, "mxfp4-agreement: %s\n", s.message().c_str());
    return 1;
}

int64_t argmax(const float* x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i) {
        if (x[i] > x[best]) best = i;
    }
    return best;
}

// Argmax of every position of `tokens` (teacher-forced), in batches of at most max_batch tokens.
Status top1_all(const Model& m, const ModelWeights& w, const std::vector<int32_t>& tokens, ThreadPool* pool,
                std::vector<int64_t>* out) {
    constexpr int32_t kBatch = 64;
    const auto n = static_cast<int32_t>(tokens.size());
    KvCache kv;
    SPECQD_TRY(kv.init(m.hparams, n));
    ForwardScratch s;
    s.init(m.hparams, kBatch, n);
    const int64_t n_vocab = m.hparams.n_vocab;
    std::vector<float> logits(static_cast<size_t>(kBatch * n_vocab));
    out->clear();
    for (int32_t p = 0; p < n; p += kBatch) {
        const int32_t nb = std::min(kBatch, n - p);
        SPECQD_TRY(model_forward(m.hparams, w, kv, s, pool, tokens.data() + p, nb, LogitsFor::All, logits.data()));
        for (int32_t i = 0; i < nb; ++i) out->push_back(argmax(logits.data() + i * n_vocab, n_vocab));
    }
    return Status::ok();
}

}  // namespace

int main(int argc, char** argv) {
    std::string model_path, mxfp4_file;
    std::vector<std::string> texts;
    int32_t window = 256, threads = 2;
    int64_t max_tokens = 1 << 30;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--window" && i + 1 < argc) window = std::atoi(argv[++i]);
        else if (a == "--max-tokens" && i + 1 < argc) max_tokens = std::atoll(argv[++i]);
        else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (a == "--mxfp4-file" && i + 1 < argc) mxfp4_file = argv[++i];
        else if (model_path.empty()) model_path = a;
        else texts.push_back(a);
    }
    if (model_path.empty() || texts.empty() || window < 2) {
        std::fprintf(stderr, "usage: mxfp4-agreement MODEL.gguf TEXT... [--window N] [--max-tokens N] [--threads T] "
                             "[--mxfp4-file F.gguf]\n");
        return 2;
    }
    Model model;
    if (Status st = model_load(model_path, &model); !st) return fail(st);
    ThreadPool pool(threads);

    struct Config {
        std::string name;
        ModelWeights weights;
        Model file;  // when the copy comes from a file
        double build_ms = 0;
        int64_t agree = 0, total = 0;
        ConvertReport report;
    };
    std::vector<Config> configs;
    if (mxfp4_file.empty()) {
        for (bool keep_head : {false, true}) {
            Config c;
            c.name = keep_head ? "mxfp4, head kept" : "mxfp4, head cast";
            const auto t0 = std::chrono::steady_clock::now();
            if (Status st = cast_model_weights(model.weights, GgmlType::MXFP4, keep_head, &pool, &c.weights, &c.report);
                !st) {
                return fail(st);
            }
            c.build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            configs.push_back(std::move(c));
        }
    } else {
        configs.emplace_back();
        Config& c = configs.back();
        c.name = "file " + mxfp4_file;
        if (Status st = model_load(mxfp4_file, &c.file); !st) return fail(st);
        c.weights.token_embd = c.file.weights.token_embd;
        c.weights.layers = c.file.weights.layers;
        c.weights.output_norm = c.file.weights.output_norm;
        c.weights.output = c.file.weights.output;
    }

    int64_t n_tokens_total = 0;
    for (const std::string& path : texts) {
        std::ifstream f(path, std::ios::binary);
        if (!f) return fail(Status::error("cannot read '" + path + "'"));
        std::stringstream ss;
        ss << f.rdbuf();
        const std::vector<int32_t> all = model.vocab.encode(ss.str(), model.vocab.add_bos(), false);
        for (size_t p = 0; p + 1 < all.size() && n_tokens_total < max_tokens; p += window) {
            const size_t end = std::min(all.size(), p + static_cast<size_t>(window));
            const std::vector<int32_t> chunk(all.begin() + static_cast<std::ptrdiff_t>(p),
                                             all.begin() + static_cast<std::ptrdiff_t>(end));
            if (chunk.size() < 2) break;
            std::vector<int64_t> ref, got;
            if (Status st = top1_all(model, model.weights, chunk, &pool, &ref); !st) return fail(st);
            for (Config& c : configs) {
                if (Status st = top1_all(model, c.weights, chunk, &pool, &got); !st) return fail(st);
                // The last position predicts a token outside the window: counted too (both argmaxes exist).
                for (size_t i = 0; i < chunk.size(); ++i) {
                    c.agree += ref[i] == got[i];
                    c.total += 1;
                }
            }
            n_tokens_total += static_cast<int64_t>(chunk.size());
        }
    }

    const uint64_t target_bytes = model.weights.bytes_per_token();
    std::printf("model %s: %lld positions over %zu files\n", model_path.c_str(), static_cast<long long>(n_tokens_total),
                texts.size());
    std::printf("{\"model\": \"%s\", \"positions\": %lld, \"targetBytesPerToken\": %llu, \"configs\": [",
                model_path.c_str(), static_cast<long long>(n_tokens_total), static_cast<unsigned long long>(target_bytes));
    for (size_t i = 0; i < configs.size(); ++i) {
        const Config& c = configs[i];
        const double agreement = c.total ? static_cast<double>(c.agree) / c.total : 0.0;
        std::printf("%s{\"name\": \"%s\", \"agreement\": %.4f, \"bytesPerToken\": %llu, \"buildMs\": %.1f, "
                    "\"converted\": %d, \"kept\": %zu}",
                    i ? ", " : "", c.name.c_str(), agreement,
                    static_cast<unsigned long long>(c.weights.bytes_per_token()), c.build_ms,
                    c.report.n_converted, c.report.kept.size());
    }
    std::printf("]}\n");
    for (const Config& c : configs) {
        for (const std::string& k : c.report.kept) std::fprintf(stderr, "  %s kept: %s\n", c.name.c_str(), k.c_str());
    }
    return 0;
}
