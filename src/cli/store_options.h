// How the command line opens RAG stores: the library's defaults, with the environment variable
// POCKET_RAG_LEXICAL_INDEX_THRESHOLD overriding when lexical search switches from FTS5 to the
// impact index (evaluation and benchmarks; libpocket itself reads no environment variables).
#pragma once

#include "pocket/rag/store.h"

namespace pocket::cli {

// Throws pocket::Error when the variable is set but not a whole number.
rag::StoreOptions store_options(bool read_only);

}  // namespace pocket::cli
