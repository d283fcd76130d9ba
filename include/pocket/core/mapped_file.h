// A read-only memory mapping of a whole file. Model weights are used in place from the mapping,
// so loading a model costs no copy and the OS pages data in on demand. Move-only RAII owner.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace pocket {

class MappedFile {
  public:
    // Maps `path` read-only; throws pocket::Error naming the path and the OS error when the file
    // cannot be opened, is not a regular file, or cannot be mapped. Empty files give an empty view.
    explicit MappedFile(const std::filesystem::path& path);
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    std::span<const std::byte> bytes() const { return {data_, size_}; }
    size_t size() const { return size_; }
    const std::filesystem::path& path() const { return path_; }
    // Drops the whole pages inside `range` (a part of bytes()) from the process's resident set;
    // they are read from the file again if touched later. For data that has been copied elsewhere
    // (weights re-laid out at load time), so the copy does not count twice in memory use.
    void release_pages(std::span<const std::byte> range) const noexcept;

  private:
    void release() noexcept;

    std::filesystem::path path_;
    const std::byte* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace pocket
