// SHA-256 against the FIPS 180-4 example vectors.
#include <gtest/gtest.h>

#include <string>

#include "pocket/core/sha256.h"

namespace pocket {
namespace {

TEST(Sha256, KnownVectors) {
    EXPECT_EQ(sha256_hex(std::string_view("")),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex(std::string_view("abc")),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(
        sha256_hex(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, ChunkingDoesNotMatter) {
    std::string text;
    for (int i = 0; i < 1000; ++i) text += static_cast<char>(i * 7);
    const std::string whole = sha256_hex(text);
    for (size_t chunk : {1u, 3u, 55u, 56u, 63u, 64u, 65u, 127u}) {
        Sha256 h;
        for (size_t at = 0; at < text.size(); at += chunk) {
            h.update(std::string_view(text).substr(at, chunk));
        }
        EXPECT_EQ(h.finish_hex(), whole) << chunk;
    }
}

}  // namespace
}  // namespace pocket
