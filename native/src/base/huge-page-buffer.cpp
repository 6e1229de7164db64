#include "base/huge-page-buffer.h"

#include <sys/mman.h>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace specqd {
namespace {

constexpr uint64_t kHugePageBytes = uint64_t{2} << 20;

uint64_t round_up(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

std::string size_text(uint64_t bytes) {
    char text[32];
    if (bytes >= (uint64_t{1} << 30)) {
        std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
    } else if (bytes >= (uint64_t{1} << 20)) {
        std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
    } else {
        std::snprintf(text, sizeof text, "%llu bytes", static_cast<unsigned long long>(bytes));
    }
    return text;
}

}  // namespace

HugePageBuffer::~HugePageBuffer() { release(); }

HugePageBuffer::HugePageBuffer(HugePageBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapping_bytes_(std::exchange(other.mapping_bytes_, 0)) {}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& other) noexcept {
    if (this != &other) {
        release();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        mapping_bytes_ = std::exchange(other.mapping_bytes_, 0);
    }
    return *this;
}

Status HugePageBuffer::allocate(uint64_t bytes) {
    release();
    if (bytes == 0) return Status::ok();
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    if (bytes > (uint64_t{1} << 62)) return Status::error("cannot allocate " + size_text(bytes));
    // Below one huge page there is nothing to gain: plain pages.
    const bool huge = bytes >= kHugePageBytes;
    const uint64_t length = round_up(bytes, huge ? kHugePageBytes : page);
    // A huge page maps only 2 MiB-aligned memory. Linux (6.7+) places large anonymous maps on such a boundary by
    // itself; where it did not, map one huge page more than needed and unmap the slack before and after the
    // aligned block.
    const int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;
    void* p = ::mmap(nullptr, length, prot, flags, -1, 0);
    uint64_t reserve = length;
    if (p != MAP_FAILED && huge && reinterpret_cast<uintptr_t>(p) % kHugePageBytes != 0) {
        ::munmap(p, length);
        reserve = length + kHugePageBytes;
        p = ::mmap(nullptr, reserve, prot, flags, -1, 0);
    }
    if (p == MAP_FAILED) return Status::error("cannot allocate " + size_text(bytes) + ": " + std::strerror(errno));
    auto* start = static_cast<uint8_t*>(p);
    auto* aligned = start;
    if (huge) {
        aligned = reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<uintptr_t>(start), kHugePageBytes));
        if (aligned > start) ::munmap(start, static_cast<size_t>(aligned - start));
        const uint64_t after = reserve - static_cast<uint64_t>(aligned - start) - length;
        if (after > 0) ::munmap(aligned + length, after);
#ifdef MADV_HUGEPAGE
        // Advice only: with transparent huge pages off ("never") the block is plain pages and works the same.
        ::madvise(aligned, length, MADV_HUGEPAGE);
#endif
    }
    data_ = aligned;
    size_ = bytes;
    mapping_bytes_ = length;
    return Status::ok();
}

void HugePageBuffer::release() {
    if (data_ != nullptr) ::munmap(data_, mapping_bytes_);
    data_ = nullptr;
    size_ = 0;
    mapping_bytes_ = 0;
}

}  // namespace specqd
