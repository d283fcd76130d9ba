// SHA-256 (FIPS 180-4), used to check reference files and to fingerprint metadata in tests.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pocket {

class Sha256 {
  public:
    Sha256();
    void update(std::span<const std::byte> data);
    void update(std::string_view data);
    std::array<uint8_t, 32> finish();  // the object must not be updated afterwards
    std::string finish_hex();          // lower-case hex digest

  private:
    void compress(const uint8_t* block);

    std::array<uint32_t, 8> state_;
    std::array<uint8_t, 64> buffer_{};
    size_t buffered_ = 0;
    uint64_t total_bytes_ = 0;
};

std::string sha256_hex(std::span<const std::byte> data);
std::string sha256_hex(std::string_view data);

}  // namespace pocket
