// A corpus of corrupted GGUF files, each paired with the FormatError it must produce. Built from a
// small valid file whose layout is encoded here by hand (independently of pocket's Writer), so
// every corruption can be aimed at a known byte. Reusable by other test executables (e.g. the CLI
// tests run `pocket info` on each file): link corrupt_corpus.cpp and call corrupt_corpus().
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pocket/gguf/gguf.h"

namespace pocket::test {

struct CorruptCase {
    std::string name;                         // file-name friendly, unique
    std::vector<std::byte> bytes;             // the corrupted file image
    std::string expected_field;               // substring of FormatError::field()
    std::string expected_message;             // substring of what(); may be empty
    std::optional<uint64_t> expected_offset;  // FormatError::offset() when known
};

// The valid file the corpus is derived from: GGUF v3, 16 metadata entries (every scalar type, a
// string array, an int array, a nested array, general.alignment = 32), 3 tensors (F32 [4,3],
// Q8_0 [32,2], F16 [16]); the last tensor ends exactly at end of file, so every proper prefix of
// the file is invalid.
std::vector<std::byte> small_valid_gguf();
// The same file described through pocket::gguf::Writer (to_bytes() must equal small_valid_gguf()).
gguf::Writer small_valid_writer();

// At least 40 corrupted variants of small_valid_gguf().
std::vector<CorruptCase> corrupt_corpus();

// Writes <name>.gguf for every case into `dir` (created if needed) plus expected.tsv with lines
// "name<TAB>expected_field<TAB>expected_message". Returns the number of files written.
size_t write_corrupt_corpus(const std::filesystem::path& dir);

}  // namespace pocket::test
