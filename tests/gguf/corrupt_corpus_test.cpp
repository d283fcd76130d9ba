// The corrupted-file corpus: every variant must be rejected with the FormatError it was built to
// trigger (field, message and absolute offset), both from memory and through the mmap path.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include "pocket/gguf/gguf.h"
#include "support/corrupt_corpus.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using gguf::File;
using gguf::FormatError;

void expect_rejected(const CorruptCase& c, const std::function<File()>& parse,
                     const std::string& file_name) {
    try {
        parse();
        ADD_FAILURE() << c.name << ": parsed without error";
    } catch (const FormatError& e) {
        EXPECT_NE(e.field().find(c.expected_field), std::string::npos)
            << c.name << ": field '" << e.field() << "' lacks '" << c.expected_field
            << "'; error: " << e.what();
        EXPECT_NE(std::string(e.what()).find(c.expected_message), std::string::npos)
            << c.name << ": message lacks '" << c.expected_message << "'; error: " << e.what();
        if (c.expected_offset) {
            EXPECT_EQ(e.offset(), *c.expected_offset) << c.name << ": " << e.what();
        }
        EXPECT_EQ(e.file(), file_name);
        // The message format "FILE: offset N (FIELD): ..." that front ends print.
        const std::string prefix =
            file_name + ": offset " + std::to_string(e.offset()) + " (" + e.field() + "): ";
        EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << c.name << ": threw something other than FormatError: " << e.what();
    }
}

TEST(GgufCorpus, BaseFileIsValidAndIsWhatTheWriterProduces) {
    const auto bytes = small_valid_gguf();
    const File f = File::parse(bytes, "small.gguf");
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.metadata().size(), 16u);
    ASSERT_EQ(f.tensors().size(), 3u);
    EXPECT_EQ(f.file_size(), bytes.size());
    EXPECT_EQ(f.data_offset() + 192, bytes.size());  // 48 (+16 pad) + 68 (+28 pad) + 32
    EXPECT_EQ(f.get_uint("test.u32"), 4000000000u);
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    // The writer's layout must equal the hand-encoded one, byte for byte.
    EXPECT_EQ(small_valid_writer().to_bytes(), bytes);
}

TEST(GgufCorpus, HasAtLeastFortyUniquelyNamedCases) {
    const auto cases = corrupt_corpus();
    EXPECT_GE(cases.size(), 40u);
    std::set<std::string> names;
    for (const auto& c : cases) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

TEST(GgufCorpus, EveryCaseThrowsTheExpectedFormatError) {
    for (const auto& c : corrupt_corpus()) {
        const std::string name = "corpus/" + c.name + ".gguf";
        expect_rejected(
            c, [&] { return File::parse(c.bytes, name); }, name);
    }
}

TEST(GgufCorpus, WrittenFilesAreRejectedThroughTheMmapPath) {
    ScratchDir dir;
    const size_t written = write_corrupt_corpus(dir.path());
    const auto cases = corrupt_corpus();
    EXPECT_EQ(written, cases.size());
    for (const auto& c : cases) {
        const auto path = dir / (c.name + ".gguf");
        expect_rejected(
            c, [&] { return File::open(path); }, path.string());
    }
    // The index the CLI tests read: one line per case.
    std::ifstream index(dir / "expected.tsv");
    size_t lines = 0;
    for (std::string line; std::getline(index, line);) ++lines;
    EXPECT_EQ(lines, cases.size());

    // For the CLI tests (`pocket info` on every file): POCKET_WRITE_CORRUPT_CORPUS=DIR.
    if (const char* out = std::getenv("POCKET_WRITE_CORRUPT_CORPUS"); out && *out) {
        EXPECT_EQ(write_corrupt_corpus(out), cases.size());
    }
}

}  // namespace
}  // namespace pocket::test
