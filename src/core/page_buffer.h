// Page-aligned anonymous memory for large derived data (weights re-laid out at load time): mapped
// directly from the OS rather than the heap, so it is returned whole when freed, starts zeroed,
// and is offered transparent huge pages (fewer TLB misses while streaming weights). Move-only RAII
// owner.
#pragma once

#include <cstddef>

namespace pocket {

class PageBuffer {
  public:
    PageBuffer() = default;
    // Throws pocket::Error naming the size when the memory cannot be mapped.
    explicit PageBuffer(size_t size);
    PageBuffer(PageBuffer&& other) noexcept;
    PageBuffer& operator=(PageBuffer&& other) noexcept;
    PageBuffer(const PageBuffer&) = delete;
    PageBuffer& operator=(const PageBuffer&) = delete;
    ~PageBuffer();

    std::byte* data() { return data_; }
    const std::byte* data() const { return data_; }
    size_t size() const { return size_; }

  private:
    void release() noexcept;

    std::byte* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace pocket
