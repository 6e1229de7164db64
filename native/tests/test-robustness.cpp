// Bad things that happen to a loaded engine: its model file truncated or overwritten in place while mapped (which
// would otherwise raise SIGBUS and kill the editor's extension host) or after it was copied into memory, and too
// little memory for a load.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>

#include "check.h"
#include "engine/engine.h"
#include "test-engine.h"
#include "test-util.h"

using namespace specqd;

namespace {

// An engine over a fresh copy of stories260K at dir/name, so the test may damage or delete the file. `map_weights`:
// read the weights in place from a memory map (else the engine's default, a copy in memory).
std::unique_ptr<Engine> load_copy(const test_util::TempDir& dir, const std::string& name, int threads,
                                  bool map_weights) {
    const std::string copy = dir.file(name);
    std::filesystem::copy_file(check::shared_path("models/stories260K.gguf"), copy);
    EngineOptions o;
    o.target = copy;
    o.threads = threads;
    o.context_length = 256;
    o.map_weights = map_weights;
    return test_engine::load(o);
}

void truncate_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY);
    CHECK(fd >= 0);
    CHECK(::ftruncate(fd, 4096) == 0);
    ::close(fd);
}

void test_truncated_while_mapped() {
    test_util::TempDir dir;
    const std::string copy = dir.file("model.gguf");
    std::unique_ptr<Engine> engine = load_copy(dir, "model.gguf", 2, /*map_weights=*/true);
    if (!engine) return;
    CompletionRequest req;
    req.prompt = "Once upon a time";
    req.max_tokens = 8;
    CompletionResult r;
    CHECK(engine->complete(req, &r).is_ok());

    // Another program truncates the file in place (as `cp other.gguf model.gguf` or a failed download would).
    truncate_file(copy);

    // The next request must not crash the process: it fails with a message that says what happened.
    req.prompt = "The dog";  // a new prompt, so weights are read again
    const Status st = engine->complete(req, &r);
    CHECK(!st.is_ok());
    CHECK_MSG(st.message().find("changed on disk") != std::string::npos, st.message());
    // And keeps failing clearly (the data is gone), rather than producing nonsense.
    CHECK(!engine->complete(req, &r).is_ok());

    // A fresh engine on an intact file works, in the same process.
    std::unique_ptr<Engine> fresh = load_copy(dir, "fresh.gguf", 2, /*map_weights=*/true);
    if (fresh) {
        CompletionResult ok;
        req.prompt = "Once upon a time";
        CHECK(fresh->complete(req, &ok).is_ok());
        CHECK_EQ(ok.tokens.size(), 8u);
    }
}

// Weights copied into memory (the default) no longer depend on the file: truncating it changes nothing, and the
// engine goes on answering exactly as before.
void test_truncated_after_copy() {
    test_util::TempDir dir;
    std::unique_ptr<Engine> engine = load_copy(dir, "model.gguf", 2, /*map_weights=*/false);
    if (!engine) return;
    CompletionRequest req;
    req.prompt = "Once upon a time";
    req.max_tokens = 16;
    CompletionResult before, after;
    CHECK(engine->complete(req, &before).is_ok());
    truncate_file(dir.file("model.gguf"));
    req.prompt = "The dog";  // a new prompt first, so the weights are read again
    CompletionResult other;
    CHECK(engine->complete(req, &other).is_ok());
    req.prompt = "Once upon a time";
    const Status st = engine->complete(req, &after);
    CHECK_MSG(st.is_ok(), st.message());
    CHECK(after.tokens == before.tokens);
    CHECK(before.tokens.size() == 16 && before.tokens[0] == 432);
}

void test_deleted_while_loaded() {
    // Deleting (unlinking) a mapped file is harmless: the mapping keeps the data alive.
    test_util::TempDir dir;
    std::unique_ptr<Engine> engine = load_copy(dir, "model.gguf", 1, /*map_weights=*/true);
    if (!engine) return;
    std::filesystem::remove(dir.file("model.gguf"));
    CompletionRequest req;
    req.prompt = "Once upon a time";
    req.max_tokens = 16;
    CompletionResult r;
    CHECK(engine->complete(req, &r).is_ok());
    CHECK(r.tokens.size() == 16 && r.tokens[0] == 432);
}

// Sanitizers reserve terabytes of address space for their shadow memory, so a limit on the address space
// (RLIMIT_AS, how the tests below take memory away) cannot be applied under them: those tests run in the plain build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kUnderSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kUnderSanitizer = true;
#else
constexpr bool kUnderSanitizer = false;
#endif
#else
constexpr bool kUnderSanitizer = false;
#endif

// Bytes of address space this process has mapped now (/proc/self/statm: the first field, in pages).
uint64_t address_space_in_use() {
    std::ifstream statm("/proc/self/statm");
    uint64_t pages = 0;
    statm >> pages;
    return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Caps this process's address space at `bytes` (0: back to the hard limit). Allocations past it fail.
bool cap_address_space(uint64_t bytes) {
    struct rlimit limit {};
    if (getrlimit(RLIMIT_AS, &limit) != 0) return false;
    limit.rlim_cur = bytes == 0 ? limit.rlim_max : bytes;
    return setrlimit(RLIMIT_AS, &limit) == 0;
}

// Runs `body` in a forked child, so that the memory limits it sets never reach the test runner. True when the child
// exited normally with all its checks passed; an exception escaping the engine would end it in abort() instead.
bool in_child(const std::function<void()>& body) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        body();
        std::fflush(nullptr);
        ::_exit(check::failures() == 0 ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return false;
    if (WIFSIGNALED(status)) std::fprintf(stderr, "  the child process died of signal %d\n", WTERMSIG(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool out_of_memory_message(const Status& st) {
    // The engine's own message, or mmap's ENOMEM when not even the model file could be mapped.
    return st.message().find("out of memory") != std::string::npos ||
           st.message().find("Cannot allocate memory") != std::string::npos;
}

// A context too large for the memory there is: the KV cache and scratch cannot be allocated. The load fails with a
// message that says so and how to fix it, and a load with a context that fits then works in the same process.
void test_out_of_memory_for_the_context() {
    const bool ok = in_child([] {
        CHECK(cap_address_space(address_space_in_use() + (uint64_t{512} << 20)));
        EngineOptions o;
        o.target = check::shared_path("models/stories260K.gguf");
        o.threads = 1;
        o.context_length = 1 << 20;  // the KV cache alone needs 1.25 GiB, the attention scratch 2 GiB more
        std::unique_ptr<Engine> engine;
        const Status st = Engine::load(o, &engine);
        std::printf("  context of 1M tokens, 512 MiB of address space: %s\n", st.message().c_str());
        CHECK(!st.is_ok() && !engine);
        CHECK_MSG(out_of_memory_message(st), st.message());
        CHECK_MSG(st.message().find("KV cache") != std::string::npos, st.message());
        CHECK_MSG(st.message().find("lower the context length") != std::string::npos, st.message());

        o.context_length = 256;
        o.levels = {"target", "mxfp4", "ngram"};
        const Status again = Engine::load(o, &engine);
        CHECK_MSG(again.is_ok(), again.message());
        if (!engine) return;
        CompletionRequest req;
        req.prompt = "Once upon a time";
        req.max_tokens = 16;
        CompletionResult r;
        CHECK(engine->complete(req, &r).is_ok());
        CHECK(r.tokens.size() == 16 && r.tokens[0] == 432);  // the same tokens as with all the memory there is
    });
    CHECK_MSG(ok, "the out-of-memory child failed (see above)");
}

// Every amount of memory between "not even the file maps" and "enough": loading the 5.5M-parameter fixture with the
// in-memory MXFP4 copy under address-space caps 512 KiB apart must either succeed or fail with an out-of-memory
// message — never terminate — and the caps must run out at each stage of the load: mapping the file, reading the
// model, the target's KV cache and buffers, the MXFP4 copy, the MXFP4 level's buffers.
void test_out_of_memory_at_every_step_of_a_load() {
    const bool ok = in_child([] {
        EngineOptions o;
        o.target = check::repo_path("test/fixtures/models/tiny-coder.gguf");
        o.threads = 1;
        o.context_length = 256;
        o.levels = {"target", "mxfp4", "ngram"};
        const char* stages[] = {"into memory", "while loading", "buffers of level \"target\"", "MXFP4 copy",
                                "buffers of level \"mxfp4\""};
        int failed_at[std::size(stages)] = {};
        const uint64_t base = address_space_in_use();
        int n_failed = 0;
        bool loaded = false;
        for (uint64_t headroom = 512 << 10; headroom <= (uint64_t{128} << 20); headroom += 512 << 10) {
            CHECK(cap_address_space(base + headroom));
            std::unique_ptr<Engine> engine;
            const Status st = Engine::load(o, &engine);
            loaded = st.is_ok();
            if (loaded) break;
            ++n_failed;
            CHECK_MSG(out_of_memory_message(st), st.message());
            for (size_t i = 0; i < std::size(stages); ++i) {
                if (st.message().find(stages[i]) == std::string::npos) continue;
                if (failed_at[i]++ == 0) {  // the first message of each stage, for the log
                    std::printf("  +%5llu KiB: %s\n", static_cast<unsigned long long>(headroom >> 10),
                                st.message().c_str());
                }
            }
        }
        CHECK(cap_address_space(0));
        std::printf("  %d capped loads failed, then one succeeded\n", n_failed);
        CHECK(loaded);
        for (size_t i = 0; i < std::size(stages); ++i) {
            CHECK_MSG(failed_at[i] > 0, std::string("no cap ran out at: ") + stages[i]);
        }
    });
    CHECK_MSG(ok, "the out-of-memory child failed (see above)");
}

}  // namespace

int main() {
    // The out-of-memory tests first: their children inherit this process's heap, and heap that earlier tests freed
    // (but the allocator keeps) would serve allocations the address-space cap is meant to refuse.
    if (kUnderSanitizer) {
        std::printf(
            "test-robustness: out-of-memory tests skipped under a sanitizer (its shadow memory needs more "
            "address space than any limit would leave)\n");
    } else {
        test_out_of_memory_for_the_context();
        test_out_of_memory_at_every_step_of_a_load();
    }
    test_truncated_while_mapped();
    test_truncated_after_copy();
    test_deleted_while_loaded();
    return check::summary("test-robustness");
}
