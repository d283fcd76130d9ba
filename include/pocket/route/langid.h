// Language identification for the router: a reader of fastText supervised models (lid.176.bin and
// the quantized lid.176.ftz) written from the published file layout, with no fastText library.
// Predictions follow `fasttext predict-prob` for a one-line text: the same tokenization
// (whitespace-separated tokens plus the end-of-line token "</s>"), the same word and character
// n-gram hashing, and the same hierarchical-softmax search (or softmax / one-vs-all output).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::route {

struct LanguageGuess {
    std::string language;  // the label without fastText's "__label__" prefix, e.g. "en"
    float probability = 0;
};

class LanguageIdentifier {
  public:
    // Reads a fastText supervised model (.bin or quantized .ftz, format versions 11 and 12).
    // Throws pocket::FormatError (file, byte offset, field) for a truncated, inconsistent or
    // unsupported file, pocket::Error when it cannot be read. Every count is checked against the
    // bytes that remain before anything is allocated, so memory stays within a few times the file
    // size whatever the header claims.
    static LanguageIdentifier load(const std::filesystem::path& path);
    // The same from a file image in memory; `origin` names it in errors.
    static LanguageIdentifier from_bytes(std::span<const std::byte> bytes,
                                         const std::string& origin);

    LanguageIdentifier(LanguageIdentifier&&) noexcept;
    LanguageIdentifier& operator=(LanguageIdentifier&&) noexcept;
    LanguageIdentifier(const LanguageIdentifier&) = delete;
    LanguageIdentifier& operator=(const LanguageIdentifier&) = delete;
    ~LanguageIdentifier();

    // The k most probable languages, most probable first. `text` is taken as one line: newlines
    // separate words like spaces (fastText itself would end the line there) and a literal "</s>"
    // is an ordinary word. As in fastText (threshold 0), languages below about 1e-5 are never
    // returned, so fewer than k can come back; k = 0 returns nothing. Any bytes are accepted
    // (invalid UTF-8 is hashed byte by byte, as fastText does). Thread-safe: const and no shared
    // scratch.
    std::vector<LanguageGuess> predict(std::string_view text, size_t k = 1) const;

    size_t language_count() const;
    // The labels in the model's order (without "__label__").
    std::span<const std::string> languages() const;
    size_t dimension() const;

    struct Model;  // the parsed file; defined in langid.cpp

  private:
    explicit LanguageIdentifier(std::unique_ptr<const Model> model);
    std::unique_ptr<const Model> model_;
};

}  // namespace pocket::route
