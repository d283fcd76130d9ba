#include "snippet.h"

#include <vector>

#include "pocket/rag/analyzer.h"

namespace pocket::rag {
namespace {

// Whitespace is where a window may start or end without cutting a word (or a UTF-8 sequence).
size_t back_to_space(std::string_view t, size_t i) {
    while (i > 0 && t[i - 1] != ' ' && t[i - 1] != '\n' && t[i - 1] != '\t') --i;
    return i;
}
size_t forward_to_space(std::string_view t, size_t i) {
    while (i < t.size() && t[i] != ' ' && t[i] != '\n' && t[i] != '\t') ++i;
    return i;
}

}  // namespace

std::string make_snippet(std::string_view text, const std::set<std::string>& query_terms,
                         size_t max_bytes) {
    std::vector<Term> hits;
    for (auto& t : analyze(text)) {
        if (query_terms.count(t.term)) hits.push_back(std::move(t));
    }
    // The window start (at a hit) covering the most hits within max_bytes; a little context
    // before the first hit reads better than starting on it.
    size_t best_start = 0, best_count = 0;
    for (size_t i = 0, j = 0; i < hits.size(); ++i) {
        if (j < i) j = i;
        while (j < hits.size() && hits[j].end - hits[i].begin <= max_bytes) ++j;
        if (j - i > best_count) {
            best_count = j - i;
            best_start = hits[i].begin;
        }
    }
    size_t begin = best_start > max_bytes / 6 ? back_to_space(text, best_start - max_bytes / 6) : 0;
    size_t end = std::min(text.size(), begin + max_bytes);
    if (end < text.size()) end = std::max(forward_to_space(text, end), begin);
    std::string out;
    if (begin > 0) out += "...";
    size_t pos = begin;
    for (const auto& h : hits) {
        if (h.begin < begin || h.end > end) continue;
        out.append(text.substr(pos, h.begin - pos));
        out += "[[";
        out.append(text.substr(h.begin, h.end - h.begin));
        out += "]]";
        pos = h.end;
    }
    out.append(text.substr(pos, end - pos));
    if (end < text.size()) out += "...";
    // One line: runs of whitespace (line breaks included) become one space.
    std::string flat;
    for (char c : out) {
        const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
        if (!space)
            flat += c;
        else if (!flat.empty() && flat.back() != ' ')
            flat += ' ';
    }
    return flat;
}

double term_coverage(std::string_view text, const std::set<std::string>& query_terms) {
    if (query_terms.empty()) return 0;
    std::set<std::string> found;
    for (const auto& t : analyze(text)) {
        if (query_terms.count(t.term)) found.insert(t.term);
    }
    return double(found.size()) / double(query_terms.size());
}

}  // namespace pocket::rag
