#include "gguf/gguf-writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "base/checked-math.h"

namespace specqd {
namespace {

void append_raw(std::vector<uint8_t>* out, const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    out->insert(out->end(), p, p + size);
}

template <typename T>
void append(std::vector<uint8_t>* out, T v) {
    append_raw(out, &v, sizeof v);
}

void append_string(std::vector<uint8_t>* out, const std::string& s) {
    append<uint64_t>(out, s.size());
    append_raw(out, s.data(), s.size());
}

// Encodes a value exactly as `value.type` says (the inverse of the reader's read_value).
void append_value(std::vector<uint8_t>* out, const GgufValue& value) {
    uint64_t u = 0;
    int64_t i = 0;
    double d = 0;
    bool b = false;
    value.as_u64(&u);
    value.as_i64(&i);
    value.as_f64(&d);
    value.as_bool(&b);
    switch (value.type) {
        case GgufValueType::UINT8: append<uint8_t>(out, static_cast<uint8_t>(u)); break;
        case GgufValueType::INT8: append<int8_t>(out, static_cast<int8_t>(i)); break;
        case GgufValueType::UINT16: append<uint16_t>(out, static_cast<uint16_t>(u)); break;
        case GgufValueType::INT16: append<int16_t>(out, static_cast<int16_t>(i)); break;
        case GgufValueType::UINT32: append<uint32_t>(out, static_cast<uint32_t>(u)); break;
        case GgufValueType::INT32: append<int32_t>(out, static_cast<int32_t>(i)); break;
        case GgufValueType::UINT64: append<uint64_t>(out, u); break;
        case GgufValueType::INT64: append<int64_t>(out, i); break;
        case GgufValueType::FLOAT32: append<float>(out, static_cast<float>(d)); break;
        case GgufValueType::FLOAT64: append<double>(out, d); break;
        case GgufValueType::BOOL: append<uint8_t>(out, b ? 1 : 0); break;
        case GgufValueType::STRING: append_string(out, value.as_string() ? *value.as_string() : std::string()); break;
        case GgufValueType::ARRAY: {
            const GgufArray* a = value.as_array();
            append<uint32_t>(out, static_cast<uint32_t>(a ? a->element_type : GgufValueType::UINT8));
            append<uint64_t>(out, a ? a->items.size() : 0);
            if (a) {
                for (const GgufValue& item : a->items) append_value(out, item);
            }
            break;
        }
    }
}

std::string errno_text() { return std::strerror(errno); }

// Temporary files left by a writer that was killed (SIGKILL, power loss) before commit() or abort(): every writer
// holds an exclusive flock on its temporary file for as long as it lives, and the kernel drops that lock when the
// process dies. So a "<path>.tmp-XXXXXXXX" whose lock can be taken belongs to no live writer and is removed; one
// that is locked is another run writing the same destination right now, and is left alone.
void remove_stale_temp_files(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp-";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return;
    while (const dirent* entry = ::readdir(d)) {
        const std::string name = entry->d_name;
        if (name.size() != prefix.size() + 8 || name.compare(0, prefix.size(), prefix) != 0) continue;
        if (name.find_first_not_of("0123456789abcdef", prefix.size()) != std::string::npos) continue;
        const std::string full = dir + "/" + name;
        const int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) continue;
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) ::unlink(full.c_str());
        ::close(fd);
    }
    ::closedir(d);
}

}  // namespace

GgufWriter::~GgufWriter() { abort(); }

void GgufWriter::set(const std::string& key, GgufValue value) {
    for (auto& kv : metadata_) {
        if (kv.first == key) {
            kv.second = std::move(value);
            return;
        }
    }
    metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::set_alignment(uint32_t alignment) {
    alignment_ = alignment;
    set("general.alignment", GgufValue::of_u32(alignment));
}

uint64_t GgufWriter::tensor_bytes(GgmlType type, const std::vector<uint64_t>& ne) {
    const auto traits = ggml_type_traits(static_cast<uint32_t>(type));
    if (!traits || ne.empty() || ne.size() > 4 || ne[0] % traits->block_elements != 0) return 0;
    uint64_t n = 1;
    for (uint64_t d : ne) {
        if (d == 0 || !checked_mul(n, d, &n)) return 0;
    }
    uint64_t bytes = 0;
    if (!checked_mul(n / traits->block_elements, traits->block_bytes, &bytes)) return 0;
    return bytes;
}

Status GgufWriter::add_tensor(const std::string& name, GgmlType type, const std::vector<uint64_t>& ne) {
    if (fd_ >= 0) return Status::error("gguf writer: tensors must be added before open()");
    if (name.empty() || name.size() > 63) return Status::error("tensor name '" + name + "' must be 1..63 bytes");
    for (const auto& t : tensors_) {
        if (t.name == name) return Status::error("duplicate tensor name '" + name + "'");
    }
    const uint64_t bytes = tensor_bytes(type, ne);
    if (bytes == 0) {
        return Status::error("tensor '" + name + "': shape is not whole blocks of " +
                             ggml_type_name(static_cast<uint32_t>(type)));
    }
    PendingTensor t{name, type, ne, bytes, data_size_};
    uint64_t padded = 0;
    if (!checked_align_up(bytes, alignment_, &padded) || !checked_add(data_size_, padded, &data_size_)) {
        return Status::error("tensor '" + name + "': total size overflows");
    }
    tensors_.push_back(std::move(t));
    return Status::ok();
}

Status GgufWriter::open(const std::string& path) {
    if (fd_ >= 0) return Status::error("gguf writer: already open");
    // The alignment must not change after tensors were laid out.
    path_ = path;
    // Temporary file in the destination folder so the final rename is atomic (same file system).
    remove_stale_temp_files(path);
    std::random_device rd;
    for (int attempt = 0;; ++attempt) {
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, ".tmp-%08x", static_cast<unsigned>(rd()));
        temp_path_ = path + suffix;
        fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd_ < 0) {
            const std::string err = errno_text();
            temp_path_.clear();
            return Status::error("cannot create '" + path + suffix + "': " + err);
        }
        // The lock marks the file as live for remove_stale_temp_files() in other processes. Another run's cleanup
        // may have removed the file between open and flock; then the name no longer leads to our file: try again.
        struct stat ours {}, named {};
        if (::flock(fd_, LOCK_EX | LOCK_NB) == 0 && ::fstat(fd_, &ours) == 0 &&
            ::stat(temp_path_.c_str(), &named) == 0 && ours.st_ino == named.st_ino && ours.st_dev == named.st_dev) {
            break;
        }
        ::close(fd_);
        fd_ = -1;
        if (attempt == 3) {
            temp_path_.clear();
            return Status::error("cannot create a temporary file beside '" + path + "'");
        }
    }
    written_ = 0;
    next_tensor_ = 0;

    std::vector<uint8_t> header;
    append<uint32_t>(&header, 0x46554747);  // "GGUF"
    append<uint32_t>(&header, 3);
    append<uint64_t>(&header, tensors_.size());
    append<uint64_t>(&header, metadata_.size());
    for (const auto& [key, value] : metadata_) {
        append_string(&header, key);
        append<uint32_t>(&header, static_cast<uint32_t>(value.type));
        append_value(&header, value);
    }
    for (const auto& t : tensors_) {
        append_string(&header, t.name);
        append<uint32_t>(&header, static_cast<uint32_t>(t.ne.size()));
        for (uint64_t d : t.ne) append<uint64_t>(&header, d);
        append<uint32_t>(&header, static_cast<uint32_t>(t.type));
        append<uint64_t>(&header, t.offset);
    }
    Status status = write_bytes(header.data(), header.size());
    if (status) {
        uint64_t aligned = 0;
        checked_align_up(written_, alignment_, &aligned);
        status = write_padding(aligned - written_);
    }
    if (!status) abort();
    return status;
}

Status GgufWriter::write_tensor_data(const void* data, uint64_t size) {
    if (fd_ < 0) return Status::error("gguf writer: not open");
    if (next_tensor_ >= tensors_.size()) return Status::error("gguf writer: more tensor data than tensors");
    const PendingTensor& t = tensors_[next_tensor_];
    if (size != t.n_bytes) {
        abort();
        return Status::error("tensor '" + t.name + "': got " + std::to_string(size) + " bytes, expected " +
                             std::to_string(t.n_bytes));
    }
    Status status = write_bytes(data, size);
    if (status) {
        uint64_t padded = 0;
        checked_align_up(size, alignment_, &padded);
        status = write_padding(padded - size);
    }
    if (!status) {
        abort();
        return status;
    }
    ++next_tensor_;
    return Status::ok();
}

Status GgufWriter::commit() {
    if (fd_ < 0) return Status::error("gguf writer: not open");
    if (next_tensor_ != tensors_.size()) {
        abort();
        return Status::error("gguf writer: only " + std::to_string(next_tensor_) + " of " +
                             std::to_string(tensors_.size()) + " tensors were written");
    }
    if (::fsync(fd_) != 0) {
        const std::string err = errno_text();
        abort();
        return Status::error("cannot flush '" + temp_path_ + "': " + err);
    }
    // Rename while the file is still open (and locked), so no other run takes it for a stale one meanwhile.
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
        const std::string err = errno_text();
        ::unlink(temp_path_.c_str());
        temp_path_.clear();
        ::close(fd_);
        fd_ = -1;
        return Status::error("cannot rename onto '" + path_ + "': " + err);
    }
    temp_path_.clear();
    ::close(fd_);
    fd_ = -1;
    // Make the rename itself durable: fsync the folder.
    const size_t slash = path_.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return Status::ok();
}

void GgufWriter::abort() {
    if (!temp_path_.empty()) {
        ::unlink(temp_path_.c_str());
        temp_path_.clear();
    }
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

Status GgufWriter::write_bytes(const void* data, uint64_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd_, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Status::error("cannot write '" + temp_path_ + "': " + errno_text());
        }
        p += n;
        size -= static_cast<uint64_t>(n);
        written_ += static_cast<uint64_t>(n);
    }
    return Status::ok();
}

Status GgufWriter::write_padding(uint64_t size) {
    static const uint8_t zeros[64] = {};
    while (size > 0) {
        const uint64_t n = size < sizeof zeros ? size : sizeof zeros;
        SPECQD_TRY(write_bytes(zeros, n));
        size -= n;
    }
    return Status::ok();
}

}  // namespace specqd
