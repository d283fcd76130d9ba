// Format dispatch and the checks every text format shares (see extract.h).
#include "pocket/rag/extract.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "pocket/core/error.h"
#include "pocket/core/read_file.h"

namespace pocket::rag {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Source code and other plain-text formats worth searching; read as text, no structure.
constexpr std::string_view kCodeExtensions[] = {
    ".c",   ".cc",    ".cpp",   ".cxx",  ".h",   ".hh",   ".hpp",  ".hxx", ".py",    ".js",
    ".mjs", ".ts",    ".tsx",   ".jsx",  ".go",  ".rs",   ".java", ".kt",  ".swift", ".rb",
    ".php", ".cs",    ".scala", ".lua",  ".pl",  ".r",    ".m",    ".sh",  ".bash",  ".zsh",
    ".sql", ".cmake", ".toml",  ".yaml", ".yml", ".json", ".ini",  ".cfg", ".css",   ".proto"};

}  // namespace

std::optional<std::string> format_for_path(const std::filesystem::path& path) {
    const std::string ext = lower(path.extension().string());
    if (ext == ".txt" || ext == ".text" || ext == ".rst") return "txt";
    if (ext == ".md" || ext == ".markdown") return "md";
    if (ext == ".html" || ext == ".htm" || ext == ".xhtml") return "html";
    if (ext == ".pdf") return "pdf";
    if (std::find(std::begin(kCodeExtensions), std::end(kCodeExtensions), ext) !=
        std::end(kCodeExtensions))
        return "code";
    if (lower(path.filename().string()) == "cmakelists.txt" ||
        lower(path.filename().string()) == "makefile")
        return "code";
    return std::nullopt;
}

ExtractedText extract_bytes(std::string_view bytes, std::string_view format,
                            std::string_view name) {
    if (format == "pdf") return extract_pdf(bytes, name);
    if (format == "md") return extract_markdown(bytes, name);
    if (format == "html") return extract_html(bytes, name);
    if (format == "txt" || format == "code") return extract_plain(bytes, name, format);
    fail(name, ": unsupported format '", format, "'");
}

ExtractedText extract_file(const std::filesystem::path& path, std::string_view format) {
    const std::string bytes = read_file(path);
    return extract_bytes(bytes, format, path.string());
}

std::string_view strip_bom(std::string_view bytes) {
    if (bytes.starts_with("\xEF\xBB\xBF")) bytes.remove_prefix(3);
    return bytes;
}

void require_utf8_text(std::string_view bytes, std::string_view name) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const size_t n = bytes.size();
    for (size_t i = 0; i < n;) {
        const unsigned c = p[i];
        if (c == 0) fail(name, ": binary file (NUL byte at offset ", i, "), not text");
        if (c < 0x80) {
            ++i;
            continue;
        }
        // Well-formed sequences only (RFC 3629): no overlongs, surrogates or values > U+10FFFF.
        size_t len = 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        }
        bool ok = len != 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; ++k) {
            const unsigned b = p[i + k];
            ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
        }
        if (!ok)
            fail(name, ": not valid UTF-8 (byte 0x", std::hex, c, std::dec, " at offset ", i,
                 "), not a text file");
        i += len;
    }
}

}  // namespace pocket::rag
