// A minimal test harness for the native test programs: CHECK macros that count failures and keep going, and a
// summary line that CTest and humans can read. Each test program's main() returns check_summary().
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace check {

inline int& failures() {
    static int n = 0;
    return n;
}
inline int& passes() {
    static int n = 0;
    return n;
}

inline void record(bool ok, const char* file, int line, const std::string& what) {
    if (ok) {
        ++passes();
    } else {
        ++failures();
        std::fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what.c_str());
    }
}

inline int summary(const char* name) {
    std::printf("%s: %d checks passed, %d failed\n", name, passes(), failures());
    return failures() == 0 ? 0 : 1;
}

// Path of a file in ../shared beside the clone (the shared fixtures), overridable with SPECQD_SHARED_DIR.
inline std::string shared_path(const std::string& rel) {
    const char* env = std::getenv("SPECQD_SHARED_DIR");
    return std::string(env ? env : SPECQD_SHARED_DIR) + "/" + rel;
}

inline std::string repo_path(const std::string& rel) { return std::string(SPECQD_REPO_DIR) + "/" + rel; }

}  // namespace check

#define CHECK(cond) ::check::record((cond), __FILE__, __LINE__, #cond)
#define CHECK_MSG(cond, msg) ::check::record((cond), __FILE__, __LINE__, std::string(#cond) + " — " + (msg))
#define CHECK_EQ(a, b)                                                                                       \
    do {                                                                                                     \
        const auto check_a_ = (a);                                                                           \
        const auto check_b_ = (b);                                                                           \
        ::check::record(check_a_ == check_b_, __FILE__, __LINE__,                                            \
                        std::string(#a " == " #b " (") + std::to_string(check_a_) + " vs " +                 \
                            std::to_string(check_b_) + ")");                                                 \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                                \
    do {                                                                                                     \
        const double check_a_ = (a), check_b_ = (b);                                                         \
        ::check::record(std::fabs(check_a_ - check_b_) <= (tol), __FILE__, __LINE__,                         \
                        std::string(#a " ~= " #b " (") + std::to_string(check_a_) + " vs " +                 \
                            std::to_string(check_b_) + ")");                                                 \
    } while (0)
