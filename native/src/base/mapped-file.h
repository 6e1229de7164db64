// MappedFile: a read-only memory map of a whole file (RAII).
//
// Model weights are read in place from the map; nothing is copied. The map is private and read-only, so the engine
// can never modify a user's file.
//
// A mapped file truncated or overwritten in place by another program (`cp new.gguf model.gguf` while the editor
// runs) would make the next read of a vanished page raise SIGBUS and take the whole extension host down. So every
// MappedFile registers its range with a process-wide SIGBUS handler: a fault inside a registered range is answered
// by mapping a zero page there and marking the file damaged; the computation finishes on zeros and the engine,
// which checks damaged() after its work, reports the file as changed instead of crashing. Faults outside our
// ranges go to whatever handler was installed before ours.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace specqd {

class MappedFile {
public:
    MappedFile() = default;
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;

    // Maps `path`. An empty file maps to size 0 with a null data pointer.
    Status open(const std::string& path);
    void close();

    // True once a read found part of the file gone (see above). The data is then meaningless.
    bool damaged() const;

    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    std::string path_;
    int region_ = -1;  // slot in the SIGBUS guard's table, or -1
};

}  // namespace specqd
