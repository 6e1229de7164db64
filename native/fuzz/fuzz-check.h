// FUZZ_CHECK: an invariant of a fuzz target. A broken one prints what broke and aborts, so libFuzzer (or the
// standalone driver, under ASan in the sanitizer build) reports it like a crash and keeps the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond, detail)                                                                        \
    do {                                                                                                \
        if (!(cond)) {                                                                                  \
            std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n  %s\n", __FILE__, __LINE__, #cond, \
                         std::string(detail).c_str());                                                  \
            std::abort();                                                                               \
        }                                                                                               \
    } while (0)
