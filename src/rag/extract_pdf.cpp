// PDF text through poppler-cpp, one page after another; page i+1 starts at page_starts[i], so a
// chunk knows its page. A file that is cut short (no %%EOF near its end), that poppler cannot
// open, or that is encrypted is refused: indexing half a document would look complete.
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include "pocket/core/error.h"
#include "pocket/rag/extract.h"

namespace pocket::rag {
namespace {

// Poppler prints recoverable syntax errors to stderr; the indexer reports files itself.
void quiet_poppler() {
    static std::once_flag once;
    std::call_once(
        once, [] { poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr); });
}

std::string utf8(const poppler::ustring& s) {
    const auto bytes = s.to_utf8();
    return std::string(bytes.begin(), bytes.end());
}

// Page text with CRs and form feeds turned into line ends, trailing blanks trimmed.
std::string clean_page_text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
        if (c == '\r' || c == '\f') c = '\n';
        if (c == '\0') continue;
        out += c;
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

}  // namespace

ExtractedText extract_pdf(std::string_view bytes, std::string_view name) {
    quiet_poppler();
    if (!bytes.starts_with("%PDF-")) fail(name, ": not a PDF file (no %PDF- header)");
    // The spec puts %%EOF on the last line; readers accept it within the last 1024 bytes.
    const std::string_view tail = bytes.substr(bytes.size() > 1024 ? bytes.size() - 1024 : 0);
    if (tail.find("%%EOF") == std::string_view::npos)
        fail(name, ": truncated PDF (no %%EOF marker at the end of the file)");
    if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
        fail(name, ": PDF larger than 2 GiB");

    std::unique_ptr<poppler::document> doc(
        poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
    if (!doc) fail(name, ": damaged PDF (poppler could not open it)");
    if (doc->is_locked()) fail(name, ": encrypted PDF (password protected)");

    ExtractedText out;
    out.format = "pdf";
    out.title = utf8(doc->get_title());
    const int n = doc->pages();
    for (int i = 0; i < n; ++i) {
        if (!out.text.empty()) out.text += "\n\n";  // pages are paragraph breaks too
        out.page_starts.push_back(static_cast<int64_t>(out.text.size()));
        std::unique_ptr<poppler::page> page(doc->create_page(i));
        if (page) out.text += clean_page_text(utf8(page->text()));
    }
    // Poppler's text is UTF-8 by construction; check anyway so stored chunks are always valid.
    require_utf8_text(out.text, name);
    return out;
}

}  // namespace pocket::rag
