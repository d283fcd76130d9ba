#include "pocket/eval/logprob_file.h"

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "pocket/core/error.h"
#include "pocket/core/fp16.h"

namespace pocket::eval {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the log-probability file is written in host order, which must be little-endian");

constexpr std::array<char, 8> kMagic = {'P', 'O', 'C', 'K', 'E', 'T', 'L', 'P'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kHeaderBytes = 40;
// Bounds that keep every size computation far from overflow and reject nonsense early.
constexpr uint32_t kMaxVocab = 1u << 24;
constexpr uint32_t kMaxCtx = 1u << 24;

uint64_t value_bytes(LogProbStorage s) {
    return s == LogProbStorage::F32 ? 4 : 2;
}

std::string describe_os_error() {
    return std::generic_category().message(errno);
}

// The header fields in file order (after the magic).
struct RawHeader {
    uint32_t version;
    uint32_t storage;
    uint32_t n_vocab;
    uint32_t n_ctx;
    uint32_t n_chunks;
    uint32_t first_scored;
    int32_t bos;
    uint32_t reserved;
};
static_assert(sizeof(RawHeader) + kMagic.size() == kHeaderBytes);

void check_header(const LogProbHeader& h, const std::string& where) {
    if (h.storage != LogProbStorage::F32 && h.storage != LogProbStorage::F16)
        throw FormatError(where, 12, "storage",
                          cat("unknown storage type ", static_cast<uint32_t>(h.storage)));
    if (h.n_vocab == 0 || h.n_vocab > kMaxVocab)
        throw FormatError(where, 16, "n_vocab", cat("n_vocab ", h.n_vocab, " out of range"));
    if (h.n_ctx < 4 || h.n_ctx > kMaxCtx)
        throw FormatError(where, 20, "n_ctx", cat("n_ctx ", h.n_ctx, " out of range"));
    if (h.n_chunks == 0 || h.n_chunks > (1u << 24))
        throw FormatError(where, 24, "n_chunks", cat("n_chunks ", h.n_chunks, " out of range"));
    if (h.first_scored >= h.n_ctx - 1)
        throw FormatError(where, 28, "first_scored",
                          cat("first scored position ", h.first_scored,
                              " leaves no position "
                              "to score in a chunk of ",
                              h.n_ctx));
    if (h.bos < kNoToken || h.bos >= static_cast<int64_t>(h.n_vocab))
        throw FormatError(where, 32, "bos", cat("BOS id ", h.bos, " not in the vocabulary"));
}

uint64_t expected_size(const LogProbHeader& h) {
    return kHeaderBytes + h.n_tokens() * sizeof(TokenId) +
           h.n_rows() * h.n_vocab * value_bytes(h.storage);
}

}  // namespace

void FileCloser::operator()(std::FILE* f) const {
    std::fclose(f);
}

LogProbWriter::LogProbWriter(std::filesystem::path path, const LogProbHeader& header,
                             std::span<const TokenId> tokens)
    : path_(std::move(path)), header_(header) {
    check_header(header_, path_.string());
    if (tokens.size() != header_.n_tokens())
        fail("log-probability file ", path_.string(), ": ", tokens.size(),
             " tokens given, the header says ", header_.n_tokens());
    file_.reset(std::fopen(path_.c_str(), "wb"));
    if (!file_) fail("cannot create ", path_.string(), ": ", describe_os_error());
    const RawHeader raw{kVersion,         static_cast<uint32_t>(header_.storage),
                        header_.n_vocab,  header_.n_ctx,
                        header_.n_chunks, header_.first_scored,
                        header_.bos,      0};
    bool ok =
        std::fwrite(kMagic.data(), 1, kMagic.size(), file_.get()) == kMagic.size() &&
        std::fwrite(&raw, sizeof raw, 1, file_.get()) == 1 &&
        std::fwrite(tokens.data(), sizeof(TokenId), tokens.size(), file_.get()) == tokens.size();
    if (!ok) {
        const std::string why = describe_os_error();
        file_.reset();  // the destructor does not run for a constructor that throws
        std::error_code ec;
        std::filesystem::remove(path_, ec);
        fail("cannot write ", path_.string(), ": ", why);
    }
}

LogProbWriter::~LogProbWriter() {
    if (!file_) return;
    // Not finished: an error interrupted the run. A partial file would only be rejected later.
    file_.reset();
    std::error_code ec;
    std::filesystem::remove(path_, ec);
}

void LogProbWriter::write_row(std::span<const float> log_probs) {
    if (!file_) fail("log-probability file ", path_.string(), " is already closed");
    if (log_probs.size() != header_.n_vocab)
        fail("log-probability row of ", log_probs.size(), " values for a vocabulary of ",
             header_.n_vocab);
    if (rows_written_ >= header_.n_rows())
        fail("log-probability file ", path_.string(), ": more rows than the header's ",
             header_.n_rows());
    bool ok = false;
    if (header_.storage == LogProbStorage::F32) {
        ok = std::fwrite(log_probs.data(), sizeof(float), log_probs.size(), file_.get()) ==
             log_probs.size();
    } else {
        half_.resize(log_probs.size());
        for (size_t i = 0; i < log_probs.size(); ++i) half_[i] = f32_to_f16(log_probs[i]);
        ok = std::fwrite(half_.data(), sizeof(uint16_t), half_.size(), file_.get()) == half_.size();
    }
    if (!ok) fail("cannot write ", path_.string(), ": ", describe_os_error());
    ++rows_written_;
}

void LogProbWriter::finish() {
    if (!file_) return;
    if (rows_written_ != header_.n_rows())
        fail("log-probability file ", path_.string(), ": ", rows_written_, " rows written, ",
             header_.n_rows(), " expected");
    const bool ok = std::fflush(file_.get()) == 0;
    std::FILE* f = file_.release();
    if (std::fclose(f) != 0 || !ok) {
        const std::string why = describe_os_error();
        std::error_code ec;
        std::filesystem::remove(path_, ec);
        fail("cannot write ", path_.string(), ": ", why);
    }
}

LogProbReader::LogProbReader(std::filesystem::path path) : path_(std::move(path)) {
    const std::string where = path_.string();
    file_.reset(std::fopen(path_.c_str(), "rb"));
    if (!file_) fail("cannot open ", where, ": ", describe_os_error());
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path_, ec);
    if (ec) fail("cannot read the size of ", where, ": ", ec.message());

    std::array<char, 8> magic{};
    RawHeader raw{};
    if (size < kHeaderBytes || std::fread(magic.data(), 1, magic.size(), file_.get()) != 8 ||
        std::fread(&raw, sizeof raw, 1, file_.get()) != 1)
        throw FormatError(where, 0, "header",
                          cat("file of ", size,
                              " bytes is too short for a pocket "
                              "log-probability header (",
                              kHeaderBytes, " bytes)"));
    if (magic != kMagic)
        throw FormatError(where, 0, "magic",
                          "not a pocket log-probability file (expected magic \"POCKETLP\"; "
                          "files from llama-perplexity --kl-divergence-base are not supported)");
    if (raw.version != kVersion)
        throw FormatError(
            where, 8, "version",
            cat("version ", raw.version, " is not supported (this build reads ", kVersion, ")"));
    header_ = {static_cast<LogProbStorage>(raw.storage),
               raw.n_vocab,
               raw.n_ctx,
               raw.n_chunks,
               raw.first_scored,
               raw.bos};
    check_header(header_, where);
    const uint64_t expected = expected_size(header_);
    if (size != expected)
        throw FormatError(
            where, std::min(size, expected), "size",
            cat("the header describes ", expected, " bytes (", header_.n_chunks, " chunks of ",
                header_.n_ctx, " tokens, vocabulary ", header_.n_vocab, ") but the file has ", size,
                size < expected ? ": truncated" : ": trailing bytes"));

    tokens_.resize(header_.n_tokens());
    if (std::fread(tokens_.data(), sizeof(TokenId), tokens_.size(), file_.get()) != tokens_.size())
        throw FormatError(where, kHeaderBytes, "tokens", "cannot read the tokens");
    for (size_t i = 0; i < tokens_.size(); ++i) {
        if (tokens_[i] < 0 || tokens_[i] >= static_cast<int64_t>(header_.n_vocab))
            throw FormatError(where, kHeaderBytes + i * sizeof(TokenId), "tokens",
                              cat("token ", tokens_[i], " at index ", i,
                                  " is outside the vocabulary of ", header_.n_vocab));
    }
}

void LogProbReader::read_row(std::span<float> out) {
    const std::string where = path_.string();
    if (out.size() != header_.n_vocab)
        fail("log-probability row buffer of ", out.size(), " values for a vocabulary of ",
             header_.n_vocab);
    const uint64_t offset = kHeaderBytes + header_.n_tokens() * sizeof(TokenId) +
                            rows_read_ * header_.n_vocab * value_bytes(header_.storage);
    if (rows_read_ >= header_.n_rows())
        throw FormatError(where, offset, "rows",
                          cat("all ", header_.n_rows(), " rows were already read"));
    bool ok = false;
    if (header_.storage == LogProbStorage::F32) {
        ok = std::fread(out.data(), sizeof(float), out.size(), file_.get()) == out.size();
    } else {
        half_.resize(out.size());
        ok = std::fread(half_.data(), sizeof(uint16_t), half_.size(), file_.get()) == half_.size();
        if (ok)
            for (size_t i = 0; i < out.size(); ++i) out[i] = f16_to_f32(half_[i]);
    }
    // The size was checked at open; a short read here means the file changed underneath us.
    if (!ok) throw FormatError(where, offset, "rows", cat("row ", rows_read_, " cannot be read"));
    ++rows_read_;
}

}  // namespace pocket::eval
