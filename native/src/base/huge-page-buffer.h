// HugePageBuffer: an owned, zero-filled block of anonymous memory aligned to 2 MiB and backed by transparent huge
// pages where the kernel offers them (Linux: MADV_HUGEPAGE; elsewhere plain pages).
//
// Why: decode reads every weight once per token, a stream of hundreds of megabytes. Read through 4 KiB pages the
// core takes a page walk every 4 KiB; read through 2 MiB pages it takes one every 2 MiB. Measured on the 2-core
// Zen 5 VM (bench-forward, Qwen2.5-Coder-0.5B shape, 1 thread): BF16 decode 27-30 tok/s from weights in such a
// buffer against 18-23 tok/s from a memory map of a freshly written file of the same bytes. A map's speed also
// depends on how the file's pages happen to sit in the page cache (a `cp` of that file decoded at 26-28), which a
// copy does not.
//
// Moving a HugePageBuffer moves ownership only: data() stays where it is, so views into it survive.
#pragma once

#include <cstdint>

#include "base/status.h"

namespace specqd {

class HugePageBuffer {
public:
    HugePageBuffer() = default;
    ~HugePageBuffer();
    HugePageBuffer(const HugePageBuffer&) = delete;
    HugePageBuffer& operator=(const HugePageBuffer&) = delete;
    HugePageBuffer(HugePageBuffer&& other) noexcept;
    HugePageBuffer& operator=(HugePageBuffer&& other) noexcept;

    // Replaces any previous block with `bytes` zero bytes (size 0: no block, null data). Fails, naming the size,
    // when the system cannot provide the memory.
    Status allocate(uint64_t bytes);
    void release();

    uint8_t* data() { return data_; }
    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }

private:
    uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    uint64_t mapping_bytes_ = 0;  // what is mapped at data_: size_ rounded up to whole pages
};

}  // namespace specqd
