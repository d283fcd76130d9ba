// Search-hit snippets: the window of a chunk densest in query terms, matched words as [[word]].
#pragma once

#include <set>
#include <string>
#include <string_view>

namespace pocket::rag {

// query_terms are analysed terms (rag::analyze). max_bytes bounds the window (whole words kept).
std::string make_snippet(std::string_view text, const std::set<std::string>& query_terms,
                         size_t max_bytes = 240);

// The fraction of query_terms found in text (0 when query_terms is empty).
double term_coverage(std::string_view text, const std::set<std::string>& query_terms);

}  // namespace pocket::rag
