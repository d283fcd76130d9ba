// A file of a base model's log-probabilities over the scored positions of a perplexity run, the
// input of a KL-divergence comparison (what llama-perplexity's --kl-divergence-base writes, in
// pocket's own format). A quantized model is later run over the same tokens and compared
// position by position with these rows.
//
// Format, version 1, little-endian:
//
//   offset  size  field
//        0     8  magic "POCKETLP"
//        8     4  uint32 version (1)
//       12     4  uint32 storage: 0 = F32, 1 = F16 (IEEE half)
//       16     4  uint32 n_vocab
//       20     4  uint32 n_ctx          tokens per chunk
//       24     4  uint32 n_chunks
//       28     4  uint32 first_scored   first position of a chunk whose logits are scored
//       32     4  int32  bos            token that replaced each chunk's first token (-1: none)
//       36     4  uint32 reserved (0)
//       40        int32 tokens[n_chunks * n_ctx]   the evaluated text, before the BOS
//                                                   replacement
//                 rows[n_chunks * (n_ctx - 1 - first_scored)][n_vocab]   natural-log
//                 probabilities, chunk by chunk, position by position
//
// F16 (the default) halves the size; it is exact to 2^-11 relative, i.e. very precise for the
// likely tokens whose log-probabilities are near 0, which carry the KL divergence. (llama.cpp
// stores 16-bit values on a linear scale between each row's min and max instead.) A reader checks
// the magic, the version, every field's range and that the file size is exactly what the header
// says, so a foreign or truncated file fails at open with a message naming it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "pocket/core/token.h"

namespace pocket::eval {

enum class LogProbStorage : uint32_t { F32 = 0, F16 = 1 };

struct LogProbHeader {
    LogProbStorage storage = LogProbStorage::F16;
    uint32_t n_vocab = 0;
    uint32_t n_ctx = 0;
    uint32_t n_chunks = 0;
    uint32_t first_scored = 0;
    TokenId bos = kNoToken;

    uint64_t rows_per_chunk() const { return n_ctx - 1 - first_scored; }
    uint64_t n_rows() const { return rows_per_chunk() * n_chunks; }
    uint64_t n_tokens() const { return static_cast<uint64_t>(n_ctx) * n_chunks; }
};

struct FileCloser {
    void operator()(std::FILE* f) const;
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// Writes a log-probability file row by row. The file is complete only after finish(); if the
// writer is destroyed before that (an error part-way), the partial file is removed.
class LogProbWriter {
  public:
    LogProbWriter(std::filesystem::path path, const LogProbHeader& header,
                  std::span<const TokenId> tokens);
    ~LogProbWriter();
    LogProbWriter(const LogProbWriter&) = delete;
    LogProbWriter& operator=(const LogProbWriter&) = delete;

    void write_row(std::span<const float> log_probs);  // n_vocab values
    void finish();                                     // checks the row count, flushes, closes

  private:
    std::filesystem::path path_;
    LogProbHeader header_;
    FilePtr file_;
    uint64_t rows_written_ = 0;
    std::vector<uint16_t> half_;
};

// Reads a log-probability file front to back.
class LogProbReader {
  public:
    explicit LogProbReader(std::filesystem::path path);  // validates header and size

    const LogProbHeader& header() const { return header_; }
    std::span<const TokenId> tokens() const { return tokens_; }
    const std::filesystem::path& path() const { return path_; }

    // The next row, converted to F32, into `out` (n_vocab values).
    void read_row(std::span<float> out);

  private:
    std::filesystem::path path_;
    LogProbHeader header_;
    std::vector<TokenId> tokens_;
    FilePtr file_;
    uint64_t rows_read_ = 0;
    std::vector<uint16_t> half_;
};

}  // namespace pocket::eval
