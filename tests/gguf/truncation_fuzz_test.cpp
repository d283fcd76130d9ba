// Exhaustive truncation and deterministic bit-flip fuzzing: the reader must never crash (run these
// under -DPOCKET_SANITIZE=ON too), and must reject every proper prefix of a valid file.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "pocket/core/mapped_file.h"
#include "pocket/gguf/gguf.h"
#include "support/corrupt_corpus.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using gguf::File;
using gguf::FormatError;

TEST(GgufTruncation, EveryProperPrefixOfTheSmallFileThrowsFormatError) {
    const auto bytes = small_valid_gguf();
    ASSERT_NO_THROW(File::parse(bytes, "full"));
    for (size_t n = 0; n < bytes.size(); ++n) {
        EXPECT_THROW(File::parse(std::span(bytes).first(n), "prefix"), FormatError)
            << "length " << n;
    }
}

TEST(GgufTruncation, EveryPrefixOfAStoredModelHeaderThrowsFormatError) {
    const MappedFile model(shared_path("models/stories260K.Q4_0.gguf"));
    const File full = File::open(model.path());
    // Every cut inside the metadata, tensor infos, padding and the first tensor's data.
    const size_t limit = full.data_offset() + 64;
    for (size_t n = 0; n < limit; ++n) {
        EXPECT_THROW(File::parse(model.bytes().first(n), "prefix"), FormatError) << "length " << n;
    }
}

// Parses a mutated image; returns true if it was accepted. Anything but FormatError fails the test.
bool parse_mutant(std::span<const std::byte> bytes, const std::string& what) {
    try {
        const File f = File::parse(bytes, "mutant");
        // An accepted file must be internally consistent.
        for (const auto& t : f.tensors()) {
            const auto data = f.tensor_data(t);
            EXPECT_EQ(data.size(), t.n_bytes);
            EXPECT_GE(data.data(), f.bytes().data());
            EXPECT_LE(data.data() + data.size(), f.bytes().data() + f.bytes().size());
        }
        return true;
    } catch (const FormatError&) {
        return false;
    } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": threw something other than FormatError: " << e.what();
        return false;
    }
}

void fuzz(const std::vector<std::byte>& base, size_t focus_bytes, uint64_t seed, int variants,
          int* accepted, int* rejected) {
    std::mt19937_64 rng(seed);
    for (int v = 0; v < variants; ++v) {
        auto bytes = base;
        const int flips = 1 + static_cast<int>(rng() % 4);
        std::string what = "variant " + std::to_string(v) + ":";
        for (int k = 0; k < flips; ++k) {
            // Mostly inside the header, where the structure lives.
            const size_t range = (rng() % 8 == 0) ? bytes.size() : focus_bytes;
            const size_t at = rng() % range;
            if (rng() % 4 == 0) {
                static constexpr uint8_t kInteresting[] = {0x00, 0xff, 0x80, 0x7f, 0x01, 0x40};
                bytes[at] = std::byte{kInteresting[rng() % std::size(kInteresting)]};
                what += " set@" + std::to_string(at);
            } else {
                const int bit = static_cast<int>(rng() % 8);
                bytes[at] ^= std::byte(1u << bit);
                what += " flip@" + std::to_string(at) + "." + std::to_string(bit);
            }
        }
        (parse_mutant(bytes, what) ? *accepted : *rejected) += 1;
    }
}

TEST(GgufFuzz, RandomBitFlipsOfTheSmallFileNeverCrash) {
    const auto base = small_valid_gguf();
    const size_t header = File::parse(base, "base").data_offset();
    int accepted = 0, rejected = 0;
    fuzz(base, header, 0x5eed'0001, 2000, &accepted, &rejected);
    EXPECT_EQ(accepted + rejected, 2000);
    // Sanity: flips in string bytes and tensor data are harmless, flips in counts are not.
    EXPECT_GT(accepted, 50);
    EXPECT_GT(rejected, 500);
}

TEST(GgufFuzz, RandomBitFlipsOfAStoredModelNeverCrash) {
    const MappedFile model(shared_path("models/stories260K.Q8_0.gguf"));
    const std::vector<std::byte> base(model.bytes().begin(), model.bytes().end());
    const size_t header = File::open(model.path()).data_offset();
    int accepted = 0, rejected = 0;
    fuzz(base, header, 0x5eed'0002, 300, &accepted, &rejected);
    EXPECT_EQ(accepted + rejected, 300);
    EXPECT_GT(rejected, 10);
}

TEST(GgufFuzz, EveryCorpusCaseSurvivesFurtherTruncation) {
    // Truncating already-corrupt files exercises error paths in every order.
    for (const auto& c : corrupt_corpus()) {
        for (size_t n = 0; n <= c.bytes.size(); n += 7) {
            parse_mutant(std::span(c.bytes).first(n), c.name + " cut " + std::to_string(n));
        }
    }
}

}  // namespace
}  // namespace pocket::test
