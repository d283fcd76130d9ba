#include "cli/store_options.h"

#include <charconv>
#include <cstdlib>
#include <string_view>

#include "pocket/core/error.h"

namespace pocket::cli {

rag::StoreOptions store_options(bool read_only) {
    rag::StoreOptions options{.read_only = read_only};
    constexpr const char* kVariable = "POCKET_RAG_LEXICAL_INDEX_THRESHOLD";
    if (const char* v = std::getenv(kVariable); v && *v) {
        const std::string_view text(v);
        size_t n = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec != std::errc() || end != text.data() + text.size()) {
            fail(kVariable, "=", text, ": expected a whole number of chunks");
        }
        options.lexical_index_threshold = n;
    }
    return options;
}

}  // namespace pocket::cli
