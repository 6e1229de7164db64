// A main() for the fuzz targets where libFuzzer is not linked (g++, or any plain build): runs the target's entry
// point once over every file named on the command line and every file inside a named folder, so the committed seeds
// and regressions run as ordinary CTest tests — under ASan+UBSan in the sanitizer build. A crash, a sanitizer report
// or a broken invariant (fuzz-check.h) aborts; otherwise it prints how many inputs ran. Naming nothing, a missing
// path or an empty folder is an error: a corpus run over no inputs would pass without testing anything.
//   fuzz-gguf native/fuzz/seeds/gguf native/fuzz/regressions/gguf crash-1234
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "test-util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

int main(int argc, char** argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    namespace fs = std::filesystem;
    std::vector<std::string> inputs;
    for (int i = 1; i < argc; ++i) {
        const fs::path arg(argv[i]);
        std::error_code ec;
        if (fs::is_directory(arg, ec)) {
            std::vector<std::string> in_dir;
            for (const auto& e : fs::directory_iterator(arg)) {
                if (e.is_regular_file()) in_dir.push_back(e.path().string());
            }
            if (in_dir.empty()) {
                std::fprintf(stderr, "%s: the folder %s holds no inputs\n", argv[0], argv[i]);
                return 1;
            }
            std::sort(in_dir.begin(), in_dir.end());
            inputs.insert(inputs.end(), in_dir.begin(), in_dir.end());
        } else if (fs::is_regular_file(arg, ec)) {
            inputs.push_back(arg.string());
        } else {
            std::fprintf(stderr, "%s: no such file or folder: %s\n", argv[0], argv[i]);
            return 1;
        }
    }
    if (inputs.empty()) {
        std::fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
        return 1;
    }
    for (const std::string& path : inputs) {
        const std::vector<uint8_t> bytes = test_util::read_file(path);
        std::fprintf(stderr, "running %s (%zu bytes)\n", path.c_str(), bytes.size());
        LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    }
    std::printf("%s: %zu inputs ran\n", argv[0], inputs.size());
    return 0;
}
