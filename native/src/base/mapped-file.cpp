#include "base/mapped-file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <utility>

namespace specqd {
namespace {

// The SIGBUS guard: a fixed table of mapped ranges, read by the signal handler without locks.
constexpr int kMaxRegions = 256;
struct Region {
    std::atomic<uintptr_t> begin{0};
    std::atomic<uintptr_t> end{0};
    std::atomic<bool> damaged{false};
};
Region g_regions[kMaxRegions];
std::mutex g_regions_mutex;  // serializes registration (never taken in the handler)
struct sigaction g_previous_sigbus;
bool g_guard_installed = false;

void on_sigbus(int sig, siginfo_t* info, void* context) {
    const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
    for (Region& r : g_regions) {
        const uintptr_t begin = r.begin.load(std::memory_order_acquire);
        if (begin != 0 && addr >= begin && addr < r.end.load(std::memory_order_acquire)) {
            const uintptr_t page_size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
            const uintptr_t page = addr & ~(page_size - 1);
            // Replace the vanished page with zeros; the faulting read then runs again and succeeds.
            void* p = mmap(reinterpret_cast<void*>(page), page_size, PROT_READ,
                           MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
            if (p != MAP_FAILED) {
                r.damaged.store(true, std::memory_order_release);
                return;
            }
            break;
        }
    }
    // Not ours (or no way to recover): behave as if we were never installed.
    if (g_previous_sigbus.sa_flags & SA_SIGINFO) {
        g_previous_sigbus.sa_sigaction(sig, info, context);
    } else if (g_previous_sigbus.sa_handler != SIG_IGN && g_previous_sigbus.sa_handler != SIG_DFL) {
        g_previous_sigbus.sa_handler(sig);
    } else {
        signal(SIGBUS, SIG_DFL);
        raise(SIGBUS);
    }
}

int register_region(const uint8_t* data, uint64_t size) {
    std::lock_guard<std::mutex> lock(g_regions_mutex);
    if (!g_guard_installed) {
        struct sigaction sa {};
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, &g_previous_sigbus) != 0) return -1;
        g_guard_installed = true;
    }
    for (int i = 0; i < kMaxRegions; ++i) {
        if (g_regions[i].begin.load() == 0) {
            g_regions[i].damaged.store(false);
            g_regions[i].end.store(reinterpret_cast<uintptr_t>(data) + size, std::memory_order_release);
            g_regions[i].begin.store(reinterpret_cast<uintptr_t>(data), std::memory_order_release);
            return i;
        }
    }
    return -1;  // table full: this file is unguarded (a truncation would then crash as without the guard)
}

void unregister_region(int i) {
    if (i < 0) return;
    std::lock_guard<std::mutex> lock(g_regions_mutex);
    g_regions[i].begin.store(0, std::memory_order_release);
    g_regions[i].end.store(0, std::memory_order_release);
}

}  // namespace

MappedFile::~MappedFile() { close(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      path_(std::move(other.path_)),
      region_(std::exchange(other.region_, -1)),
      copy_(std::move(other.copy_)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        close();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        path_ = std::move(other.path_);
        region_ = std::exchange(other.region_, -1);
        copy_ = std::move(other.copy_);
    }
    return *this;
}

Status MappedFile::open(const std::string& path, FileResidency residency) {
    close();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::error("cannot open '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        return Status::error("cannot stat '" + path + "': " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return Status::error("'" + path + "' is not a regular file");
    }
    path_ = path;
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > 0 && residency == FileResidency::kCopied) {
        const Status st_copy = read_copy(fd);
        ::close(fd);
        if (!st_copy) close();
        return st_copy;
    }
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            size_ = 0;
            return Status::error("cannot map '" + path + "': " + std::strerror(err));
        }
        data_ = static_cast<const uint8_t*>(p);
        region_ = register_region(data_, size_);
    }
    ::close(fd);  // the mapping keeps the file alive
    return Status::ok();
}

Status MappedFile::read_copy(int fd) {
    SPECQD_TRY(copy_.allocate(size_).with_context("reading '" + path_ + "' into memory"));
    // Chunks of 64 MiB: one call per chunk is plenty, and a read that size never hits the per-call limits.
    constexpr uint64_t kChunk = uint64_t{64} << 20;
    for (uint64_t done = 0; done < size_;) {
        const uint64_t want = size_ - done < kChunk ? size_ - done : kChunk;
        const ssize_t n = ::pread(fd, copy_.data() + done, static_cast<size_t>(want), static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Status::error("cannot read '" + path_ + "': " + std::strerror(errno));
        if (n == 0) {
            return Status::error("'" + path_ + "' changed while it was being read (it ended at byte " +
                                 std::to_string(done) + " of " + std::to_string(size_) + ")");
        }
        done += static_cast<uint64_t>(n);
    }
    data_ = copy_.data();
    return Status::ok();
}

bool MappedFile::damaged() const {
    return region_ >= 0 && g_regions[region_].damaged.load(std::memory_order_acquire);
}

void MappedFile::close() {
    unregister_region(region_);
    region_ = -1;
    if (data_ != nullptr && copy_.data() == nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
    copy_.release();
    data_ = nullptr;
    size_ = 0;
}

}  // namespace specqd
