// Bad things that happen to a loaded engine: its model file truncated or overwritten in place while mapped (which
// would otherwise raise SIGBUS and kill the editor's extension host).
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "check.h"
#include "engine/engine.h"
#include "test-util.h"

using namespace specqd;

namespace {

// An engine over a fresh copy of stories260K at dir/name, so the test may damage or delete the file.
std::unique_ptr<Engine> load_copy(const test_util::TempDir& dir, const std::string& name, int threads) {
    const std::string copy = dir.file(name);
    std::filesystem::copy_file(check::shared_path("models/stories260K.gguf"), copy);
    EngineOptions o;
    o.target = copy;
    o.threads = threads;
    o.context_length = 256;
    std::unique_ptr<Engine> engine;
    const Status st = Engine::load(o, &engine);
    CHECK_MSG(st.is_ok(), st.message());
    return engine;
}

void test_truncated_while_loaded() {
    test_util::TempDir dir;
    const std::string copy = dir.file("model.gguf");
    std::unique_ptr<Engine> engine = load_copy(dir, "model.gguf", 2);
    if (!engine) return;
    CompletionRequest req;
    req.prompt = "Once upon a time";
    req.max_tokens = 8;
    CompletionResult r;
    CHECK(engine->complete(req, &r).is_ok());

    // Another program truncates the file in place (as `cp other.gguf model.gguf` or a failed download would).
    const int fd = ::open(copy.c_str(), O_WRONLY);
    CHECK(fd >= 0);
    CHECK(::ftruncate(fd, 4096) == 0);
    ::close(fd);

    // The next request must not crash the process: it fails with a message that says what happened.
    req.prompt = "The dog";  // a new prompt, so weights are read again
    const Status st = engine->complete(req, &r);
    CHECK(!st.is_ok());
    CHECK_MSG(st.message().find("changed on disk") != std::string::npos, st.message());
    // And keeps failing clearly (the data is gone), rather than producing nonsense.
    CHECK(!engine->complete(req, &r).is_ok());

    // A fresh engine on an intact file works, in the same process.
    std::unique_ptr<Engine> fresh = load_copy(dir, "fresh.gguf", 2);
    if (fresh) {
        CompletionResult ok;
        req.prompt = "Once upon a time";
        CHECK(fresh->complete(req, &ok).is_ok());
        CHECK_EQ(ok.tokens.size(), 8u);
    }
}

void test_deleted_while_loaded() {
    // Deleting (unlinking) a mapped file is harmless: the mapping keeps the data alive.
    test_util::TempDir dir;
    std::unique_ptr<Engine> engine = load_copy(dir, "model.gguf", 1);
    if (!engine) return;
    std::filesystem::remove(dir.file("model.gguf"));
    CompletionRequest req;
    req.prompt = "Once upon a time";
    req.max_tokens = 16;
    CompletionResult r;
    CHECK(engine->complete(req, &r).is_ok());
    CHECK(r.tokens.size() == 16 && r.tokens[0] == 432);
}

}  // namespace

int main() {
    test_truncated_while_loaded();
    test_deleted_while_loaded();
    return check::summary("test-robustness");
}
