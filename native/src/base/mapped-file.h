// MappedFile: the bytes of a whole file, read-only (RAII): either a memory map of it, or a copy read into a
// HugePageBuffer (FileResidency).
//
// A map reads in place and copies nothing: right for reading metadata, converting, or keeping memory low when
// several processes load the same model (they share the page cache). A copy costs one read of the file at load time
// (about 0.2-0.4 s per GB from the page cache) and the memory of its bytes per process, and decodes faster: the
// weights sit on 2 MiB pages whatever state the page cache is in (base/huge-page-buffer.h has the figures). Either
// way the file is opened read-only, so the engine can never modify a user's file.
//
// A mapped file truncated or overwritten in place by another program (`cp new.gguf model.gguf` while the editor
// runs) would make the next read of a vanished page raise SIGBUS and take the whole extension host down. So every
// MappedFile registers its range with a process-wide SIGBUS handler: a fault inside a registered range is answered
// by mapping a zero page there and marking the file damaged; the computation finishes on zeros and the engine,
// which checks damaged() after its work, reports the file as changed instead of crashing. Faults outside our
// ranges go to whatever handler was installed before ours. A copy is immune: once read, a change to the file no
// longer reaches it (a file that changes while it is being read fails the open).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/huge-page-buffer.h"
#include "base/status.h"

namespace specqd {

enum class FileResidency {
    kMapped,  // memory map (read in place)
    kCopied,  // read into a HugePageBuffer at open
};

class MappedFile {
public:
    MappedFile() = default;
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;

    // Opens `path` as `residency` says. An empty file has size 0 and a null data pointer.
    Status open(const std::string& path, FileResidency residency = FileResidency::kMapped);
    void close();

    // True once a read found part of the file gone (see above). The data is then meaningless.
    bool damaged() const;

    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    // A copy's bytes, writable: for rearranging, in this process's memory, data read from the file (the file itself
    // is never written). Null for a map.
    uint8_t* copy_data() { return copy_.data(); }
    const std::string& path() const { return path_; }

private:
    Status read_copy(int fd);

    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    std::string path_;
    int region_ = -1;  // slot in the SIGBUS guard's table, or -1
    HugePageBuffer copy_;  // kCopied: the bytes (data_ points into it)
};

}  // namespace specqd
