#include "pocket/core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "pocket/core/error.h"

namespace pocket {
namespace {

// Closes the descriptor on every path out of the constructor; the mapping outlives it.
struct FdCloser {
    int fd;
    ~FdCloser() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
    int fd = -1;
    do {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) fail("cannot open '", path.string(), "': ", std::strerror(errno));
    FdCloser closer{fd};

    struct stat st {};
    if (::fstat(fd, &st) != 0) fail("cannot stat '", path.string(), "': ", std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail("cannot map '", path.string(), "': not a regular file");
    if (st.st_size == 0) return;  // mmap rejects length 0; an empty view is all there is

    void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) fail("cannot mmap '", path.string(), "': ", std::strerror(errno));
    data_ = static_cast<const std::byte*>(p);
    size_ = static_cast<size_t>(st.st_size);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

MappedFile::~MappedFile() {
    release();
}

void MappedFile::release_pages(std::span<const std::byte> range) const noexcept {
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto base = reinterpret_cast<uintptr_t>(data_);
    const auto begin = reinterpret_cast<uintptr_t>(range.data());
    const uintptr_t end = begin + range.size();
    if (data_ == nullptr || begin < base || end > base + size_) return;
    const uintptr_t first = (begin + page - 1) / page * page;
    const uintptr_t last = end / page * page;
    // Private read-only file mapping: MADV_DONTNEED discards our view of the pages, not data.
    if (first < last) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

void MappedFile::release() noexcept {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
}

}  // namespace pocket
