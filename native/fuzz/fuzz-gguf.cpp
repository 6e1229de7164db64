// Fuzz target: arbitrary bytes as a model file, the way a user's download reaches the engine.
//
// The GGUF reader must refuse anything malformed with a Status — no crash, out-of-bounds read, leak or undefined
// behaviour, whatever the bytes. A file it accepts then goes through everything a user's file goes through: `inspect`,
// the model loader (hyperparameters, tokenizer, every tensor's shape and type), an engine with the in-memory MXFP4
// copy and the n-gram level, and short completions (plain, and fill-in-the-middle when the vocabulary has the
// tokens), all on whatever weights and vocabulary the bytes hold.
//
// Invariants checked on top of "no crash": accepted tensors lie inside the file; `inspect` succeeds on every file the
// reader accepts and calls every loadable file supported; a loadable file always gives an engine; generated ids are
// inside the vocabulary; speculative decoding gives exactly the target's tokens; an id outside the vocabulary is
// refused.
//
// Built against libFuzzer with clang (-DSPECQD_FUZZ=ON, scripts/fuzz.mjs), or with any compiler against
// standalone-driver.cpp, which runs the committed seeds and regressions once as a CTest test.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/inspect.h"
#include "fuzz-check.h"
#include "gguf/gguf-reader.h"
#include "model/model.h"

using namespace specqd;

namespace {

// The input as a file the reader can open by path (it maps files; it has no from-memory entry point): a memfd
// (Linux; the fuzz targets are built there only) rewritten for every input, so fuzzing never touches the disk.
// Everything that maps it is destroyed before the next input truncates it.
class InputFile {
public:
    InputFile() {
        fd_ = ::memfd_create("specqd-fuzz-input", MFD_CLOEXEC);
        FUZZ_CHECK(fd_ >= 0, "cannot create the input file");
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~InputFile() { ::close(fd_); }

    const std::string& write(const uint8_t* data, size_t size) {
        FUZZ_CHECK(::ftruncate(fd_, 0) == 0, "cannot truncate the input file");
        for (size_t done = 0; done < size;) {
            const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
            FUZZ_CHECK(n > 0, "cannot write the input file");
            done += static_cast<size_t>(n);
        }
        return path_;
    }

private:
    int fd_ = -1;
    std::string path_;
};

// Runs a request and checks what came back; a failed request is fine (a hostile vocabulary may encode a prompt to
// nothing, for instance), a crash or an id outside the vocabulary is not. Returns the generated ids.
std::vector<int32_t> complete_and_check(Engine& engine, const CompletionRequest& request, bool* ok) {
    CompletionResult result;
    *ok = engine.complete(request, &result).is_ok();
    const uint32_t n_vocab = engine.model().hparams.n_vocab;
    for (int32_t id : result.tokens) {
        FUZZ_CHECK(id >= 0 && static_cast<uint32_t>(id) < n_vocab, "generated id " + std::to_string(id));
    }
    return result.tokens;
}

std::unique_ptr<Engine> load_engine(const std::string& path, std::vector<std::string> levels) {
    EngineOptions options;
    options.target = path;
    options.threads = 1;
    options.context_length = 64;  // small, so that memory stays bounded by the size of the input
    options.levels = std::move(levels);
    std::unique_ptr<Engine> engine;
    const Status loaded = Engine::load(options, &engine);
    FUZZ_CHECK(loaded.is_ok(), "model_load accepts the file but Engine::load says: " + loaded.message());
    return engine;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static InputFile input;
    const std::string& path = input.write(data, size);

    // The reader: refused, or every tensor's bytes lie inside the file.
    {
        GgufFile file;
        if (!file.open(path)) return 0;
        const uint64_t data_bytes = file.file_size() - file.data_offset();  // data_offset <= size once accepted
        for (const TensorInfo& t : file.tensors()) {
            FUZZ_CHECK(
                file.data_offset() <= file.file_size() && t.offset <= data_bytes && t.n_bytes <= data_bytes - t.offset,
                "tensor '" + t.name + "' reaches past the end of the file");
        }
    }

    // `inspect` describes every readable GGUF (model-level problems go into `supported`).
    ModelInspection inspection;
    const Status inspected = inspect_model(path, &inspection);
    FUZZ_CHECK(inspected.is_ok(), inspected.message());

    // The loader: refused with a Status, or a model `inspect` agrees the engine can run.
    {
        Model model;
        if (!model_load(path, &model)) return 0;
        FUZZ_CHECK(inspection.supported, "the model loads but inspect says: " + inspection.unsupported_reason);
    }

    // The engine over it, with every level that derives from the file itself, and the target alone: whatever the
    // weights (NaN and Inf included), speculation must give exactly the target's tokens.
    const std::unique_ptr<Engine> engine = load_engine(path, {"target", "mxfp4", "ngram"});
    const std::unique_ptr<Engine> target_alone = load_engine(path, {"target"});
    CompletionRequest plain;
    plain.prompt = "def add(a, b):\n    return a + b\n\ndef add(a, b):\n    return";
    plain.max_tokens = 8;
    bool ok = false, ok_alone = false;
    const std::vector<int32_t> drafted = complete_and_check(*engine, plain, &ok);
    const std::vector<int32_t> alone = complete_and_check(*target_alone, plain, &ok_alone);
    FUZZ_CHECK(ok == ok_alone && drafted == alone, "speculative decoding changed the output");
    // Token healing over a hostile vocabulary (pieces of any bytes, odd types): exact too.
    CompletionRequest healed = plain;
    healed.heal = true;
    const std::vector<int32_t> healed_drafted = complete_and_check(*engine, healed, &ok);
    const std::vector<int32_t> healed_alone = complete_and_check(*target_alone, healed, &ok_alone);
    FUZZ_CHECK(ok == ok_alone && healed_drafted == healed_alone, "speculative decoding changed the healed output");
    if (engine->model().vocab.fim_supported()) {
        CompletionRequest fim;
        fim.fim = true;
        fim.prefix = "x = [";
        fim.suffix = "]\n";
        fim.max_tokens = 4;
        fim.heal = true;
        (void)complete_and_check(*engine, fim, &ok);
    }
    std::vector<PositionPrediction> predictions;
    const auto outside = static_cast<int32_t>(engine->model().hparams.n_vocab);
    FUZZ_CHECK(!engine->evaluate({0, outside}, &predictions).is_ok(), "an id outside the vocabulary was evaluated");
    return 0;
}
