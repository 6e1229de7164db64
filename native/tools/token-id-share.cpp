// token-id-share: how much of some text a tokenizer writes with token ids at or above a few cut-offs — what a
// drafting level whose head stops at that id (EngineOptions::draft_vocab, docs/draft-vocabulary.md) can never
// propose. Reads the vocabulary from any GGUF that has one (a vocabulary-only file is enough), tokenizes each file
// on its own (no BOS, special tokens as plain text) and prints, per cut-off, the share of all tokens at or above it.
//
// usage: token-id-share VOCAB.gguf [--cuts N,N,...] FILE...      (a FILE "-" reads one path per line from stdin)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf-reader.h"
#include "tokenizer/vocab.h"

using namespace specqd;

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: token-id-share VOCAB.gguf [--cuts N,N,...] FILE...\n");
        return 2;
    }
    std::vector<int64_t> cuts = {32768, 65536, 80000, 90000, 100000, 131072};
    std::vector<std::string> files;
    for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--cuts") == 0 && i + 1 < argc) {
            cuts.clear();
            std::stringstream list(argv[++i]);
            std::string item;
            while (std::getline(list, item, ',')) cuts.push_back(std::atoll(item.c_str()));
        } else if (std::strcmp(argv[i], "-") == 0) {
            std::string line;
            while (std::getline(std::cin, line)) {
                if (!line.empty()) files.push_back(line);
            }
        } else {
            files.push_back(argv[i]);
        }
    }
    GgufFile file;
    Vocab vocab;
    Status st = file.open(argv[1]);
    if (st) st = Vocab::load(file, &vocab);
    if (!st) {
        std::fprintf(stderr, "token-id-share: %s: %s\n", argv[1], st.message().c_str());
        return 1;
    }
    int64_t total = 0;
    std::vector<int64_t> at_or_above(cuts.size(), 0);
    for (const std::string& path : files) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "token-id-share: cannot read %s\n", path.c_str());
            return 1;
        }
        std::stringstream text;
        text << in.rdbuf();
        for (int32_t id : vocab.encode(text.str(), false, false)) {
            ++total;
            for (size_t c = 0; c < cuts.size(); ++c) at_or_above[c] += id >= cuts[c];
        }
    }
    std::printf("%zu files, %lld tokens, vocabulary of %d\n", files.size(), static_cast<long long>(total),
                vocab.n_tokens());
    for (size_t c = 0; c < cuts.size(); ++c) {
        std::printf("  ids >= %7lld: %7.3f%%\n", static_cast<long long>(cuts[c]),
                    total > 0 ? 100.0 * static_cast<double>(at_or_above[c]) / static_cast<double>(total) : 0.0);
    }
    return 0;
}
