// Text extraction for the RAG indexer: a file's bytes in, its plain text out, with the structure
// the chunker needs (headings with their levels, PDF page starts) as byte offsets into that text.
// One source file per format (src/rag/extract_*.cpp); extract_file() picks by file extension.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::rag {

// A heading of the document: its line starts at `offset` in the extracted text.
struct Heading {
    int64_t offset = 0;
    int level = 1;  // 1 = top level (h1, "#")
    std::string text;
};

struct ExtractedText {
    std::string text;                  // UTF-8, paragraphs separated by blank lines
    std::string format;                // "txt", "md", "html", "pdf", "code"
    std::string title;                 // first heading, <title>, PDF title; empty when none
    std::vector<Heading> headings;     // sorted by offset
    std::vector<int64_t> page_starts;  // PDF: byte offset where page i+1 starts; empty otherwise
};

// The format extract_file() would use for `path` ("txt", "md", "html", "pdf", "code"), by its
// extension (case-insensitive); nullopt for files the indexer does not read.
std::optional<std::string> format_for_path(const std::filesystem::path& path);

// Reads and extracts `path` as `format`. Throws pocket::Error naming the file and the reason when
// it cannot be read or is not what its extension says (binary data in a text format, a truncated
// or encrypted PDF).
ExtractedText extract_file(const std::filesystem::path& path, std::string_view format);
// The same on bytes already read; `name` only labels errors.
ExtractedText extract_bytes(std::string_view bytes, std::string_view format, std::string_view name);

// Per-format extractors (extract_bytes dispatches to these).
ExtractedText extract_plain(std::string_view bytes, std::string_view name,
                            std::string_view format);  // .txt and source code: as is
ExtractedText extract_markdown(std::string_view bytes, std::string_view name);
ExtractedText extract_html(std::string_view bytes, std::string_view name);
ExtractedText extract_pdf(std::string_view bytes, std::string_view name);

// Throws pocket::Error unless `bytes` is text: no NUL byte, valid UTF-8 (offset of the first bad
// byte in the message). Text formats call it before anything else.
void require_utf8_text(std::string_view bytes, std::string_view name);
// `bytes` without a leading UTF-8 byte-order mark.
std::string_view strip_bom(std::string_view bytes);

}  // namespace pocket::rag
