// bench-forward: per-token costs of one model in our engine, the figures llama-bench measures for llama.cpp.
//
//   - decode: tokens/s of single-token forward passes after `depth` tokens of context (like llama-bench's tg);
//   - prefill: tokens/s of one pass over P tokens from an empty cache, logits of the last token only (pp P);
//   - verify: ms of one pass over k tokens after `depth` tokens of context with the logits of all k (what checking
//     k drafted tokens costs), and its ratio to k = 1: the curve speculative decoding lives on.
// The measurements are interleaved (one repetition of each, then the next), and medians are reported, because the
// machine may be shared. Tokens are seeded random ids below 4000. Prints one JSON object.
//
// --head-rows N computes logits for the first N rows of the output head only, as a drafting level does under
// EngineOptions::draft_vocab (speculative.h, ModelLevel::limit_head; without its few extra rows).
//
// usage: bench-forward MODEL.gguf [--threads T] [--decode N] [--prefill 128,512,2048] [--verify 1,2,4,8,16]
//                     [--depth D] [--reps R] [--head-rows N]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu-features.h"
#include "kernels/thread-pool.h"
#include "model/model.h"

using namespace specqd;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

std::vector<int> parse_list(const std::string& s) {
    std::vector<int> out;
    for (size_t pos = 0; pos < s.size();) {
        const size_t comma = std::min(s.find(',', pos), s.size());
        if (comma > pos) out.push_back(std::atoi(s.substr(pos, comma - pos).c_str()));
        pos = comma + 1;
    }
    return out;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

int fail(const Status& s) {
    std::fprintf(stderr, "bench-forward: %s\n", s.message().c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench-forward MODEL.gguf [--threads T] [--decode N] [--prefill 128,512,2048] "
                             "[--verify 1,2,4,8,16] [--depth D] [--reps R] [--head-rows N]\n");
        return 2;
    }
    const std::string path = argv[1];
    int threads = 1, n_decode = 32, depth = 64, reps = 3;
    int64_t head_rows = 0;
    std::vector<int> prefill = {128, 512}, verify = {1, 2, 4, 8, 16};
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        const std::string v = i + 1 < argc ? argv[i + 1] : "";
        if (a == "--threads") threads = std::atoi(v.c_str());
        else if (a == "--decode") n_decode = std::atoi(v.c_str());
        else if (a == "--prefill") prefill = parse_list(v);
        else if (a == "--verify") verify = parse_list(v);
        else if (a == "--depth") depth = std::atoi(v.c_str());
        else if (a == "--reps") reps = std::atoi(v.c_str());
        else if (a == "--head-rows") head_rows = std::atoll(v.c_str());
        else {
            std::fprintf(stderr, "bench-forward: unknown option %s\n", a.c_str());
            return 2;
        }
        ++i;
    }
    Model model;
    if (Status st = model_load(path, &model); !st.ok()) return fail(st);
    const ModelHparams& hp = model.hparams;
    int max_batch = 16;
    for (int p : prefill) max_batch = std::max(max_batch, p);
    for (int k : verify) max_batch = std::max(max_batch, k);
    const int n_ctx = std::max(max_batch, depth + std::max(n_decode, 16)) + 8;
    KvCache kv;
    if (Status st = kv.init(hp, n_ctx); !st.ok()) return fail(st);
    ForwardScratch scratch;
    scratch.init(hp, max_batch, n_ctx);
    ThreadPool pool(threads);
    std::vector<float> logits(static_cast<size_t>(max_batch) * hp.n_vocab);
    std::mt19937 rng(1234);
    const uint32_t id_limit = std::min<uint32_t>(hp.n_vocab, 4000);
    std::vector<int32_t> tokens(static_cast<size_t>(n_ctx));
    for (auto& t : tokens) t = static_cast<int32_t>(rng() % id_limit);

    WeightView head = model.weights.output;
    if (head_rows > 0 && head_rows < head.rows) head.rows = head_rows;
    auto forward = [&](int32_t start, int32_t n, LogitsFor which) {
        return model_forward(hp, model.weights, kv, scratch, &pool, tokens.data() + start, n, which, logits.data(),
                             &head);
    };
    // The context the decode and verify measurements run after.
    auto fill_depth = [&]() -> Status {
        kv.rollback(0);
        for (int32_t done = 0; done < depth;) {
            const int32_t n = std::min(depth - done, max_batch);
            SPECQD_TRY(forward(done, n, LogitsFor::Last));
            done += n;
        }
        return Status();
    };
    if (Status st = fill_depth(); !st.ok()) return fail(st);
    // Warm-up: one decode step and one small verify pass (page in the weights, wake the pool).
    if (Status st = forward(depth, 1, LogitsFor::Last); !st.ok()) return fail(st);
    kv.rollback(depth);

    std::vector<double> decode_tps;
    std::vector<std::vector<double>> prefill_ms(prefill.size()), verify_ms(verify.size());
    for (int r = 0; r < reps; ++r) {
        if (n_decode > 0) {
            if (Status st = fill_depth(); !st.ok()) return fail(st);
            const auto t0 = Clock::now();
            for (int i = 0; i < n_decode; ++i) {
                if (Status st = forward(depth + i, 1, LogitsFor::Last); !st.ok()) return fail(st);
            }
            decode_tps.push_back(n_decode * 1000.0 / ms_since(t0));
        }
        for (size_t j = 0; j < prefill.size(); ++j) {
            kv.rollback(0);
            const auto t0 = Clock::now();
            if (Status st = forward(0, prefill[j], LogitsFor::Last); !st.ok()) return fail(st);
            prefill_ms[j].push_back(ms_since(t0));
        }
        if (!verify.empty()) {
            if (Status st = fill_depth(); !st.ok()) return fail(st);
            // One untimed pass first, so the first timed k does not pay for waking the pool after the fill.
            if (Status st = forward(depth, verify.back(), LogitsFor::All); !st.ok()) return fail(st);
            kv.rollback(depth);
            for (size_t j = 0; j < verify.size(); ++j) {
                const auto t0 = Clock::now();
                if (Status st = forward(depth, verify[j], LogitsFor::All); !st.ok()) return fail(st);
                verify_ms[j].push_back(ms_since(t0));
                kv.rollback(depth);
            }
        }
    }

    // With --head-rows, the rows past the cut are never read: count only the rows a pass reads.
    const uint64_t head_bytes = static_cast<uint64_t>(head.rows) * static_cast<uint64_t>(head.row_bytes());
    const uint64_t bytes_per_token = model.weights.bytes_per_token() -
                                     static_cast<uint64_t>(model.weights.output.rows - head.rows) *
                                         static_cast<uint64_t>(head.row_bytes());
    std::printf("{\"model\": \"%s\", \"threads\": %d, \"kernel_path\": \"%s\", \"n_vocab\": %u, \"n_embd\": %u, "
                "\"n_layer\": %u, \"bytes_per_token\": %llu, \"head_bytes\": %llu, \"head_rows\": %lld, "
                "\"depth\": %d, \"reps\": %d",
                path.c_str(), pool.n_threads(), kernel_path_name(), hp.n_vocab, hp.n_embd, hp.n_layer,
                static_cast<unsigned long long>(bytes_per_token), static_cast<unsigned long long>(head_bytes),
                static_cast<long long>(head.rows), depth, reps);
    if (n_decode > 0) {
        std::printf(", \"decode\": {\"tokens\": %d, \"tokens_per_s\": %.3f, \"samples\": [", n_decode, median(decode_tps));
        for (size_t i = 0; i < decode_tps.size(); ++i) std::printf("%s%.3f", i ? ", " : "", decode_tps[i]);
        std::printf("]}");
    }
    std::printf(", \"prefill\": [");
    for (size_t j = 0; j < prefill.size(); ++j) {
        const double m = median(prefill_ms[j]);
        std::printf("%s{\"tokens\": %d, \"ms\": %.3f, \"tokens_per_s\": %.3f}", j ? ", " : "", prefill[j], m,
                    prefill[j] * 1000.0 / m);
    }
    std::printf("], \"verify\": [");
    const double base = verify.empty() ? 0 : median(verify_ms[0]);
    for (size_t j = 0; j < verify.size(); ++j) {
        const double m = median(verify_ms[j]);
        std::printf("%s{\"k\": %d, \"ms\": %.3f, \"ratio_to_first\": %.3f}", j ? ", " : "", verify[j], m, m / base);
    }
    std::printf("]}\n");
    return 0;
}
