// GgufWriter: writes a GGUF v3 file that llama.cpp reads, atomically.
//
// Usage: add metadata and tensor descriptions, then open() (which writes the header to a temporary file in the
// destination folder), then write each tensor's bytes in the order they were added (streaming: only one tensor
// needs to be in memory), then commit() which pads, fsyncs and renames over the destination. If commit() is never
// reached (error, cancellation, destruction) the temporary file is removed and the destination is untouched.
// The temporary file is "<path>.tmp-XXXXXXXX" (8 hex digits), exclusively flock()ed while the writer lives; one left
// by a killed process (no lock holder) is removed by the next open() of the same path.
//
// Layout follows ggml's reader: tensors are dense in directory order, each padded to the alignment, and the data
// section starts at the aligned end of the directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "gguf/gguf-reader.h"

namespace specqd {

class GgufWriter {
public:
    GgufWriter() = default;
    ~GgufWriter();
    GgufWriter(const GgufWriter&) = delete;
    GgufWriter& operator=(const GgufWriter&) = delete;

    // Metadata. Setting a key twice replaces the earlier value in place.
    void set(const std::string& key, GgufValue value);
    void set_alignment(uint32_t alignment);

    // Describes a tensor (shape as ne, innermost first). Fails on a shape that is not whole blocks of `type`.
    Status add_tensor(const std::string& name, GgmlType type, const std::vector<uint64_t>& ne);

    // Starts writing `path` (via a temporary file beside it).
    Status open(const std::string& path);
    // Writes the data of the next tensor; `size` must equal its byte size.
    Status write_tensor_data(const void* data, uint64_t size);
    // Finishes: every tensor must have been written. Atomically replaces `path`.
    Status commit();
    // Abandons the write and removes the temporary file (also done by the destructor).
    void abort();

    // Byte size of a tensor of this type and shape, or 0 when the shape is not whole blocks.
    static uint64_t tensor_bytes(GgmlType type, const std::vector<uint64_t>& ne);

private:
    struct PendingTensor {
        std::string name;
        GgmlType type;
        std::vector<uint64_t> ne;
        uint64_t n_bytes;
        uint64_t offset;
    };
    Status write_bytes(const void* data, uint64_t size);
    Status write_padding(uint64_t size);

    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::vector<PendingTensor> tensors_;
    uint32_t alignment_ = 32;
    uint64_t data_size_ = 0;
    size_t next_tensor_ = 0;
    int fd_ = -1;
    std::string path_;
    std::string temp_path_;
    uint64_t written_ = 0;
};

}  // namespace specqd
