// The committed fuzz corpus as a test: every regression file (native/fuzz/regressions/gguf/, one per known kind of
// damaged or hostile GGUF) is refused by the model loader with a message that names the problem — the words its line
// in regressions/gguf.tsv gives — and `inspect` refuses the ones the reader refuses. A regression that is a valid
// model with hostile values ("LOADS AND COMPLETES" in the .tsv) and every seed (native/fuzz/seeds/gguf/) loads into
// an engine with the MXFP4 level and completes. The files come from native/fuzz/make-fuzz-corpus.cpp; the fuzz
// targets run them too (fuzz-gguf-corpus, under ASan+UBSan in the sanitizer and libFuzzer builds).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"
#include "engine/engine.h"
#include "engine/inspect.h"
#include "model/model.h"
#include "test-engine.h"

using namespace specqd;
namespace fs = std::filesystem;

namespace {

const fs::path kFuzzDir = check::repo_path("native/fuzz");

struct Expectation {
    std::string file;
    std::string words;
};

std::vector<Expectation> read_expectations() {
    std::vector<Expectation> out;
    std::ifstream in(kFuzzDir / "regressions/gguf.tsv");
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        Expectation e;
        std::getline(fields, e.file, '\t');
        std::getline(fields, e.words, '\t');
        out.push_back(e);
    }
    return out;
}

// Loads `path` into an engine with every level derived from the file, and completes a short prompt.
void check_loads_and_completes(const std::string& path) {
    EngineOptions options;
    options.target = path;
    options.threads = 1;
    options.context_length = 64;
    options.levels = {"target", "mxfp4", "ngram"};
    const std::unique_ptr<Engine> engine = test_engine::load(options);
    if (!engine) return;
    const CompletionResult result = test_engine::complete(*engine, "def add(a, b):\n    return a", 8);
    CHECK_MSG(!result.tokens.empty(), path + " generated nothing");
}

void test_regressions() {
    const std::vector<Expectation> expected = read_expectations();
    CHECK_MSG(expected.size() >= 40, "regressions/gguf.tsv lists " + std::to_string(expected.size()) + " files");
    std::set<std::string> listed;
    for (const Expectation& e : expected) {
        listed.insert(e.file);
        const std::string path = (kFuzzDir / "regressions/gguf" / e.file).string();
        CHECK_MSG(fs::is_regular_file(path), path + " is missing");
        if (e.words == "LOADS AND COMPLETES") {
            std::printf("  %-38s loads and completes\n", e.file.c_str());
            check_loads_and_completes(path);
            continue;
        }
        Model model;
        const Status st = model_load(path, &model);
        // The message, without the "'<path>': " every loader error starts with, so the log shows each refusal.
        const std::string prefix = "'" + path + "': ";
        const std::string shown = st.message().starts_with(prefix) ? st.message().substr(prefix.size()) : st.message();
        std::printf("  %-38s %s\n", e.file.c_str(), st.is_ok() ? "ACCEPTED" : shown.c_str());
        CHECK_MSG(!st.is_ok(), e.file + " was accepted");
        CHECK_MSG(st.message().find(e.words) != std::string::npos,
                  e.file + ": '" + st.message() + "' does not say '" + e.words + "'");
        // `inspect` fails exactly on files the reader refuses; on the others it reports what it can.
        GgufFile file;
        const bool readable = file.open(path).is_ok();
        ModelInspection inspection;
        CHECK_MSG(inspect_model(path, &inspection).is_ok() == readable, e.file + ": inspect disagrees with the reader");
    }
    // Every file in the folder has an expectation: none is there only to "not crash".
    for (const auto& entry : fs::directory_iterator(kFuzzDir / "regressions/gguf")) {
        CHECK_MSG(listed.count(entry.path().filename().string()) == 1,
                  entry.path().string() + " has no line in regressions/gguf.tsv");
    }
}

void test_seeds_load_and_complete() {
    size_t n_seeds = 0;
    for (const auto& entry : fs::directory_iterator(kFuzzDir / "seeds/gguf")) {
        ++n_seeds;
        check_loads_and_completes(entry.path().string());
    }
    CHECK_EQ(n_seeds, 5u);
}

}  // namespace

int main() {
    test_regressions();
    test_seeds_load_and_complete();
    return check::summary("test-gguf-regressions");
}
